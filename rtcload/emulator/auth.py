"""Who may log in: a users file (SIP username, password, number) or open mode, and HS256 JWTs.

Every failure is `-32001 Authentication Failure` with a machine-readable `data.reason`; the reason
names the failure class, never the secret that failed.
"""

from __future__ import annotations

import base64
import csv
import hmac
import json
import time
import uuid
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import jwt


@dataclass(frozen=True)
class Identity:
    """An authenticated endpoint: what other users dial to reach it."""

    username: str
    number: str
    via: str  # password | jwt | anonymous


class LoginRefusal(StrEnum):
    """Why a login was refused: a closed set, so the emulator's counter keys and metric labels
    (`logins_failed_<value>`, rtcload_emulator_logins_total{result}) never come from message text.
    The values are the old labels (the reason text with `_` for spaces), so dashboards keep working."""

    MISSING_CREDENTIALS = "missing_login_or_passwd"
    UNKNOWN_USER = "unknown_user"
    WRONG_PASSWORD = "wrong_password"
    MALFORMED_TOKEN = "malformed_token"
    TOKEN_EXPIRED = "token_expired"
    BAD_SIGNATURE = "bad_token_signature"
    NO_SUBJECT = "token_has_no_subject"
    FAULT_INJECTION = "rejected_by_fault_injection"
    ANONYMOUS_DISABLED = "anonymous_login_disabled"
    ANONYMOUS_WITHOUT_TARGET = "anonymous_login_without_target_id"
    LOGIN_TOO_LONG = "login_too_long"
    SESSION_LIMIT = "session_limit_reached"

    @property
    def text(self) -> str:
        """The reason in words, as sent in the error's `data.reason` and logged."""
        return _REFUSAL_TEXT[self]


_REFUSAL_TEXT: dict[LoginRefusal, str] = {
    LoginRefusal.MISSING_CREDENTIALS: "missing login or passwd",
    LoginRefusal.UNKNOWN_USER: "unknown user",
    LoginRefusal.WRONG_PASSWORD: "wrong password",
    LoginRefusal.MALFORMED_TOKEN: "malformed token",
    LoginRefusal.TOKEN_EXPIRED: "token expired",
    LoginRefusal.BAD_SIGNATURE: "bad token signature",
    LoginRefusal.NO_SUBJECT: "token has no subject",
    LoginRefusal.FAULT_INJECTION: "rejected by fault injection",
    LoginRefusal.ANONYMOUS_DISABLED: "anonymous login disabled",
    LoginRefusal.ANONYMOUS_WITHOUT_TARGET: "anonymous_login without target_id",
    LoginRefusal.LOGIN_TOO_LONG: "login too long",
    LoginRefusal.SESSION_LIMIT: "session limit reached",
}


class AuthError(Exception):
    """Login refused: `refusal` is the bounded kind (counters, labels), `reason` its words (never a credential)."""

    def __init__(self, refusal: LoginRefusal) -> None:
        super().__init__(refusal.text)
        self.refusal = refusal
        self.reason = refusal.text


@dataclass(frozen=True)
class UserRecord:
    username: str
    password: str = field(repr=False)
    number: str = ""


@dataclass
class UserDirectory:
    """Known users; in open mode any username/password pair logs in (a demo needs no account)."""

    users: dict[str, UserRecord] = field(default_factory=dict)
    open: bool = False

    @classmethod
    def open_mode(cls) -> UserDirectory:
        return cls(open=True)

    @classmethod
    def from_csv(cls, path: str | Path) -> UserDirectory:
        """`username,password[,number]` per line; a header line starting with `username` is skipped."""
        users: dict[str, UserRecord] = {}
        with open(path, newline="", encoding="utf-8") as handle:
            for lineno, row in enumerate(csv.reader(handle), start=1):
                if not row or row[0].strip().startswith("#"):
                    continue
                if lineno == 1 and row[0].strip().lower() == "username":
                    continue
                if len(row) < 2 or not row[0].strip():
                    raise ValueError(f"{path}:{lineno}: expected username,password[,number]")
                name = row[0].strip()
                users[name] = UserRecord(name, row[1].strip(), row[2].strip() if len(row) > 2 else "")
        return cls(users=users)

    def add(self, username: str, password: str, number: str = "") -> None:
        self.users[username] = UserRecord(username, password, number)

    def check_password(self, username: Any, password: Any) -> Identity:
        if not isinstance(username, str) or not username or not isinstance(password, str):
            raise AuthError(LoginRefusal.MISSING_CREDENTIALS)
        record = self.users.get(username)
        if record is None:
            if self.open:
                return Identity(username, username, "password")
            raise AuthError(LoginRefusal.UNKNOWN_USER)
        if not hmac.compare_digest(record.password.encode(), password.encode()):
            raise AuthError(LoginRefusal.WRONG_PASSWORD)
        return Identity(username, record.number or username, "password")

    def identity_for(self, username: str, via: str) -> Identity:
        record = self.users.get(username)
        return Identity(username, (record.number if record else "") or username, via)


def _payload_segment(token: str) -> str:
    return token.split(".")[1]


def mint_token(username: str, secret: str, ttl_s: float = 3600.0, now: float | None = None) -> str:
    """An HS256 JWT for `username` whose payload segment has no `-`/`_`.

    The JS SDK decodes the payload with plain `atob` for its TOKEN_EXPIRING_SOON warning, which
    fails on base64url characters; a nonce claim is varied until the segment is clean.
    """
    issued = int(time.time() if now is None else now)
    for attempt in range(1000):
        claims = {"sub": username, "iat": issued, "exp": issued + int(ttl_s), "jti": f"{uuid.uuid4().hex}{attempt}"}
        token = jwt.encode(claims, secret, algorithm="HS256")
        segment = _payload_segment(token)
        if "-" not in segment and "_" not in segment:
            return token
    raise RuntimeError("could not mint a JWT without base64url characters")  # pragma: no cover


def check_token(token: Any, secret: str, directory: UserDirectory) -> Identity:
    if not isinstance(token, str) or token.count(".") != 2:
        raise AuthError(LoginRefusal.MALFORMED_TOKEN)
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError(LoginRefusal.TOKEN_EXPIRED) from None
    except jwt.InvalidSignatureError:
        raise AuthError(LoginRefusal.BAD_SIGNATURE) from None
    except jwt.PyJWTError:
        raise AuthError(LoginRefusal.MALFORMED_TOKEN) from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError(LoginRefusal.NO_SUBJECT)
    if not directory.open and subject not in directory.users:
        raise AuthError(LoginRefusal.UNKNOWN_USER)
    return directory.identity_for(subject, "jwt")


def token_payload_is_atob_safe(token: str) -> bool:
    """True when a browser's atob() can decode the payload (no base64url-only characters)."""
    segment = _payload_segment(token)
    padded = segment + "=" * (-len(segment) % 4)
    try:
        json.loads(base64.b64decode(padded, validate=True))
    except ValueError:
        return False
    return True
