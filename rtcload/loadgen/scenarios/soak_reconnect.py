"""soak_reconnect: long calls held for hours while sockets drop; reconnect and reattach are measured.

Pair it with emulator faults (drop sockets, half-open) or a network-flapping target.
"""

from rtcload.loadgen.user import CallerUser


class SoakCaller(CallerUser):
    pass
