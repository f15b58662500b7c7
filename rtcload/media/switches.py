"""On/off environment switches of the media layer (RTCLOAD_ENGINE_NATIVE, RTCLOAD_GC_FREEZE, RTCLOAD_GC_QUIET):
one spelling of "off" for all of them, so `=0`, `=off`, `=false` and `=no` mean the same wherever a switch is read."""

from __future__ import annotations

import os

OFF = ("0", "false", "no", "off")


def switched_off(name: str) -> bool:
    """The environment turns `name` off (unset or any other value leaves it on)."""
    return os.environ.get(name, "1").strip().lower() in OFF
