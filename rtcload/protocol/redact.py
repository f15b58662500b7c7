"""Redaction of secrets in frames before they reach a log, an exception or a report."""

from __future__ import annotations

from typing import Any

SECRET_KEYS = frozenset(
    {"passwd", "password", "login_token", "token", "credential", "credentials", "secret", "authorization"}
)
MASK = "***"


def redact(value: Any) -> Any:
    """A deep copy of `value` with every secret-named key masked."""
    if isinstance(value, dict):
        return {k: (MASK if str(k).lower() in SECRET_KEYS else redact(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def short_frame(obj: Any, limit: int = 300) -> str:
    """A redacted, truncated one-line rendering for logs."""
    text = repr(redact(obj))
    return text if len(text) <= limit else text[: limit - 3] + "..."
