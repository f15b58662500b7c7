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


# Words a log line about an unparseable frame may show: Verto's keys, method names and a few enumerated
# values. Every other word becomes `***` (default-deny): the frame's quotes cannot be trusted to say what
# is a value (a flipped `"` or a corrupted key such as `"p\nsswd"` shifts them), its words can.
_VOCABULARY = """jsonrpc 2.0 id method params result error code message data reason type voice_sdk_id sessid login
    passwd login_token token userVariables loginParams reconnection User-Agent dialogParams callID
    destination_number caller_id_name caller_id_number remote_caller_id_name remote_caller_id_number sdp
    candidate sdpMid sdpMLineIndex action dtmf msg cause causeCode sipCode sipReason state trickle
    telnyx_rtc.invite telnyx_rtc.answer telnyx_rtc.bye telnyx_rtc.modify telnyx_rtc.info telnyx_rtc.ping
    telnyx_rtc.candidate telnyx_rtc.endOfCandidates telnyx_rtc.attach telnyx_rtc.ringing telnyx_rtc.media
    telnyx_rtc.gatewayState telnyx_rtc.clientReady telnyx_rtc.punt telnyx_rtc.subscribe rtcload.control
    anonymous_login target_type target_id hold unhold toggleHold updateMedia REGED NOREG UNREGED FAILED
    TRYING true false null echo busy noanswer reject tone"""
FRAME_VOCABULARY = frozenset(_VOCABULARY.split())
_WORD = re.compile(r"[\w.+/=@-]+")
_STRUCTURE = frozenset('{}[]:," ')


# Fragments of the words that mark a frame as carrying credentials (login, anonymous_login, passwd,
# login_token, the control channel's token, an SDP's ice-pwd), matched case-insensitively anywhere in the
# text with JSON escapes decoded and backslashes dropped, so a corrupted key (`"p\nsswd"`, `"p\u0061sswd"`)
# still marks it. Short fragments on purpose: masking a harmless frame too costs a log line some detail.
_CREDENTIAL_MARKS = ("ogin", "pass", "sswd", "pwd", "token", "oken", "secret", "credential", "auth", "control")


def carries_credentials(text: str) -> bool:
    """True when `text` may be a frame with a password or token in it (then no word of it is logged)."""
    folded = _UNICODE_ESCAPE.sub(lambda m: chr(int(m.group(1), 16)), text).replace("\\", "").lower()
    return any(mark in folded for mark in _CREDENTIAL_MARKS)


def frame_skeleton(text: str) -> str:
    """Unparseable frame text with every word outside FRAME_VOCABULARY masked, for logs.

    Keeps the shape a developer needs (braces, keys, method) and nothing a client typed as a value.
    In a frame that carries credentials every word is masked, Verto's own included: a password may be
    any string, "method" or "params" as well, and the vocabulary would let exactly those through.
    """
    vocabulary: frozenset[str] = frozenset() if carries_credentials(text) else FRAME_VOCABULARY
    out: list[str] = []
    position = 0
    for match in _WORD.finditer(text):
        start, end = match.span()
        out.extend(ch if ch in _STRUCTURE else "?" for ch in text[position:start])
        word = match.group(0)
        keep = word in vocabulary or (bool(vocabulary) and word.isdigit() and len(word) <= 3)
        out.append(word if keep else MASK)
        position = end
    out.extend(ch if ch in _STRUCTURE else "?" for ch in text[position:])
    return "".join(out)


def short_frame(obj: Any, limit: int = 300) -> str:
    """A redacted, truncated one-line rendering for logs; raw text is redacted as text, before truncation."""
    if isinstance(obj, bytes):
        obj = obj.decode("utf-8", "replace")
    text = frame_skeleton(obj) if isinstance(obj, str) else redact_text(repr(redact(obj)))
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
        redacted = redact_text(message)
        if " TEXT " in message or " BINARY " in message:  # a websockets frame line: its payload in skeleton form
            head, _, payload = message.partition("TEXT " if " TEXT " in message else "BINARY ")
            redacted = head + ("TEXT " if " TEXT " in message else "BINARY ") + frame_skeleton(payload)
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
