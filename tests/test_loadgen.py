"""Real Locust processes driving real calls into the emulator through the asyncio<->gevent bridge."""

from __future__ import annotations

import asyncio
import csv
import sys
from pathlib import Path

from rtcload.emulator import Emulator
from rtcload.emulator.aiortc_answerer import AiortcAnswerer
from rtcload.loadgen.live.csvfiles import read_final
from rtcload.loadgen.summary import read_summary
from tests.conftest import fast_config

SCENARIOS = Path(__file__).resolve().parents[1] / "rtcload" / "loadgen" / "scenarios"
EXPECTED = {
    ("REGISTER", "registration"),
    ("REGISTER", "ws_connect"),
    ("REGISTER", "login"),
    ("CALL", "post_dial_delay"),
    ("CALL", "answer"),
    ("CALL", "hangup"),
    ("MEDIA", "ice_connect"),
    ("MEDIA", "dtls_connect"),
    ("MEDIA", "first_rtp"),
}


async def locust(*args: str, timeout: float = 150) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "locust", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    out, _ = await asyncio.wait_for(proc.communicate(), timeout)
    return proc.returncode or 0, out.decode(errors="replace")


def stats_rows(prefix: Path) -> dict[tuple[str, str], dict[str, str]]:
    with open(f"{prefix}_stats.csv", newline="") as handle:
        return {(r["Type"], r["Name"]): r for r in csv.DictReader(handle)}


async def test_headless_locust_run_with_media_reports_every_measurement(tmp_path):
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True)) as emu:
        prefix = tmp_path / "run"
        code, out = await locust(
            "-f", str(SCENARIOS / "smoke.py"), "--host", emu.url, "--headless", "-u", "20", "-r", "10", "-t", "20s",
            "--csv", str(prefix), "--only-summary", "--stop-timeout", "30",
            "--rtc-holding", "uniform:2,3", "--rtc-think-time", "uniform:0.2,0.5", "--rtc-stats-interval", "1",
            "--rtc-dtmf-share", "0.5", "--rtc-hold-share", "0.3", "--rtc-call-records", str(tmp_path / "calls"),
        )  # fmt: skip
        assert code in (0, 1), out[-3000:]
        rows = stats_rows(prefix)
        missing = EXPECTED - set(rows)
        assert not missing, (missing, out[-3000:])
        # quality samples are no Locust requests (not in "Aggregated" nor its chart): their own CSVs hold them
        assert not [key for key in rows if key[0] == "QUALITY"], sorted(rows)
        aggregated = rows[("", "Aggregated")]
        assert int(aggregated["Request Count"]) == sum(int(r["Request Count"]) for k, r in rows.items() if k[0])
        with open(f"{prefix}_quality_history.csv", newline="") as handle:
            history = list(csv.DictReader(handle))
        assert {"mos", "rtt", "jitter", "packet_loss"} <= {r["name"] for r in history}
        summary = read_summary(prefix)  # timings from Locust's CSV, quality from PREFIX_quality.csv
        m = summary["metrics"]
        assert summary["calls"]["attempted"] >= 20 and summary["calls"]["success_ratio"] >= 0.95, summary["failures"]
        assert m["registration"]["count"] == 20 and m["registration"]["failures"] == 0
        assert 0 < m["post_dial_delay"]["p50"] < 1.0 and m["post_dial_delay"]["p50"] < m["call_setup"]["p50"]
        assert 4.0 <= m["mos"]["mean"] <= 4.5
        assert m["packet_loss"]["mean"] < 0.01
        assert 0 < m["first_rtp"]["p50"] < 5
        assert emu.counters["dtmf_digits"] > 0 and emu.counters["modify_hold"] > 0
        # one CSV row per finished call, with its timings and quality verdict
        (part,) = tmp_path.glob("calls.*.csv")
        with open(part, newline="") as handle:
            records = list(csv.DictReader(handle))
        answered = [r for r in records if r["outcome"] == "answered"]
        assert len(answered) >= 20 and len({r["call_id"] for r in records}) == len(records)
        rated = [r for r in answered if r["mos_mean"]]
        good = [r for r in rated if r["verdict"] == "good" and float(r["mos_mean"]) > 4.0]
        assert rated and len(good) >= 0.9 * len(rated), [(r["verdict"], r["mos_mean"]) for r in rated]
        assert all(float(r["post_dial_delay_s"]) < float(r["call_setup_s"]) for r in answered)
        # the run ended: every call hung up with a bye, every client logged out
        assert await emu.wait_for(lambda: emu.snapshot()["live_legs"] == 0 and emu.snapshot()["connections"] == 0, 20)


async def test_stopping_mid_call_hangs_up_every_call(tmp_path):
    async with Emulator(fast_config()) as emu:
        code, out = await locust(
            "-f", str(SCENARIOS / "smoke.py"), "--host", emu.url, "--headless", "-u", "8", "-r", "8", "-t", "4s",
            "--only-summary", "--rtc-media", "none", "--rtc-holding", "fixed:120", "--rtc-think-time", "fixed:0",
        )  # fmt: skip
        assert code in (0, 1), out[-3000:]
        assert emu.counters["calls_answered"] >= 8
        assert await emu.wait_for(lambda: emu.snapshot()["live_legs"] == 0, 20), emu.snapshot()
        ended = [leg for leg in emu.legs.values()]
        assert ended and all(leg.ended_by == "client" and leg.cause == "NORMAL_CLEARING" for leg in ended)
        assert emu.counters["sessions_expired"] == 0  # nobody left to time out


async def test_master_with_two_workers_aggregates_both(tmp_path):
    async with Emulator(fast_config()) as emu:
        prefix = tmp_path / "dist"
        port = "5599"
        common = ["-f", str(SCENARIOS / "smoke.py")]
        workers = [
            await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "locust",
                *common,
                "--worker",
                "--master-port",
                port,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL,
            )
            for _ in range(2)
        ]
        try:
            code, out = await locust(
                *common, "--master", "--master-bind-host", "127.0.0.1", "--master-bind-port", port,
                "--expect-workers", "2", "--host", emu.url, "--headless", "-u", "6", "-r", "6", "-t", "6s",
                "--csv", str(prefix), "--only-summary", "--rtc-media", "none",
                "--rtc-holding", "fixed:1", "--rtc-think-time", "fixed:0.2",
            )  # fmt: skip
            assert code in (0, 1), out[-3000:]
        finally:
            for worker in workers:
                if worker.returncode is None:
                    worker.terminate()
                await asyncio.wait_for(worker.wait(), 30)
        rows = stats_rows(prefix)
        assert int(rows[("REGISTER", "registration")]["Request Count"]) == 6
        assert int(rows[("CALL", "answer")]["Request Count"]) >= 6
        # the live view's figures travel in the workers' stats reports too: the master's quality CSV counts
        # exactly the samples Locust's table counts
        live = read_final(f"{prefix}_quality.csv")
        assert live["call_setup"]["count"] == int(rows[("CALL", "answer")]["Request Count"]), live
        assert live["post_dial_delay"]["count"] == int(rows[("CALL", "post_dial_delay")]["Request Count"])
        tags = {name.split("-")[2][:2] for name in emu.login_log}
        assert tags == {"w0", "w1"}, emu.login_log


async def test_load_users_upload_call_reports_when_the_platform_asks(tmp_path):
    """REGED carries a call_report_id: every finished call's report is POSTed, as the SDK does."""
    async with Emulator(fast_config(call_report_id="crid-load", http_front=True)) as emu:
        code, out = await locust(
            "-f", str(SCENARIOS / "smoke.py"), "--host", emu.url, "--headless", "-u", "4", "-r", "4", "-t", "6s",
            "--only-summary", "--rtc-media", "none", "--rtc-holding", "fixed:1", "--rtc-think-time", "fixed:0.2",
        )  # fmt: skip
        assert code in (0, 1), out[-3000:]
        answered = emu.counters["calls_answered"]
        assert answered >= 4
        assert await emu.wait_for(lambda: emu.counters["call_reports_accepted"] >= answered, 20), emu.counters
        assert emu.counters["call_reports_rejected"] == 0


async def test_lean_media_path_under_locust_reports_quality(tmp_path):
    """`--rtc-media-path lean`: pre-encoded audio, no decoding (one call in two decoded), against a lean echo."""
    async with Emulator(fast_config(), AiortcAnswerer(loopback_only=True, lean=True)) as emu:
        prefix = tmp_path / "lean"
        code, out = await locust(
            "-f", str(SCENARIOS / "smoke.py"), "--host", emu.url, "--headless", "-u", "4", "-r", "4", "-t", "10s",
            "--csv", str(prefix), "--only-summary", "--rtc-media-path", "lean", "--rtc-decode-every", "2",
            "--rtc-holding", "uniform:3,4", "--rtc-think-time", "fixed:0.3", "--rtc-stats-interval", "1",
        )  # fmt: skip
        assert code in (0, 1), out[-3000:]
    summary = read_summary(prefix)
    m = summary["metrics"]
    assert summary["calls"]["success_ratio"] == 1.0 and m["first_rtp"]["count"] >= 4
    assert 4.0 <= m["mos"]["mean"] <= 4.5 and m["packet_loss"]["mean"] < 0.01
