"""Objective audio scores of received calls (issue 24): pure functions on PCM arrays, no I/O, no loop.

`score_call` aligns what a call received with what was sent and rates it with ViSQOL v3 speech mode
(MOS-LQO, method `visqol-speech`) when the reference is known, or with PLCMOS v2 (no reference, method
`plcmos`) when it is not. The scorers come from the optional extra `rtcload[audio]` (availability.py);
the worker pool that runs them off the media loop is rtcload/loadgen/audio_pool.py. No score here is
POLQA or PESQ, and none is called so.
"""

from rtcload.quality.audio_score.availability import EXTRA_HINT, missing_modules
from rtcload.quality.audio_score.score import AudioScore, score_call

__all__ = ["EXTRA_HINT", "AudioScore", "missing_modules", "score_call"]
