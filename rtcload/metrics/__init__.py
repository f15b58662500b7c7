"""rtcload.metrics."""
