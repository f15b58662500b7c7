"""regression: a fixed load for a fixed time, for CI gates (compare against a baseline)."""

from rtcload.loadgen.user import CallerUser


class RegressionCaller(CallerUser):
    pass
