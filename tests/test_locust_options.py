"""The --rtc-* options on Locust's own parser, as a run and the web UI see them (build.add_locust_options).

Each case runs Locust's `get_parser()` (which fires every scenario's init_command_line_parser listener)
and `ui_extra_args_dict()` (what the web UI's form is built from) in a child process, since importing
Locust patches the process with gevent. Regression: the options used to be added to an argument group
with Locust-only keywords, which the group refused, so the fallback dropped each RTCLOAD_* variable
(a variable with a non-empty default, e.g. RTCLOAD_HOLDING, was ignored) and left them out of the web UI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("RTCLOAD_")}, "PYTHONPATH": str(ROOT)}

PARSE = """
import importlib, json, sys
from rtcload.loadgen.scenarios import SCENARIOS
for name in SCENARIOS:
    importlib.import_module(f"rtcload.loadgen.scenarios.{name}")
importlib.import_module("rtcload.gates.warmup")
from locust.argument_parser import get_parser, ui_extra_args_dict
from rtcload.loadgen import settings
argv = ["-f", "scenario.py", *sys.argv[1:]]
options = get_parser(default_config_files=[]).parse_args(argv)
loaded = settings.settings_from_options(options, "ws://127.0.0.1:1/")
ui = ui_extra_args_dict(argv)
print(json.dumps({
    "options": {k: v for k, v in vars(options).items() if k.startswith("rtc_")},
    "relay_only": loaded.relay_only, "open_password": loaded.open_password, "holding_mean": loaded.call_duration.mean,
    "ui": sorted(ui), "ui_text": repr(ui),
}))
"""


def _parse(env: dict[str, str], *argv: str) -> tuple[dict, str]:
    done = subprocess.run(
        [sys.executable, "-c", PARSE, *argv], capture_output=True, text=True, timeout=120,
        env={**ENV, **env}, cwd=str(ROOT / "tests"),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr


def test_every_variable_reaches_the_options_and_secrets_stay_out_of_the_web_ui():
    env = {
        "RTCLOAD_HOLDING": "fixed:3",
        "RTCLOAD_RELAY_ONLY": "yes",  # kinds.parse_bool's word, not configargparse's
        "RTCLOAD_OPEN_PASSWORD": "sekrit-one",
        "RTCLOAD_CONTROL_TOKEN": "sekrit-two",
        "RTCLOAD_CPS": "7",
        "RTCLOAD_WARMUP": "10s",
        "RTCLOAD_RESOURCE_INTERVAL": "5",
        "RTCLOAD_KEEP_AUDIO": "2",
    }
    seen, _err = _parse(env)
    options = seen["options"]
    assert options["rtc_holding"] == "fixed:3" and seen["holding_mean"] == 3
    assert options["rtc_relay_only"] is True and seen["relay_only"] is True
    assert seen["open_password"] == "sekrit-one" and options["rtc_control_token"] == "sekrit-two"
    assert options["rtc_cps"] == "7"
    assert options["rtc_warmup"] == 10.0  # the duration kind's parser
    assert options["rtc_resource_interval"] == 5.0 and options["rtc_keep_audio"] == 2
    ui = set(seen["ui"])
    assert {"rtc_holding", "rtc_relay_only", "rtc_cps", "rtc_warmup", "rtc_faults", "rtc_media_path"} <= ui
    assert not ui & {"rtc_open_password", "rtc_control_token", "rtc_ice_servers"}, "a secret in the web UI"
    assert "sekrit" not in seen["ui_text"]
    assert len([name for name in ui if name.startswith("rtc_")]) >= 50


def test_a_flag_beats_its_variable_and_the_defaults_are_the_registry_s():
    seen, _err = _parse({"RTCLOAD_HOLDING": "fixed:3"}, "--rtc-holding", "fixed:4", "--rtc-opus-dtx")
    options = seen["options"]
    assert options["rtc_holding"] == "fixed:4" and options["rtc_opus_dtx"] is True
    bare, _err = _parse({})
    assert bare["options"]["rtc_holding"] == "uniform:8,12" and bare["options"]["rtc_relay_only"] is False
    assert bare["options"]["rtc_warmup"] == 0.0 and bare["options"]["rtc_arrival"] == "poisson"


def test_old_spellings_on_locust_warn_and_stay_out_of_help_and_web_ui():
    seen, err = _parse({"RTCLOAD_CALL_DURATION": "fixed:9"})
    assert seen["options"]["rtc_holding"] == "fixed:9"
    assert "RTCLOAD_CALL_DURATION is deprecated, use RTCLOAD_HOLDING" in err
    seen, err = _parse({}, "--rtc-lean", "--rtc-call-duration", "fixed:6")
    assert seen["options"]["rtc_media_path"] == "lean" and seen["holding_mean"] == 6
    assert "--rtc-lean is deprecated, use --rtc-media-path lean" in err
    assert not {"rtc_lean", "rtc_call_duration"} & set(seen["ui"])
