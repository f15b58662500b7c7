"""The capacity scenario as a plain locustfile: `locust -f locustfiles/capacity.py --host ws://HOST:PORT/`."""

from rtcload.loadgen.scenarios.capacity import *  # noqa: F403
