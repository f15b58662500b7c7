"""The soak_reconnect scenario as a plain locustfile: `locust -f locustfiles/soak_reconnect.py --host ws://HOST:PORT/`."""

from rtcload.loadgen.scenarios.soak_reconnect import *  # noqa: F403
