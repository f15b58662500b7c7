"""Whether the optional scorers are installed, and the one line that says how to get them.

Why a check by module spec, not by importing: importing numba/onnxruntime costs seconds and hundreds of
MB; the generator only needs to know, and the worker processes pay for the imports (once, at warm-up).
"""

from __future__ import annotations

import importlib.util

# module -> what provides it (the extra `rtcload[audio]` in pyproject.toml)
REQUIRED = {
    "visqol": "visqol-python",
    "ai_edge_litert": "visqol-python[lattice]",
    "numba": "visqol-python[accel]",
    "speechmos": "speechmos",
    "onnxruntime": "onnxruntime",
}
EXTRA_HINT = "audio scores need the optional extra: pip install 'rtcload[audio]'"


def missing_modules() -> list[str]:
    """The scorer modules that cannot be imported here (empty when the extra is installed)."""
    missing = []
    for module in REQUIRED:
        try:
            found = importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a blocked or broken package counts as missing
            found = False
        if not found:
            missing.append(module)
    return missing
