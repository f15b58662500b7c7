"""rtcload.loadgen."""
