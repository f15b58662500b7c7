"""Why a signaling connection ended, in words: the failure, how the socket closed (who sent which
close code and reason), and the unusable frames the server sent before.

Apart from the session's lifecycle because this is what a user reads when a run fails ("the server
closed the socket with code 1008 'no login in time'"): the session records, this module words it.
"""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection


class LossReport:
    """What went wrong on the current socket; reset when a new socket opens."""

    def __init__(self, max_frame_bytes: int) -> None:
        self.max_frame_bytes = max_frame_bytes
        self.bad_frames = 0  # unusable frames from the server on this socket, and the last one's problem
        self.last_bad_frame: str | None = None
        self.close_note: str | None = None  # how the last socket closed, in words

    def reset(self) -> None:
        self.bad_frames, self.last_bad_frame, self.close_note = 0, None, None

    def bad_frame(self, problem: str) -> None:
        self.bad_frames += 1
        self.last_bad_frame = problem

    def closed(self, ws: ClientConnection) -> None:
        """Say who closed the socket and why, for the error that ends the session."""
        sent, rcvd = ws.protocol.close_sent, ws.protocol.close_rcvd
        if sent is not None and sent.code == 1009 and not ws.protocol.close_rcvd_then_sent:
            self.close_note = (
                f"the server sent a frame larger than max_frame_bytes ({self.max_frame_bytes}); "
                "we closed the socket with 1009"
            )
        elif rcvd is not None and (sent is None or ws.protocol.close_rcvd_then_sent):
            reason = f" {rcvd.reason!r}" if rcvd.reason else ""
            self.close_note = f"the server closed the socket with code {rcvd.code}{reason}"
        elif rcvd is None and sent is None:
            self.close_note = "the connection dropped without a close frame"

    def describe(self, problem: str) -> str:
        """What ended the connection, in words: the failure, how the socket closed, what the server sent."""
        parts = [problem]
        if self.close_note and self.close_note not in problem:
            parts.append(self.close_note)
        if self.bad_frames:
            parts.append(f"the server sent {self.bad_frames} unusable frame(s), last: {self.last_bad_frame}")
        return "; ".join(parts)
