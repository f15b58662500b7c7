"""smoke (default): a few users calling the echo service; proves the whole path works."""

from rtcload.loadgen.user import CallerUser


class SmokeCaller(CallerUser):
    pass
