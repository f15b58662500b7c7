"""The regression scenario as a plain locustfile: `locust -f locustfiles/regression.py --host ws://HOST:PORT/`."""

from rtcload.loadgen.scenarios.regression import *  # noqa: F403
