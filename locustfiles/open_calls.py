"""open_calls as a plain locustfile: `locust -f locustfiles/open_calls.py --host ws://HOST:PORT/ --rtc-cps 20`."""

from rtcload.loadgen.scenarios.open_calls import *  # noqa: F403
