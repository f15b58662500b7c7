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
from pathlib import Path
from typing import Any

import jwt


@dataclass(frozen=True)
class Identity:
    """An authenticated endpoint: what other users dial to reach it."""

    username: str
    number: str
    via: str  # password | jwt | anonymous


class AuthError(Exception):
    """Login refused; `reason` is safe to show (it never contains a credential)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


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
            raise AuthError("missing login or passwd")
        record = self.users.get(username)
        if record is None:
            if self.open:
                return Identity(username, username, "password")
            raise AuthError("unknown user")
        if not hmac.compare_digest(record.password.encode(), password.encode()):
            raise AuthError("wrong password")
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
        raise AuthError("malformed token")
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], options={"require": ["exp", "sub"]})
    except jwt.ExpiredSignatureError:
        raise AuthError("token expired") from None
    except jwt.InvalidSignatureError:
        raise AuthError("bad token signature") from None
    except jwt.PyJWTError:
        raise AuthError("malformed token") from None
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise AuthError("token has no subject")
    if not directory.open and subject not in directory.users:
        raise AuthError("unknown user")
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
