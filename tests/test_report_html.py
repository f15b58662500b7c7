"""The HTML report of a real run with media renders offline in headless Chromium, charts included."""

from __future__ import annotations

import asyncio
import re
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from tests.conftest import fast_config
from tests.test_gates_slo import run_cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def png_pixels(path: Path) -> np.ndarray:
    """Decode an 8-bit RGB/RGBA non-interlaced PNG (what Chromium writes) into an HxWxC array."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = chunk
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, color, _c, _f, interlace = struct.unpack(">IIBBBBB", header)
    assert depth == 8 and color in (2, 6) and interlace == 0
    channels = 3 if color == 2 else 4
    raw = np.frombuffer(zlib.decompress(idat), dtype=np.uint8).reshape(height, 1 + width * channels)
    out = np.zeros((height, width * channels), dtype=np.int32)
    prev = np.zeros(width * channels, dtype=np.int32)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int32)
        if kind == 0:
            row = line
        elif kind == 2:
            row = (line + prev) & 0xFF
        else:  # Sub, Average and Paeth depend on the pixel to the left: decode pixel by pixel
            row = np.zeros_like(line)
            for x in range(len(line)):
                a = row[x - channels] if x >= channels else 0
                b = prev[x]
                c = prev[x - channels] if x >= channels else 0
                if kind == 1:
                    pred = a
                elif kind == 3:
                    pred = (a + b) // 2
                else:
                    p = a + b - c
                    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                    pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                row[x] = (line[x] + pred) & 0xFF
        out[y] = row
        prev = row
    return out.reshape(height, width, channels)[:, :, :3]


@pytest.mark.browser
@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium not installed")
@pytest.mark.timeout(200)
async def test_report_renders_offline_in_headless_chromium_with_its_charts(tmp_path):
    results = tmp_path / "run"
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        code = await run_cli(
            "run", "--target", emu.url, "--scenario", "regression", "--users", "4", "--spawn-rate", "4",
            "--duration", "10s", "--results", str(results), "--slo", "mos p50 >= 4.0", "--slo", "call_setup p95 < 10ms",
            "--", "--rtc-holding", "uniform:2,3", "--rtc-think-time", "fixed:0.3", "--rtc-stats-interval", "1",
        )  # fmt: skip
    assert code == 1  # the second SLO is meant to fail: the report must show both verdicts
    report = results / "report.html"
    html = report.read_text()
    # self-contained: no scripts to run, nothing fetched
    assert not re.search(r"<script(?![^>]*application/json)", html)
    assert not re.search(r"(src|href)=\"https?://", html)
    titles = re.findall(r'<svg class="chart"[^>]*aria-label="([^"]+)"', html)
    assert titles == [
        "Latency distribution (percentiles)",
        "MOS (E-model) over time",
        "RTT over time",
        "Jitter over time",
        "Packet loss over time",
        "Calls and failures over time",
    ]
    assert html.count("<polyline") >= 6  # every chart has a drawn series
    assert ">PASS<" in html and ">FAIL<" in html and "call_setup p95 &lt; 10ms" in html
    assert 'data-verdict="slo_failed">SLO FAILED<' in html and "call_setup p95 &lt; 10ms: observed" in html
    assert "<th>p50</th><th>mean</th><th>p5</th><th>min</th>" in html  # MOS has its own labelled columns

    shot = tmp_path / "report.png"
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run",
        "--disable-component-update", "--disable-sync", f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}", "--window-size=1200,2000", report.as_uri(),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await asyncio.wait_for(proc.wait(), 90) == 0
    pixels = png_pixels(shot)
    assert pixels.shape[:2] == (2000, 1200)
    ink = (pixels < 200).any(axis=2)
    assert ink.mean() > 0.01, "screenshot is blank"
    colours = {tuple(p) for p in pixels[::7, ::7].reshape(-1, 3)}
    assert len(colours) > 20  # text, grid, coloured series: a rendered page, not a flat fill
    # the chart series colours (blue and red of the palette) are on screen
    assert (
        (abs(pixels[:, :, 0] - 0x1F) < 8) & (abs(pixels[:, :, 1] - 0x77) < 8) & (abs(pixels[:, :, 2] - 0xB4) < 8)
    ).any()


@pytest.mark.parametrize("flat", [0.0, 1e-15, 4.41])
def test_charts_of_flat_series_render(flat):
    """A clean run's loss is all zeros (or float noise): the chart must still render, not divide by zero."""
    from rtcload.report.svg import Chart, Series, render

    svg = render(Chart("loss", [Series("loss", [(0.0, flat), (1.0, flat), (2.0, flat)])], y_min=0.0))
    assert svg.startswith('<svg class="chart"') and "<polyline" in svg and "nan" not in svg


def test_mos_axis_is_on_the_mos_scale_and_every_series_has_its_own_colour():
    """A clean run's flat MOS of 4.41 sits on a 1-5 axis (not 4-9), and answered/s is not the red of failures."""
    from rtcload.report.history import MetricHistory, RunHistory
    from rtcload.report.html import calls_chart, quality_charts

    history = RunHistory(
        t=[0.0, 2.0, 4.0],
        users=[1.0, 2.0, 2.0],
        metrics={
            "mos": MetricHistory(t_mean=[1.0, 3.0], mean=[4.41, 4.41]),
            "call_setup": MetricHistory(t=[0.0, 2.0, 4.0], rps=[1.0, 2.0, 1.0], fps=[0.0, 1.0, 0.0]),
            "registration": MetricHistory(t=[0.0, 2.0, 4.0], rps=[1.0, 1.0, 0.0], fps=[0.0, 0.0, 1.0]),
        },
    )
    mos_svg = quality_charts(history, {})[0]
    ticks = [float(x) for x in re.findall(r'text-anchor="end">([\d.]+)</text>', mos_svg)]
    assert min(ticks) == 1.0 and max(ticks) == 5.0
    strokes = re.findall(r'<polyline [^>]*stroke="(#[0-9a-f]{6})"', calls_chart(history))
    assert len(strokes) == 4 and len(set(strokes)) == 4


@pytest.mark.parametrize(
    ("verdict", "text"),
    [("passed", "PASSED"), ("slo_failed", "SLO FAILED"), ("run_broken", "RUN BROKEN"), ("interrupted", "INTERRUPTED")],
)
def test_the_banner_says_how_the_run_ended_and_why(verdict, text):
    from rtcload.report.html import banner

    html = banner({"outcome": {"verdict": verdict, "reason": "registered: no successful <registration>"}})
    assert f'data-verdict="{verdict}">{text}<' in html and "no successful &lt;registration&gt;" in html
