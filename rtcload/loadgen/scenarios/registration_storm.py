"""registration_storm: register/unregister cycles at the think-time rate, no calls (use --rtc-media none)."""

from rtcload.loadgen.user import RegistrationUser


class StormUser(RegistrationUser):
    pass
