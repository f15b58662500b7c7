"""rtcload.quality."""
