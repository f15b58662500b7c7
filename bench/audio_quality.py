"""The audio score beside the E-model MOS, call by call, as the impairment grows (docs/quality.md table).

Real calls (tests/audio_harness.py): the emulator on the engine path behind the impairment relay, a client
sending the speech source and capturing what it decodes (10 s after the first second), scored by the real
worker pool. Conditions: clean; 3 % and 10 % random loss; 20 and 60 ms jitter (normal sd, FIFO); a
transcoded PCMU leg (the far
party on PCMU through the emulator's relay, the caller on Opus, scored against the wideband reference:
what the caller hears is narrowband); PCMU end to end (scored against the narrowband reference); a one-way
call. A wrong and a garbled prompt show the case the feature exists for. Calls run two at a time.

    python bench/audio_quality.py
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests.audio_harness

from rtcload.netem.impairment import Impairment
from rtcload.quality.audio_score.pool import AudioScorePool
from tests.audio_harness import ScoredCall, scored_call

CAPTURE_S = 10.0


def conditions(pool: AudioScorePool) -> list:
    c = CAPTURE_S
    return [
        scored_call(pool, "clean (Opus echo)", capture_s=c),
        scored_call(pool, "3 % loss", down=Impairment(loss=0.03, seed=5), capture_s=c),
        scored_call(pool, "10 % loss", down=Impairment(loss=0.10, seed=5), capture_s=c),
        scored_call(pool, "20 ms jitter", down=Impairment(delay_s=0.06, jitter_s=0.02, seed=5), capture_s=c),
        scored_call(pool, "60 ms jitter", down=Impairment(delay_s=0.06, jitter_s=0.06, seed=5), capture_s=c),
        scored_call(pool, "transcoded PCMU leg (far party on PCMU)", callee_codec="pcmu", capture_s=c),
        scored_call(pool, "PCMU end to end (narrowband reference)", codec="pcmu", capture_s=c),
        scored_call(pool, "one-way (platform sends nothing)", "oneway", capture_s=c),
        scored_call(pool, "wrong prompt (prompt;text=other)", "prompt;text=other", capture_s=c),
        scored_call(pool, "garbled prompt (prompt;garble=1)", "prompt;garble=1", capture_s=c),
    ]


def row(call: ScoredCall) -> str:
    def f(value: float | None, scale: float = 1.0, digits: int = 2) -> str:
        return "-" if value is None else f"{value * scale:.{digits}f}"

    score = "-" if call.score is None else f"{call.score.mos:.2f} ({call.score.method})"
    return (
        f"| {call.label} | {call.codec} | {score} | {f(call.emodel_mos)} | {f(call.loss_ratio, 100, 1)} % "
        f"| {f(call.jitter_s, 1000, 1)} ms | {call.late} |"
    )


async def main() -> None:
    pool = AudioScorePool(cpu_budget=4.0)
    pool.start()
    pending = conditions(pool)
    results: list[ScoredCall] = []
    while pending:
        batch, pending = pending[:2], pending[2:]
        results += await asyncio.gather(*batch)
    pool.close()
    print(subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip(), "(shared machine)")
    print("| condition | codec (caller) | audio score | E-model MOS | loss | jitter | late (discarded by playout) |")
    print("|---|---|---|---|---|---|---|")
    for call in results:
        print(row(call))


if __name__ == "__main__":
    asyncio.run(main())
