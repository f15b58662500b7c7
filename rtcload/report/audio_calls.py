"""report.html's "Worst calls by audio score": listen to the calls that failed, beside their network figures.

Reads what the generator kept (rtcload/loadgen/audio_keep.py: `<ledger>/audio/*.wav` and one
`index.<process>.jsonl` per process). Each call gets an `<audio>` player whose WAV is embedded as a data:
URI and a waveform drawn as inline SVG (min/max envelope per 20 ms), so the report stays one
self-contained file: no script, no network, no file beside it. Bounded by what was kept (2 x
`--rtc-keep-audio` per process, 12 s of 16 kHz mono each, ~0.5 MB base64).
"""

from __future__ import annotations

import base64
import json
import wave
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

AUDIO_DIR = "audio"  # as rtcload/loadgen/audio_keep.AUDIO_DIR (the report does not import the generator)
WIDTH, HEIGHT = 360, 60
MAX_ROWS = 40


def read_index(directory: Path) -> list[dict[str, Any]]:
    """Every kept call of every process whose WAV still exists: worst first, then the random ones."""
    entries: list[dict[str, Any]] = []
    for path in sorted(directory.glob("index.*.jsonl")):
        for line in path.read_text().splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            wav_name = Path(str(entry.get("wav", ""))).name  # never a path out of the directory
            if wav_name and (directory / wav_name).is_file():
                entries.append({**entry, "wav": wav_name})
    merged: dict[str, dict[str, Any]] = {}  # a call both among the worst and drawn at random: one row
    for entry in entries:
        if entry["wav"] in merged:
            merged[entry["wav"]]["kept"] = "worst, random"
        else:
            merged[entry["wav"]] = entry
    rows = list(merged.values())
    worst = sorted((e for e in rows if "worst" in str(e.get("kept"))), key=lambda e: float(e.get("audio_mos") or 0))
    rest = [e for e in rows if "worst" not in str(e.get("kept"))]
    return (worst + rest)[:MAX_ROWS]


def waveform_svg(samples: np.ndarray) -> str:
    """The min/max envelope of the call's audio per 20 ms column, as one SVG path."""
    if samples.size == 0:
        return f'<svg width="{WIDTH}" height="{HEIGHT}"></svg>'
    columns = np.array_split(samples.astype(np.float64) / 32768.0, min(WIDTH, samples.size))
    mid = HEIGHT / 2
    top = " ".join(f"L{i},{mid - float(c.max()) * mid:.1f}" for i, c in enumerate(columns))
    bottom = " ".join(f"L{i},{mid - float(c.min()) * mid:.1f}" for i, c in reversed(list(enumerate(columns))))
    path = f"M0,{mid} {top} {bottom} Z"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}">'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#f4f4f4"/><path d="{path}" fill="#36c" stroke="none"/></svg>'
    )


def _read_wav(path: Path) -> tuple[bytes, np.ndarray]:
    raw = path.read_bytes()
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    return raw, samples


def _fmt(value: Any, scale: float = 1.0, digits: int = 2, unit: str = "") -> str:
    if value in (None, ""):
        return "-"
    try:
        return f"{float(value) * scale:.{digits}f}{unit}"
    except (TypeError, ValueError):
        return escape(str(value))


def audio_section(ledger: Path | None) -> str:
    """The section's HTML ('' when nothing was kept: the run did not ask for recordings)."""
    directory = None if ledger is None else ledger / AUDIO_DIR
    if directory is None or not directory.is_dir():
        return ""
    rows = []
    for entry in read_index(directory):
        try:
            raw, samples = _read_wav(directory / entry["wav"])
        except (OSError, wave.Error, EOFError):
            continue
        player = f'<audio controls preload="none" src="data:audio/wav;base64,{base64.b64encode(raw).decode()}"></audio>'
        rows.append(
            "<tr>"
            f"<td>{escape(str(entry.get('kept', '')))}</td>"
            f"<td><b>{_fmt(entry.get('audio_mos'))}</b> {escape(str(entry.get('audio_mos_method', '')))}</td>"
            f"<td>{escape(str(entry.get('codec') or '-'))}</td>"
            f"<td>{_fmt(entry.get('mos_mean'))}</td>"
            f"<td>{_fmt(entry.get('loss_ratio_mean'), 100, 1, ' %')}</td>"
            f"<td>{_fmt(entry.get('jitter_mean_s'), 1000, 1, ' ms')}</td>"
            f"<td>{_fmt(entry.get('rtt_mean_s'), 1000, 0, ' ms')}</td>"
            f"<td>{escape(str(entry.get('destination') or '-'))}<br><small>{escape(str(entry.get('call_id') or ''))}"
            f"</small></td><td>{waveform_svg(samples)}<br>{player}</td></tr>"
        )
    if not rows:
        return ""
    head = (
        "<tr><th>kept</th><th>audio score</th><th>codec</th><th>E-model MOS</th><th>loss</th><th>jitter</th>"
        "<th>RTT</th><th>destination / call</th><th>what the caller heard</th></tr>"
    )
    return (
        "<h2>Worst calls by audio score</h2>\n<p>Sampled calls' received audio (16 kHz), scored off the media loop: "
        "visqol-speech = ViSQOL v3 speech mode MOS-LQO against what was sent, plcmos = no-reference PLCMOS v2. "
        "The network figures beside each are the same call's.</p>\n"
        f"<table>{head}{''.join(rows)}</table>"
    )
