"""rtcload.signaling."""
