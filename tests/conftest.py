"""Shared fixtures: where the shared traces live, and loopback-only networking for aiortc."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# Real frames of the official SDK, copied from the team's shared traces so CI has them.
TRACES = Path(os.environ.get("RTCLOAD_TRACES", REPO / "tests" / "data" / "traces"))


@pytest.fixture(scope="session")
def traces_dir() -> Path:
    assert TRACES.is_dir(), f"SDK traces missing at {TRACES}"
    return TRACES


# ---------------------------------------------------------------- emulator and clients on loopback

from collections.abc import AsyncIterator, Awaitable, Callable  # noqa: E402
from typing import Any  # noqa: E402

from rtcload.distributions import parse_distribution  # noqa: E402
from rtcload.emulator import Emulator, EmulatorConfig, UserDirectory  # noqa: E402
from rtcload.protocol.backoff import BackoffPolicy  # noqa: E402
from rtcload.signaling import ClientConfig, PasswordCredentials, SignalingClient  # noqa: E402

TEST_USERS = {"alice": ("alice-pass", "+15550001001"), "bob": ("bob-pass", "+15550001002")}


def fast_config(**overrides: Any) -> EmulatorConfig:
    """Emulator settings for tests: loopback, any free port, short delays, known users + open mode."""
    users = UserDirectory(open=True)
    for name, (password, number) in TEST_USERS.items():
        users.add(name, password, number)
    base: dict[str, Any] = {
        "host": "127.0.0.1",
        "port": 0,
        "users": users,
        "ring_delay": parse_distribution("fixed:0.02"),
        "answer_delay": parse_distribution("fixed:0.05"),
        "noanswer_timeout_s": 1.0,
        "grace_s": 5.0,
        "seed": 7,
    }
    base.update(overrides)
    return EmulatorConfig(**base)


def reconnecting_config(url: str, name: str, base_s: float = 0.2, cap_s: float = 1.0) -> ClientConfig:
    """A client of user `name` (any password: open mode) that reconnects after a drop: the soak tests'."""
    return ClientConfig(
        url=url,
        credentials=PasswordCredentials(name, "any-pass"),
        label=name,
        backoff=BackoffPolicy(base_s=base_s, cap_s=cap_s, max_attempts=20),
    )


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(fast_config()) as emu:
        yield emu


ClientFactory = Callable[..., Awaitable[SignalingClient]]


@pytest.fixture
async def make_client(emulator: Emulator) -> AsyncIterator[ClientFactory]:
    """Create (and by default connect) clients against the emulator; all are closed at teardown."""
    clients: list[SignalingClient] = []

    async def factory(
        login: str = "alice", password: str | None = None, *, connect: bool = True, url: str | None = None, **cfg: Any
    ) -> SignalingClient:
        if password is None:
            password = TEST_USERS.get(login, ("any-pass", ""))[0]
        client_kwargs = cfg.pop("client_kwargs", {})
        cfg.setdefault("backoff", BackoffPolicy(base_s=0.2, cap_s=1.0, max_attempts=10))
        cfg.setdefault("label", login)
        config = ClientConfig(url=url or emulator.url, credentials=PasswordCredentials(login, password), **cfg)
        client = SignalingClient(config, **client_kwargs)
        clients.append(client)
        if connect:
            await client.connect(timeout=20)
        return client

    yield factory
    for client in clients:
        await client.close()
