"""The inbound_agents scenario as a plain locustfile: `locust -f locustfiles/inbound_agents.py --host ws://HOST:PORT/`."""

from rtcload.loadgen.scenarios.inbound_agents import *  # noqa: F403
