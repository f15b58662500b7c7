"""`rtcload emulator`: serve the embedded platform, or mint a test JWT (`rtcload emulator token USER`)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import sys

from rtcload.distributions import parse_distribution
from rtcload.emulator.auth import UserDirectory, mint_token
from rtcload.emulator.config import EmulatorConfig, Limits
from rtcload.emulator.playout import DEFAULT_ECHO_PLAYOUT_S, parse_playout
from rtcload.emulator.server import Emulator
from rtcload.media.answerer import MediaAnswerer, StaticAnswerer
from rtcload.media_paths import DEFAULT_MEDIA_PATH, MEDIA_PATHS
from rtcload.memtrace import trace_from_env
from rtcload.options import env, names
from rtcload.procstats import sample_self

DEFAULT_SECRET_ENV = "RTCLOAD_JWT_SECRET"
MEDIA_KINDS = ("aiortc", "none")  # `none`: signaling only, as --rtc-media none (`static` is its old name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    listen = parser.add_argument_group("listening and logins")
    listen.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    listen.add_argument("--port", type=int, default=8081, help="listen port (0 = any free port)")
    listen.add_argument(
        "--users-file", metavar="CSV", help="users file: username,password[,number]; default: open mode"
    )
    names.add_renamed(listen, "--users", dest="users_file")
    listen.add_argument(
        "--jwt-secret-file",
        metavar="PATH",
        help=f"file holding the HS256 secret for login tokens (or env {DEFAULT_SECRET_ENV}); with --users-file and "
        "neither, a random secret is generated per start and written to a private file whose path is printed",
    )
    listen.add_argument(
        "--jwt-secret",
        default=None,
        help=argparse.SUPPRESS,  # kept for old scripts; a secret on the command line is visible in `ps`
    )
    listen.add_argument(
        "--allow-anonymous",
        action="store_true",
        help="accept anonymous_login with a users file (always accepted in open mode)",
    )
    calls = parser.add_argument_group("calls")
    calls.add_argument("--ring-delay", default="fixed:0.05", help="invite -> ringing, a distribution (seconds)")
    calls.add_argument("--answer-delay", default="fixed:0.2", help="ringing -> answer, a distribution (seconds)")
    calls.add_argument("--noanswer-timeout", type=float, default=30.0, help="seconds a call rings before NO_ANSWER")
    calls.add_argument("--grace", type=float, default=30.0, help="seconds a dropped session keeps its calls")
    calls.add_argument("--server-ping", type=float, default=0.0, help="push telnyx_rtc.ping every N s (0 = off)")
    calls.add_argument(
        "--control-token",
        default=env.given("RTCLOAD_CONTROL_TOKEN"),
        help="enable runtime control (faults, drops, restart) with this token (env RTCLOAD_CONTROL_TOKEN)",
    )
    calls.add_argument("--max-calls", type=int, default=None, help="concurrent calls carried; more get 503/34")
    calls.add_argument(
        "--call-report-id",
        default=None,
        help="advertise this call_report_id in REGED and accept POST /call_report (HTTP front on the same port)",
    )
    media = parser.add_argument_group("media")
    media.add_argument(
        "--media",
        type=names.choice("--media", MEDIA_KINDS, {"static": "none"}),
        default="aiortc",
        metavar="{aiortc,none}",
        help="aiortc: real media; none: signaling only (a fixed SDP, no audio)",
    )
    media.add_argument(
        "--impair-up", default=None, help="media impairment client->platform: a profile (4g, wifi, ...) or a spec"
    )
    media.add_argument("--impair-down", default=None, help="media impairment platform->client (same syntax)")
    media.add_argument(
        "--media-path",
        choices=MEDIA_PATHS,
        default=DEFAULT_MEDIA_PATH,
        help="engine: one media engine carries every call (default); lean/naive: aiortc baselines for bench/",
    )
    names.add_renamed(media, "--lean-media", dest="media_path", const="lean")
    media.add_argument(
        "--echo-playout",
        default=f"{DEFAULT_ECHO_PLAYOUT_S * 1000:g}ms",
        help="echo and relay send each payload at its kernel arrival + this fixed delay, from the engine's send "
        "thread (a platform's jitter buffer: loop stalls shorter than it leave no trace on the wire); 0 = forward "
        "at once; a destination's `echo;playout=80ms` wins",
    )
    media.add_argument(
        "--opus-bitrate",
        default=None,
        help="Opus bitrate of the emulator's sources (tone, prompts, hold music) and transcoder, bit/s "
        "(default 32000, libwebrtc's mono default; env RTCLOAD_OPUS_BITRATE)",
    )
    add_limit_arguments(parser.add_argument_group("limits (docs/security.md)"))
    parser.add_argument("--seed", type=int, default=None, help="seed for delays and fault sampling")
    parser.add_argument(
        "--resource-interval",
        type=float,
        default=0.0,
        help="sample own RSS/FDs/UDP sockets/tasks/objects every N s; kept in the final snapshot (0 = off)",
    )
    sub = parser.add_subparsers(dest="emulator_action")
    token = sub.add_parser(
        "token",
        help=f"print a JWT for USER signed with the emulator's secret (--jwt-secret-file or env {DEFAULT_SECRET_ENV})",
    )
    token.add_argument("user")
    token.add_argument("--ttl", type=float, default=3600.0, help="seconds until exp")
    token.add_argument("--jwt-secret-file", dest="token_secret_file", metavar="PATH", help="the emulator's secret")


LIMIT_FLAGS: dict[str, str] = {
    "max_sessions": "logged-in sessions",
    "max_calls_per_session": "live calls per session",
    "max_legs_per_session": "calls remembered per session (live and recently ended)",
    "max_leg_items": "DTMF digits, messages and candidates kept per call, each",
    "max_username_bytes": "longest login name",
    "login_log_bytes": "bytes of the login log",
    "call_report_bytes": "bytes of accepted call reports kept",
    "login_timeout_s": "seconds a socket may stay without logging in",
    "max_unauthenticated_sockets": "open sockets that have not logged in yet (more are closed 1013)",
    "auth_failures_before_backoff": "failed logins/control tokens per socket answered at once",
    "auth_failures_before_close": "failed logins/control tokens per socket before it is closed",
}


def add_limit_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """One `--limit-…` flag per bound in `Limits` (docs/security.md lists them with their defaults)."""
    defaults = Limits()
    for name, what in LIMIT_FLAGS.items():
        default = getattr(defaults, name)
        parser.add_argument(
            "--limit-" + name.replace("_", "-"),
            dest=f"limit_{name}",
            type=type(default),
            default=default,
            help=f"{what} (default {default})",
        )


def read_secret(path: str | None) -> str | None:
    """The JWT secret from a file (first line, stripped) or the environment; None if neither is given."""
    if path:
        with open(path, encoding="utf-8") as handle:
            secret = handle.readline().strip()
        if len(secret) < 16:
            raise ValueError(f"{path}: a JWT secret needs at least 16 characters")
        return secret
    return env.given(DEFAULT_SECRET_ENV)


def write_generated_secret(secret: str) -> str:
    """Keep a generated secret where only this user can read it, so tokens can be minted for this run."""
    import tempfile

    fd, path = tempfile.mkstemp(prefix="rtcload-emulator-jwt-", suffix=".secret")  # mode 0600
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return path


def config_from_args(args: argparse.Namespace) -> EmulatorConfig:
    users = UserDirectory.from_csv(args.users_file) if args.users_file else UserDirectory.open_mode()
    limits = Limits(**{name: getattr(args, f"limit_{name}") for name in LIMIT_FLAGS})
    return EmulatorConfig(
        host=args.host,
        port=args.port,
        users=users,
        jwt_secret=args.jwt_secret or read_secret(args.jwt_secret_file),
        allow_anonymous=True if args.allow_anonymous else None,
        limits=limits,
        ring_delay=parse_distribution(args.ring_delay),
        answer_delay=parse_distribution(args.answer_delay),
        noanswer_timeout_s=args.noanswer_timeout,
        grace_s=args.grace,
        server_ping_interval_s=args.server_ping,
        call_report_id=args.call_report_id,
        max_calls=args.max_calls,
        http_front=args.call_report_id is not None,
        control_token=args.control_token,
        seed=args.seed,
    )


def opus_bitrate_from(args: argparse.Namespace) -> int:
    """--opus-bitrate, else RTCLOAD_OPUS_BITRATE, else libwebrtc's default (ValueError names the flag)."""
    from rtcload.media.opus_settings import DEFAULT_BITRATE, parse_bitrate

    raw = getattr(args, "opus_bitrate", None) or env.given("RTCLOAD_OPUS_BITRATE") or DEFAULT_BITRATE
    return parse_bitrate(raw, "--opus-bitrate")


def make_answerer(
    kind: str,
    impair_up: str | None = None,
    impair_down: str | None = None,
    lean: bool = False,
    media_path: str = DEFAULT_MEDIA_PATH,
    echo_playout_s: float = DEFAULT_ECHO_PLAYOUT_S,
) -> MediaAnswerer:
    if kind == "none":
        if impair_up or impair_down:
            raise ValueError("--impair-up/--impair-down need --media aiortc")
        return StaticAnswerer()
    from rtcload.emulator.aiortc_answerer import AiortcAnswerer

    answerer: MediaAnswerer = AiortcAnswerer(
        loopback_only=True, lean=lean, media_path=media_path, echo_playout_s=echo_playout_s
    )
    if impair_up or impair_down:
        from rtcload.netem.impairment import parse_impairment
        from rtcload.netem.sdp_relay import ImpairedAnswerer

        up = parse_impairment(impair_up) if impair_up else None
        down = parse_impairment(impair_down) if impair_down else None
        answerer = ImpairedAnswerer(answerer, up, down)
    return answerer


MAX_RESOURCE_SAMPLES = 2000  # a day at one a minute: the soak series stays bounded


async def sample_resources(interval_s: float, samples: list[dict[str, object]]) -> None:
    """The emulator's own resources for a soak's slopes (summary.json `soak.resources.emulator`)."""
    while True:
        samples.append(sample_self())
        if len(samples) > MAX_RESOURCE_SAMPLES:
            del samples[1 : len(samples) - MAX_RESOURCE_SAMPLES + 1]  # keep the first: the slope's anchor
        await asyncio.sleep(interval_s)


async def serve_until_stopped(
    config: EmulatorConfig,
    media: str,
    answerer: MediaAnswerer,
    secret_file: str | None = None,
    resource_interval_s: float = 0.0,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    async with Emulator(config, answerer) as emulator:
        mode = "open mode (any login)" if config.users.open else f"{len(config.users.users)} users"
        print(f"rtcload emulator listening on {emulator.url} ({mode}, media={media})", flush=True)
        if secret_file:
            print(
                f"login tokens: rtcload emulator token USER --jwt-secret-file {secret_file} "
                "(a random secret for this run only)",
                flush=True,
            )
        samples: list[dict[str, object]] = []
        tracer = asyncio.ensure_future(trace_from_env("emulator"))  # RTCLOAD_TRACEMALLOC: off unless set
        sampler = (
            asyncio.ensure_future(sample_resources(resource_interval_s, samples)) if resource_interval_s > 0 else None
        )
        await stop.wait()
        tracer.cancel()
        if sampler is not None:
            sampler.cancel()
        snapshot = emulator.snapshot()
        if sampler is not None:
            snapshot["resources"] = samples
        print(json.dumps({"emulator_stopped": snapshot}), flush=True)


def run(args: argparse.Namespace) -> int:
    if args.emulator_action == "token":
        try:
            secret = args.jwt_secret or read_secret(args.token_secret_file or args.jwt_secret_file)
        except (OSError, ValueError) as exc:
            print(f"rtcload emulator token: {exc}", file=sys.stderr)
            return 2
        if secret is None:
            print(
                "rtcload emulator token: needs the emulator's secret: --jwt-secret-file PATH "
                f"or env {DEFAULT_SECRET_ENV} (an emulator started without one prints the file it generated)",
                file=sys.stderr,
            )
            return 2
        print(mint_token(args.user, secret, args.ttl))
        return 0
    try:
        config = config_from_args(args)
        bitrate = opus_bitrate_from(args)
        if args.media != "none":
            from rtcload.media.opus_settings import OpusSettings, configure_opus

            configure_opus(OpusSettings(bitrate=bitrate))
        playout = parse_playout(args.echo_playout, "--echo-playout")
        answerer = make_answerer(args.media, args.impair_up, args.impair_down, False, args.media_path, playout)
    except (OSError, ValueError, TypeError) as exc:
        print(f"rtcload emulator: {exc}", file=sys.stderr)
        return 2
    generated = not config.users.open and not (args.jwt_secret or read_secret(args.jwt_secret_file))
    secret_file = write_generated_secret(config.secret) if generated else None
    try:
        asyncio.run(serve_until_stopped(config, args.media, answerer, secret_file, args.resource_interval))
    except OSError as exc:
        print(f"rtcload emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    finally:
        if secret_file:
            with contextlib.suppress(OSError):
                os.unlink(secret_file)  # the secret dies with the run
    return 0
