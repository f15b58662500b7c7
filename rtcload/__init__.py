"""rtcload: load tester and synthetic call traffic generator for Telnyx-Verto WebRTC platforms."""

__version__ = "0.1.0"
