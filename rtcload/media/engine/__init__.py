"""One media engine per event loop: every call's RTP/RTCP on one 20 ms clock, no per-call task or thread.

aiortc still negotiates (SDP, ICE with consent freshness, DTLS); once DTLS is up the engine takes the
call's SRTP sessions and selected ICE pair (takeover.py) and sends/receives itself (engine.py,
stream.py); its per-packet path runs in C when the `_native` extension is built (native.py, `native_path()`).
The sans-I/O wire formats live beside it (rtp.py, rtcp.py, receive_stats.py, dtmf.py).
"""


def native_path() -> str:
    """'native' when the engine's per-packet path runs in C (the `_native` extension), else 'python'."""
    from rtcload.media.engine.native import native_path as path

    return path()
