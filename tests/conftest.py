"""Shared fixtures: where the shared traces live, and loopback-only networking for aiortc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("RTCLOAD_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    path = SHARED / "traces"
    if not path.is_dir():
        pytest.skip(f"shared traces not found at {path} (set RTCLOAD_SHARED)")
    return path
