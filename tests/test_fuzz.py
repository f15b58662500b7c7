"""Property-based fuzzing (Hypothesis) of what hostile input reaches first: the frame parser, the SDP
and candidate checks, redaction, and the emulator over a real socket.

Bounded (max_examples, deadlines) so the whole file adds seconds to CI; the long run is
`bench/fuzz_emulator.py` (docs/benchmarks.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import string
import threading
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from rtcload.emulator import Emulator
from rtcload.emulator.config import Limits
from rtcload.protocol.jsonrpc import MAX_NESTING, FrameError, parse_frame
from rtcload.protocol.methods import Method
from rtcload.protocol.redact import SECRET_KEYS, redact_text, short_frame
from rtcload.protocol.sdp import candidate_problem, sdp_problem, static_sdp
from tests.conftest import fast_config

FAST = settings(max_examples=200, deadline=2000, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text()
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
)
ids = st.none() | st.integers() | st.text(max_size=20) | st.booleans() | st.floats() | st.lists(st.integers())
methods = st.sampled_from([m.value for m in Method] + ["rtcload.control"]) | st.text(max_size=30)
call_ids = st.sampled_from(["c-1", "c-2"]) | st.text(max_size=10)
sdps = st.just(static_sdp()) | st.text(max_size=200) | st.just("v=0\r\n") | json_values
candidates = (
    st.just("candidate:1 1 udp 2130706431 127.0.0.1 5000 typ host")
    | st.text(max_size=120)
    | st.builds(lambda a, b: f"candidate:{a} 1 udp {b} 127.0.0.1 {b} typ host", st.text(max_size=8), st.integers())
)


@st.composite
def verto_frames(draw) -> str:
    """Mostly Verto-shaped requests with hostile parts; sometimes plain garbage."""
    if draw(st.integers(0, 9)) == 0:
        return draw(st.text(max_size=200))
    params = draw(st.dictionaries(st.text(max_size=10), json_values, max_size=3))
    params.update(
        draw(
            st.fixed_dictionaries(
                {},
                optional={
                    "dialogParams": st.fixed_dictionaries(
                        {}, optional={"callID": call_ids, "destination_number": st.sampled_from(["echo", "busy", "x"])}
                    ),
                    "sdp": sdps,
                    "candidate": candidates,
                    "action": st.sampled_from(["hold", "unhold", "updateMedia", "x"]) | json_values,
                    "dtmf": st.text(max_size=20) | json_values,
                    "cause": st.text(max_size=20),
                    "login": st.text(max_size=20),
                    "passwd": st.text(max_size=20),
                    "token": st.text(max_size=20),
                },
            )
        )
    )
    frame: dict = {"jsonrpc": draw(st.sampled_from(["2.0", "2.0", "2.0", "1.0"])), "method": draw(methods)}
    frame["params"] = params if draw(st.integers(0, 9)) else draw(json_values)
    request_id = draw(ids)
    if request_id is not None:
        frame["id"] = request_id
    return json.dumps(frame)


# ------------------------------------------------------------------------------------------ parser


@FAST
@given(st.text(max_size=500) | st.binary(max_size=500))
def test_parser_raises_only_frame_errors_on_any_text(text):
    try:
        parse_frame(text)
    except FrameError as exc:
        assert exc.code in (-32700, -32600)


@FAST
@given(json_values, ids)
def test_parser_raises_only_frame_errors_on_any_json(value, request_id):
    frame = {"jsonrpc": "2.0", "id": request_id, "method": "x", "params": value}
    for text in (json.dumps(value), json.dumps(frame)):
        try:
            parse_frame(text)
        except FrameError:
            pass


@FAST
@given(st.integers(1, 200_000), st.sampled_from(["[", '{"a":']), st.booleans())
def test_any_nesting_depth_parses_or_is_a_parse_error(depth, opener, inside_params):
    closer = "]" if opener == "[" else "}"
    body = opener * depth + ("1" if opener != "[" else "") + closer * depth
    text = '{"jsonrpc":"2.0","id":1,"method":"login","params":{"x":' + body + "}}" if inside_params else body
    try:
        parse_frame(text, max_bytes=1 << 22)
    except FrameError as exc:
        if depth + 2 * inside_params > MAX_NESTING:
            assert exc.code == -32700
    else:
        assert depth + 2 * inside_params <= MAX_NESTING


# ------------------------------------------------------------------------------------------ redaction

secrets_text = st.text(alphabet=string.ascii_letters + string.digits + "!#$%&()*+-./:;<=>?@[]^_`{|}~ ", min_size=6)


@FAST
@given(st.sampled_from(sorted(SECRET_KEYS)) | st.text(max_size=12), secrets_text, st.integers(0, 400), st.booleans())
def test_redaction_hides_a_secret_in_any_prefix_of_a_frame(key, secret, cut, upper):
    marked = "ZQ9" + secret  # a marker that appears nowhere else in the frame
    if "ZQ9" in key or key in ("login", "other"):
        return
    params = {"login": "alice", key.upper() if upper else key: marked, "other": [1, 2]}
    frame = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "login", "params": params})
    start = frame.index(json.dumps(marked))
    truncated = frame[: start + 1 + cut]  # cut anywhere after the value opened
    if key.lower() in SECRET_KEYS:
        assert "ZQ9" not in redact_text(truncated)
    # a malformed frame's log line shows only Verto's own words, whatever the key (`"p\nsswd"`) or the quoting
    assert "ZQ9" not in short_frame(truncated, limit=10_000)
    flipped = truncated.replace('"', "C", 1)  # a flipped quote shifts every string literal after it
    assert "ZQ9" not in short_frame(flipped, limit=10_000)


# ------------------------------------------------------------------------------------------ SDP and candidates


@FAST
@given(st.text(max_size=300) | candidates)
def test_a_candidate_the_check_accepts_is_one_aiortc_parses(line):
    from aiortc.sdp import candidate_from_sdp

    if candidate_problem(line) is None:
        candidate_from_sdp(line.removeprefix("a=").removeprefix("candidate:"))


@FAST
@given(sdps, st.text(max_size=100))
def test_sdp_check_never_raises_and_names_a_reason(sdp, noise):
    for text in (sdp, f"{sdp}{noise}" if isinstance(sdp, str) else sdp):
        problem = sdp_problem(text)
        assert problem is None or (isinstance(problem, str) and len(problem) < 200)
    assert sdp_problem(static_sdp()) is None


# ------------------------------------------------------------------------------------------ the emulator


class ThreadedEmulator:
    """A real emulator on its own event loop thread, so Hypothesis (sync) can drive it over a socket."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.emulator: Emulator | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> Emulator:
        self._thread.start()
        config = fast_config(limits=Limits(auth_backoff_s=0.001))  # exercise the back-off, not wait for it
        self.emulator = asyncio.run_coroutine_threadsafe(Emulator(config).start(), self.loop).result(10)
        return self.emulator

    def __exit__(self, *exc: object) -> None:
        assert self.emulator is not None
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(20)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.fixture(scope="module")
def threaded_emulator() -> Iterator[Emulator]:
    with ThreadedEmulator() as emu:
        yield emu


class Socket:
    """One logged-in socket, reopened if a frame got it closed (too many failed logins, for example)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.ws: ClientConnection | None = None

    def get(self) -> ClientConnection:
        if self.ws is None:
            self.ws = connect(self.url, max_size=None).__enter__()  # closed in alive() or at the end
            self.ws.send(
                json.dumps({"jsonrpc": "2.0", "id": "in", "method": "login", "params": {"login": "fz", "passwd": "p"}})
            )
        return self.ws

    def alive(self) -> bool:
        ws = self.get()
        try:
            ws.send(json.dumps({"jsonrpc": "2.0", "id": "alive", "method": "telnyx_rtc.ping", "params": {}}))
            while True:
                reply = json.loads(ws.recv(timeout=10))
                if reply.get("id") == "alive" and ("result" in reply or "error" in reply):
                    return True
        except ConnectionClosed:
            self.ws = None
            return True  # closed on purpose (auth back-off, login deadline): the next example reconnects


def test_emulator_answers_fuzzed_frames_without_internal_errors(threaded_emulator, caplog):
    caplog.set_level(logging.INFO, logger="rtcload.emulator")
    sock = Socket(threaded_emulator.url)

    @settings(max_examples=250, deadline=5000, suppress_health_check=list(HealthCheck))
    @given(verto_frames())
    def one_frame(text):
        try:
            sock.get().send(text)
        except ConnectionClosed:
            sock.ws = None
        assert sock.alive()

    one_frame()
    if sock.ws is not None:
        sock.ws.close()
    counters = threaded_emulator.counters
    assert counters["internal_errors"] == 0
    assert "Traceback" not in caplog.text and "server error" not in caplog.text
    assert len([k for k in counters if k.startswith("requests_")]) <= len(Method) + 2  # known methods + other
