"""The layer rules of docs/architecture.md hold, and they bite.

`lint-imports` (import-linter) checks the contracts in pyproject.toml over the real package; the
README's test command runs this file, so a wrong import fails the tests as well as CI. The second
test plants forbidden imports in a copy of the package and checks that the contracts catch each.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = [
    sys.executable,
    "-c",
    "from importlinter.cli import lint_imports_command; lint_imports_command()",
    "--no-cache",
    "--no-logo",
]


def lint_imports(project: Path) -> subprocess.CompletedProcess[str]:
    """Run import-linter on the rtcload package found in `project`, with `project`'s pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(project)}
    return subprocess.run(LINT_IMPORTS, cwd=project, env=env, capture_output=True, text=True, timeout=120)


def test_import_contracts_are_kept() -> None:
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "planted", "reported"),
    [
        # metrics is a leaf: it must not reach up into the load generator
        ("metrics/lag.py", "import rtcload.loadgen.health", "rtcload.metrics.lag -> rtcload.loadgen.health"),
        # the emulator is the platform: it must not borrow the client's code
        ("emulator/calls.py", "import rtcload.signaling.media_port", "rtcload.emulator.calls -> rtcload.signaling"),
        # protocol is sans-I/O
        ("protocol/sdp.py", "import websockets", "rtcload.protocol.sdp -> websockets"),
        # a type-only import back from call.py to client.py is still a cycle
        ("signaling/call.py", "import rtcload.signaling.client", "No cycles are allowed in rtcload.signaling"),
    ],
)
def test_a_forbidden_import_breaks_the_build(tmp_path: Path, module: str, planted: str, reported: str) -> None:
    shutil.copytree(ROOT / "rtcload", tmp_path / "rtcload", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = tmp_path / "rtcload" / module
    target.write_text(target.read_text() + f"\n{planted}  # planted by test_architecture\n")
    done = lint_imports(tmp_path)
    assert done.returncode != 0, done.stdout
    assert reported in done.stdout, done.stdout
