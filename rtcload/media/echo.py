"""A track that sends back whatever the analyzer hands it (the emulator's echo mode).

Fed from the single consumer of the remote track, so echoing costs no second decode; timestamps
are re-stamped to a continuous timeline because received frames carry the far end's pts.
"""

from __future__ import annotations

import asyncio
import fractions

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack


class EchoTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, max_frames: int = 10) -> None:
        super().__init__()
        self._queue: asyncio.Queue[av.AudioFrame] = asyncio.Queue(maxsize=max_frames)
        self._pts = 0

    def push(self, frame: av.AudioFrame) -> None:
        """Queue a received frame for sending; drop the oldest when the sender lags."""
        if self._queue.full():
            self._queue.get_nowait()
        self._queue.put_nowait(frame)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        frame = await self._queue.get()
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, frame.sample_rate)
        self._pts += frame.samples
        return frame
