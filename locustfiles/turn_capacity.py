"""The turn_capacity scenario as a plain locustfile: `locust -f locustfiles/turn_capacity.py --host ws://HOST:PORT/`."""

from rtcload.loadgen.scenarios.turn_capacity import *  # noqa: F403
