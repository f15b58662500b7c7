"""`rtcload run` with audio scores (issue 24): a real Locust run, the embedded emulator, every output.

Separate from test_audio_score.py so each file stays short (~20 s here).
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys

from tests.test_audio_score import needs_extra


@needs_extra
def test_a_run_puts_the_score_in_calls_csv_the_summary_an_slo_and_the_report(tmp_path):
    """`rtcload run` (Locust, engine media, the embedded emulator playing a garbled prompt): every call
    scored, its record held until the score came (calls.csv), the summary's audio_mos, the SLO on it
    fails while the E-model is perfect, and report.html plays the kept call."""
    results = tmp_path / "results"
    done = subprocess.run(
        [
            sys.executable, "-m", "rtcload", "run", "--users", "1", "--spawn-rate", "1", "--duration", "18s",
            "--results", str(results), "--slo", "audio_mos p50 >= 3.8", "--",
            "--rtc-audio", "speech", "--rtc-destinations", "prompt;garble=1", "--rtc-calls-per-user", "2",
            "--rtc-holding", "fixed:5", "--rtc-think-time", "fixed:0.2",
            "--rtc-audio-score", "1", "--rtc-keep-audio", "1",
        ],
        capture_output=True, text=True, timeout=240, cwd=tmp_path,
    )  # fmt: skip
    output = done.stdout[-3000:] + done.stderr[-3000:]
    assert "audio_mos p50 >= 3.8: observed" in done.stdout, output
    assert done.returncode != 0, output  # the SLO failed: the audio is garbled
    with open(results / "calls.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["outcome"] == "answered"]
    assert len(rows) == 2, rows
    for row in rows:
        assert row["audio_mos_method"] == "visqol-speech" and float(row["audio_mos"]) < 2.5, row
        assert float(row["mos_mean"]) > 4.3, row  # the network saw nothing wrong
    summary = json.loads((results / "summary.json").read_text())
    assert summary["metrics"]["audio_mos"]["count"] == 2 and summary["metrics"]["audio_mos"]["p50"] < 2.5
    report = (results / "report.html").read_text()
    assert "Worst calls by audio score" in report and "data:audio/wav;base64," in report
