"""One rule for tests that need the machine's tools (Chromium, the SDK bundle, tshark, root for namespaces).

Missing tools skip the test with the reason on a developer's machine; where CI asks for the test with
`RTCLOAD_REQUIRE_BROWSER=1` or `RTCLOAD_REQUIRE_WIRE=1` (scripts/test sets them as root), they fail it,
so a lost install step can never turn into a silently skipped check.
"""

from __future__ import annotations

import os

import pytest


def skip_or_fail(missing: str | None, switch: str) -> None:
    """Nothing when `missing` is None; else fail if `switch`=1 is set, skip otherwise."""
    if missing is None:
        return
    if os.environ.get(switch) == "1":
        pytest.fail(f"{switch}=1 but {missing}", pytrace=False)
    pytest.skip(missing)
