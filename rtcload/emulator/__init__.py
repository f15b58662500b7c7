"""rtcload.emulator."""
