"""Every catalog metric is exposed with its documented type and labels; label values stay bounded.

A real single-process Locust run with many users (signaling only, failing and unknown destinations
mixed in) is scraped over HTTP while it runs; the emulator's own /metrics is read the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import urllib.request
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from rtcload.emulator import Emulator
from rtcload.metrics.catalog import Kind, emulator_measurements, generator_measurements
from rtcload.protocol.codes import CAUSES_BY_NAME
from tests.conftest import fast_config
from tests.test_metrics_dashboards import SMOKE, free_ports, start_locust

USERS = 40
# Everything a label may say, per label name; codes are numbers of the protocol tables or a few words.
BOUNDED = {
    "result": {"answered", "failed", "ok", "exhausted", "reattached", "lost"},
    "direction": {"receive"},
    "loop": {"asyncio", "gevent", "rtp_send"},
    "role": {"local", "master", "worker"},
    "generation": {"0", "1", "2"},
    "cause": {*CAUSES_BY_NAME, "OTHER", "NONE"},
    # audio scores (issue 24): rtcload_audio_mos{method,codec}, rtcload_audio_scores_total{result}
    "method": {"visqol-speech", "plcmos", "silent", "other"},
    "codec": {"opus", "pcmu", "pcma", "other"},
}
BOUNDED["result"] |= {"scored", "failed", "queue_full", "over_budget", "unavailable"}
CODE = re.compile(
    r"^(-?\d{1,6}|timeout|other|no_rtp|protocol_state|call_failed|bye_failed|reconnect_exhausted|not_reattached|midcall_.*)$"
)


def scrape(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:
        return {f.name: f for f in text_string_to_metric_families(response.read().decode())}


def check_family(families: dict[str, Any], m: Any) -> set[tuple[str, str]]:
    """The family of catalog entry `m` exists with its type and label names; returns its label pairs."""
    name = m.prometheus_name.removesuffix("_total") if m.kind is Kind.COUNTER else m.prometheus_name
    assert name in families, f"{m.prometheus_name} missing from the exposition"
    family = families[name]
    assert family.type == str(m.kind), (m.prometheus_name, family.type)
    pairs = set()
    for sample in family.samples:
        labels = {k: v for k, v in sample.labels.items() if k not in ("le", "quantile")}
        assert set(labels) == set(m.labels), (m.prometheus_name, sample)
        pairs |= set(labels.items())
    return pairs


async def test_every_catalog_metric_is_exposed_and_labels_stay_bounded():
    port = free_ports(1)
    async with Emulator(fast_config()) as emu:
        proc = await start_locust(
            "-f", SMOKE, "--host", emu.url, "--headless", "-u", str(USERS), "-r", "20", "-t", "12s", "--only-summary",
            "--rtc-media", "none", "--rtc-metrics-port", str(port),
            "--rtc-destinations", "echo:4,busy:1,reject:1,+15559990001:1,+15559990002:1,noanswer;timeout=0.3:1",
            "--rtc-holding", "uniform:0.3,0.8", "--rtc-think-time", "uniform:0.1,0.3",
        )  # fmt: skip
        output = asyncio.ensure_future(proc.communicate())
        url = f"http://127.0.0.1:{port}/metrics"
        last: dict[str, Any] = {}
        while not output.done():  # keep the last scrape taken while the run was live (users still up)
            with contextlib.suppress(OSError):
                scraped = await asyncio.to_thread(scrape, url)
                users = scraped.get("rtcload_users")
                if users is not None and users.samples and users.samples[0].value > 0:
                    last = scraped  # not one from the stop phase: Locust has stopped its users by then
            await asyncio.sleep(0.5)
        out, _ = await output
        assert proc.returncode in (0, 1), out.decode(errors="replace")[-3000:]
        emulator_families = await asyncio.to_thread(scrape, f"http://127.0.0.1:{emu.port}/metrics")
    assert last, "never scraped the Locust process"
    assert last["rtcload_users"].samples[0].value == USERS
    pairs: set[tuple[str, str]] = set()
    for m in generator_measurements():
        pairs |= check_family(last, m)
    for m in emulator_measurements():
        check_family(emulator_families, m)
    values: dict[str, set[str]] = {}
    for label, value in pairs:
        values.setdefault(label, set()).add(value)
    for label, seen in values.items():
        if label == "code":
            assert all(CODE.match(v) for v in seen), seen
            assert len(seen) <= 20, seen
        else:
            assert seen <= BOUNDED[label], (label, seen - BOUNDED[label])
    # the failing destinations were counted by cause, never by number or user
    assert {"USER_BUSY", "CALL_REJECTED", "UNALLOCATED_NUMBER"} <= values["cause"], values
    calls = {s.labels["result"]: s.value for s in last["rtcload_calls"].samples if s.name.endswith("_total")}
    assert calls["answered"] > 0 and calls["failed"] > 0, calls
    routes = {s.labels["route"] for s in emulator_families["rtcload_emulator_calls"].samples}
    assert {"echo", "busy", "reject"} <= routes, routes
    # each process's own resources (issue 22): read live, plausible, labelled by role only
    process = {
        name: {s.labels["role"]: s.value for s in last[f"rtcload_process_{name}"].samples}
        for name in ("resident_memory_bytes", "open_fds", "udp_sockets", "asyncio_tasks")
    }
    assert process["resident_memory_bytes"]["local"] > 20 * 2**20, process
    assert process["open_fds"]["local"] >= USERS, process  # a WebSocket per user at least
    assert process["asyncio_tasks"]["local"] >= USERS, process  # a reader task per client at least
    assert process["udp_sockets"]["local"] == 0, process  # --rtc-media none
    emulator_process = {
        name: emulator_families[f"rtcload_emulator_process_{name}"].samples[0].value
        for name in ("resident_memory_bytes", "open_fds", "udp_sockets", "asyncio_tasks")
    }
    assert emulator_process["resident_memory_bytes"] > 20 * 2**20, emulator_process
    assert emulator_process["open_fds"] > 0 and emulator_process["asyncio_tasks"] >= 1, emulator_process
