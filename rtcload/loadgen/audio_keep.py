"""Recordings of scored calls on bounded disk: the N worst-scored and N chosen at random (reservoir).

Why both: the worst calls are what a person wants to hear after a bad run; a random few show what a
typical call sounded like (and keep the worst list honest). At most 2 N WAVs exist at any time per
process: a WAV that falls out of both sets is deleted. Each kept call has a JSON line in `index.<tag>.jsonl`
(its score, method, codec and network figures) that report.html reads. WAVs are 16 kHz mono s16 (what
was scored), at most the capture's 12 s (~380 KB each).
"""

from __future__ import annotations

import io
import json
import random
import wave
from pathlib import Path
from typing import Any

import numpy as np

from rtcload.quality.audio_score.align import SCORE_RATE, resample

AUDIO_DIR = "audio"  # under the run's ledger: <results>/ledger/audio/*.wav + index.<process>.jsonl
NETWORK_COLUMNS = ("codec", "mos_mean", "loss_ratio_mean", "jitter_mean_s", "rtt_mean_s", "verdict")


def network_figures(row: dict[str, Any]) -> dict[str, Any]:
    """The call's network-level figures, shown beside its audio score."""
    return {key: row.get(key) for key in NETWORK_COLUMNS}


def wav_bytes(pcm: np.ndarray, rate: int) -> bytes:
    """The call's audio as a 16 kHz mono s16 WAV file's bytes (tens of ms of numpy: not on the loop;
    audio_calls.py calls it in the pool's feeding thread)."""
    data = resample(pcm, rate, SCORE_RATE)
    samples = np.clip(np.round(data * 32767.0), -32768, 32767).astype("<i2")
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(SCORE_RATE)
        wav.writeframes(samples.tobytes())
    return out.getvalue()


class AudioKeeper:
    """Per process: keeps WAVs in `directory` for the `count` worst and `count` random scored calls."""

    _current: AudioKeeper | None = None

    def __init__(self, directory: Path, count: int, tag: str = "0", seed: int | None = None) -> None:
        self.directory = directory
        self.count = count
        self.tag = tag
        self.rng = random.Random(seed)
        self.seen = 0
        self.worst: list[dict[str, Any]] = []  # entries sorted by mos ascending
        self.random: list[dict[str, Any]] = []
        self._serial = 0

    @classmethod
    def configure(cls, directory: Path | None, count: int, tag: str = "0") -> None:
        """Set the process's keeper (none when count is 0 or there is nowhere to write)."""
        cls._current = cls(directory, count, tag) if directory is not None and count > 0 else None

    @classmethod
    def current(cls) -> AudioKeeper | None:
        return cls._current

    def _entry(self, row: dict[str, Any], figures: dict[str, Any]) -> dict[str, Any]:
        self._serial += 1
        return {
            "wav": f"call-{self.tag}-{self._serial}.wav",
            "call_id": row.get("call_id"),
            "destination": row.get("destination"),
            "audio_mos": row.get("audio_mos"),
            "audio_mos_method": row.get("audio_mos_method"),
            **figures,
        }

    def offer(self, row: dict[str, Any], wav: bytes, figures: dict[str, Any]) -> None:
        """A scored call: keep it if it is among the worst so far or drawn into the random sample."""
        self.seen += 1
        mos = float(row.get("audio_mos") or 0.0)
        keep_worst = len(self.worst) < self.count or mos < float(self.worst[-1]["audio_mos"])
        slot = self.rng.randrange(self.seen) if self.seen > self.count else len(self.random)
        keep_random = slot < self.count
        if not (keep_worst or keep_random):
            return
        entry = self._entry(row, figures)
        self.directory.mkdir(parents=True, exist_ok=True)
        (self.directory / entry["wav"]).write_bytes(wav)
        evicted: list[dict[str, Any]] = []
        if keep_worst:
            self.worst.append({**entry, "kept": "worst"})
            self.worst.sort(key=lambda e: float(e["audio_mos"]))
            evicted += self.worst[self.count :]
            del self.worst[self.count :]
        if keep_random:
            if slot < len(self.random):
                evicted.append(self.random[slot])
                self.random[slot] = {**entry, "kept": "random"}
            else:
                self.random.append({**entry, "kept": "random"})
        kept = {e["wav"] for e in self.worst + self.random}
        for old in evicted:
            if old["wav"] not in kept:
                (self.directory / old["wav"]).unlink(missing_ok=True)
        self._write_index()

    def _write_index(self) -> None:
        path = self.directory / f"index.{self.tag}.jsonl"
        tmp = path.with_suffix(".tmp")
        with tmp.open("w") as out:
            for entry in self.worst + self.random:
                out.write(json.dumps(entry) + "\n")
        tmp.replace(path)
