"""The registration_storm scenario as a plain locustfile: `locust -f locustfiles/registration_storm.py --host ws://HOST:PORT/`."""

from rtcload.loadgen.scenarios.registration_storm import *  # noqa: F403
