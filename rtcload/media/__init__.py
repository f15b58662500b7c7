"""rtcload.media."""
