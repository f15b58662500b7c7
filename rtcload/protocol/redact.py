"""Redaction of secrets in frames before they reach a log, an exception or a report."""

from __future__ import annotations

import logging
import re
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


# `"passwd": "..."` (value a string, possibly unterminated in a truncated frame) or `"token": 123`,
# keys matched case-insensitively, with or without JSON escapes in the value.
_SECRET_IN_TEXT = re.compile(
    r'(["\']?(?:' + "|".join(sorted(SECRET_KEYS)) + r')["\']?\s*[:=]\s*)'
    r'(?:"(?:[^"\\]|\\.)*(?:"|\\?$)|\'(?:[^\'\\]|\\.)*(?:\'|\\?$)|[^\s,}\]]+)',
    re.IGNORECASE,
)
# a JWT anywhere (three base64url segments, the first one a JSON header): masked even without a key
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


_UNICODE_ESCAPE = re.compile(r"\\+u([0-9a-fA-F]{4})")  # one backslash, or two in a repr()


def redact_text(text: str) -> str:
    """Mask secrets in raw text (a malformed frame, an exception message) that cannot be parsed first.

    JSON `\\uXXXX` escapes are decoded first, so `"p\\u0061sswd"` is seen as the key it spells.
    """
    text = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text)
    return _JWT.sub(MASK, _SECRET_IN_TEXT.sub(lambda m: m.group(1) + '"' + MASK + '"', text))


# Keys whose string values are safe to show in a log line about a malformed frame; every other string
# value is masked (default-deny: a corrupted key such as `"p\nsswd"` must not expose its value).
SAFE_VALUE_KEYS = frozenset(
    {"jsonrpc", "method", "id", "callID", "destination_number", "action", "state", "message", "code", "cause",
     "causeCode", "type", "reason", "target_type", "login", "user_agent", "User-Agent"}
)  # fmt: skip
_STRING_LITERAL = re.compile(r'"(?:[^"\\]|\\.)*(?:"|\\?$)')
_KEY_BEFORE = re.compile(r'"((?:[^"\\]|\\.)*)"\s*:\s*$')


def mask_string_values(text: str) -> str:
    """Mask every string value in raw (possibly broken) JSON text, except the values of SAFE_VALUE_KEYS.

    For frames that cannot be parsed, where a key can be anything: keys stay (they show the shape),
    values go unless their key is known to be harmless.
    """
    out: list[str] = []
    last = 0
    for match in _STRING_LITERAL.finditer(text):
        start, end = match.span()
        out.append(text[last:start])
        last = end
        if text[end : end + 40].lstrip().startswith(":"):
            out.append(match.group(0))  # a key
            continue
        key = _KEY_BEFORE.search(text[max(0, start - 80) : start])
        if key is not None and key.group(1) in SAFE_VALUE_KEYS:
            out.append(match.group(0))
        else:
            out.append('"' + MASK + '"')
    out.append(text[last:])
    return "".join(out)


def short_frame(obj: Any, limit: int = 300) -> str:
    """A redacted, truncated one-line rendering for logs; raw text is redacted as text, before truncation."""
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8", "replace")
    text = redact_text(mask_string_values(obj)) if isinstance(obj, str) else redact_text(repr(redact(obj)))
    text = text.encode("unicode_escape").decode("ascii") if not text.isprintable() else text
    return text if len(text) <= limit else text[: limit - 3] + "..."


class RedactingFilter(logging.Filter):
    """Rewrites a log record's message with `redact_text`: for loggers that print raw frames.

    `websockets` logs every frame at DEBUG (`< TEXT '{"passwd": ...}'`); at `-vv` that would put
    passwords, login tokens and the control token in the log. A logger's filters see only records
    logged on it, so each logger is named (see `install_redaction`).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            return True
        redacted = redact_text(mask_string_values(message) if "TEXT" in message else message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


REDACTED_LOGGERS = ("websockets.client", "websockets.server", "rtcload.emulator", "rtcload.signaling")
_FILTER = RedactingFilter()


def install_redaction(names: tuple[str, ...] = REDACTED_LOGGERS) -> None:
    """Attach the redacting filter to each named logger (idempotent)."""
    for name in names:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
