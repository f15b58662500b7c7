"""Credential pools: each virtual user takes its own entry.

Sharing one SIP credential across users is a mistake on this platform: a second login with the
same credential competes for the same registration, so inbound calls and reattach go to whichever
socket won. The pool therefore hands entries out one per user and warns when it has to wrap.
"""

from __future__ import annotations

import csv
import logging
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rtcload.signaling.config import Credentials, PasswordCredentials, TokenCredentials

log = logging.getLogger("rtcload.loadgen")


@dataclass(frozen=True)
class PoolEntry:
    credentials: Credentials
    number: str = ""  # the number or username other users dial to reach this one
    identity: str = field(default="")


def load_pool(path: str | Path) -> list[PoolEntry]:
    """CSV with a header: `username,password[,number]` or `token[,number]` (JWT per line)."""
    entries: list[PoolEntry] = []
    with open(path, newline="") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None:
            raise ValueError(f"{path}: empty credentials file")
        fields = {name.strip().lower() for name in reader.fieldnames}
        if not ({"username", "password"} <= fields or "token" in fields):
            raise ValueError(f"{path}: header must have username,password or token (got {sorted(fields)})")
        for line_no, row in enumerate(reader, start=2):
            row = {k.strip().lower(): (v or "").strip() for k, v in row.items() if k}
            if row.get("token"):
                ident = row.get("username") or f"jwt-{line_no}"
                entries.append(PoolEntry(TokenCredentials(row["token"], identity=ident), row.get("number", ""), ident))
            elif row.get("username") and row.get("password"):
                user = row["username"]
                entries.append(PoolEntry(PasswordCredentials(user, row["password"]), row.get("number") or user, user))
            else:
                raise ValueError(f"{path}:{line_no}: needs username+password or token")
    if not entries:
        raise ValueError(f"{path}: no credentials")
    return entries


class CredentialPool:
    """Hands out entries round-robin, offset by the process index so workers do not collide."""

    def __init__(self, entries: list[PoolEntry], process_index: int = 0, process_count: int = 1) -> None:
        if not entries:
            raise ValueError("credential pool is empty")
        self._entries = entries
        self._next = process_index
        self._stride = max(1, process_count)
        self._lock = threading.Lock()
        self._warned = False

    def __len__(self) -> int:
        return len(self._entries)

    def take(self) -> PoolEntry:
        with self._lock:
            index = self._next
            self._next += self._stride
        if index >= len(self._entries) and not self._warned:
            self._warned = True
            log.warning(
                "credential pool of %d entries is smaller than the user count: credentials are now shared, "
                "which the platform treats as the same endpoint (inbound calls and reattach become ambiguous)",
                len(self._entries),
            )
        return self._entries[index % len(self._entries)]
