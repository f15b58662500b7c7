"""Ready scenarios; each module is a locustfile (`locust -f $(rtcload-scenario smoke)` or `rtcload run`)."""

SCENARIOS = (
    "smoke",
    "capacity",
    "regression",
    "soak_reconnect",
    "inbound_agents",
    "registration_storm",
    "turn_capacity",
    "open_calls",
)
