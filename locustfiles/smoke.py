"""The smoke scenario as a plain locustfile: `locust -f locustfiles/smoke.py --host ws://HOST:PORT/`."""

from rtcload.loadgen.scenarios.smoke import *  # noqa: F403
