"""What a scored call heard: its decoded audio laid out on the sender's timeline, as a receiver plays it.

Why a playout model and not just the decoded frames in arrival order: concatenating what arrived would
hide loss (the gaps close up) and jitter (late packets still play). Here each decoded frame lands at its
RTP timestamp's place; a lost packet leaves silence there (no concealment: what a receiver without PLC
plays). Late packets are judged like an adaptive jitter buffer (simplified from WebRTC's NetEq): over the
last 2 s of packets, a packet's relative delay is its transit minus the fastest transit; the buffer's
depth is the 95th percentile of those (at least `PLAYOUT_MIN_S`, at most `PLAYOUT_MAX_S`), and a packet
later than that is discarded as late. So jitter costs what it costs a real receiver: a few percent of
packets, more when it bursts. The capture is bounded (`max_seconds`) and both `slot` and `write` run in
the decode thread (rtcload/media/engine/decode.py); the loop reads the capture once, after the call.
"""

from __future__ import annotations

import collections

import numpy as np

PLAYOUT_MIN_S = 0.040  # the modelled listener's jitter buffer: never shallower than this ...
PLAYOUT_MAX_S = 0.250  # ... nor deeper
WINDOW_PACKETS = 100  # 2 s of 20 ms packets: what the buffer depth adapts to
DEFAULT_MAX_SECONDS = 12.0
SKIP_SECONDS = 1.0  # the first second is not kept: ICE/DTLS settle, the far end's first talkspurt starts


class PcmCapture:
    """A bounded PCM buffer for one call; `slot()` on the loop, `write()` in the decode thread."""

    def __init__(self, clock_rate: int, max_seconds: float = DEFAULT_MAX_SECONDS) -> None:
        self.clock_rate = clock_rate
        self.max_seconds = max_seconds
        self.rate = 0  # the decoder's output rate, known at the first frame
        self.pcm: np.ndarray | None = None
        self.frames = 0  # frames written
        self.late = 0  # packets discarded as later than the playout buffer
        self.end = 0  # highest sample index written + 1
        self._first_ts: int | None = None
        self._transits: collections.deque[float] = collections.deque(maxlen=WINDOW_PACKETS)
        self._last_ts = 0
        self._unwrap = 0

    def slot(self, timestamp: int, arrival: float) -> int | None:
        """Per received packet, in arrival order: the packet's place in RTP clock units from the call's
        first kept packet, or None (before the kept window, too late for the playout buffer, or past the end)."""
        if self._first_ts is None:
            self._first_ts = timestamp
            self._last_ts = timestamp
        elif timestamp - self._last_ts < -(1 << 31):  # 32-bit timestamp wrapped
            self._unwrap += 1 << 32
        elif timestamp - self._last_ts > 1 << 31:  # a reordered packet from before a wrap
            return None
        self._last_ts = timestamp
        units = timestamp + self._unwrap - self._first_ts
        transit = arrival - units / self.clock_rate
        window = self._transits
        late = False
        if window:
            base = min(window)
            relative = sorted(t - base for t in window)
            depth = min(PLAYOUT_MAX_S, max(PLAYOUT_MIN_S, relative[int(0.95 * (len(relative) - 1))]))
            late = transit - base > depth
        window.append(transit)
        if late:
            self.late += 1
            return None
        units -= int(SKIP_SECONDS * self.clock_rate)
        if units < 0 or units >= self.max_seconds * self.clock_rate:
            return None
        return units

    def write(self, slot: int, samples: np.ndarray, rate: int) -> None:
        """In the decode thread: one decoded frame (mono float or int16) at `slot` clock units."""
        if self.pcm is None:
            self.rate = rate
            self.pcm = np.zeros(int(self.max_seconds * rate), dtype=np.float32)
        if rate != self.rate:
            return
        start = slot * rate // self.clock_rate
        data = np.asarray(samples)
        if data.dtype == np.int16:
            data = data.astype(np.float32) / 32768.0
        stop = min(start + data.size, self.pcm.size)
        if stop <= start:
            return
        self.pcm[start:stop] = data[: stop - start]
        self.end = max(self.end, stop)
        self.frames += 1

    def audio(self, heard_s: float | None = None) -> tuple[np.ndarray, int]:
        """What was heard (float32 in [-1, 1]) and its rate. `heard_s`: how long the call's media lasted
        after the skipped start; silence that never arrived is filled in up to it (bounded by the capture),
        so a call that went quiet (one-way, cut media) is scored as the silence its caller heard."""
        rate = self.rate or self.clock_rate
        end = self.end
        if heard_s is not None:
            end = max(end, min(int(heard_s * rate), int(self.max_seconds * rate)))
        if self.pcm is None:
            return np.zeros(end, dtype=np.float32), rate
        return self.pcm[:end].copy(), rate
