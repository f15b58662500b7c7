"""rtcload.netem."""
