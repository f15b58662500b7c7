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
from rtcload.options import env
from rtcload.options.build import add_options
from rtcload.procstats import sample_self

DEFAULT_SECRET_ENV = "RTCLOAD_JWT_SECRET"
MEDIA_KINDS = ("aiortc", "none")  # `none`: signaling only, as --rtc-media none (`static` is its old name)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options, from the registry (rtcload/options/registry.toml); the code states only what
    the registry must agree with (choices, defaults of Limits) and the defaults read from the environment."""
    defaults = Limits()
    same: dict[str, dict[str, object]] = {
        "--media": {"choices": MEDIA_KINDS},
        "--media-path": {"choices": MEDIA_PATHS, "default": DEFAULT_MEDIA_PATH},
        "--echo-playout": {"default": f"{DEFAULT_ECHO_PLAYOUT_S * 1000:g}ms"},
        **{_limit_flag(name): {"default": getattr(defaults, name)} for name in LIMIT_FIELDS},
    }
    add_options(parser, "emulator", same=same, now={"--control-token": env.given("RTCLOAD_CONTROL_TOKEN")})
    sub = parser.add_subparsers(dest="emulator_action")
    token = sub.add_parser(
        "token",
        help=f"print a JWT for USER signed with the emulator's secret (--jwt-secret-file or env {DEFAULT_SECRET_ENV})",
    )
    token.add_argument("user")
    add_options(token, "emulator token")


# the bounds of `Limits` that `rtcload emulator --limit-…` sets (docs/security.md lists them with their defaults)
LIMIT_FIELDS = (
    "max_sessions",
    "max_calls_per_session",
    "max_legs_per_session",
    "max_leg_items",
    "max_username_bytes",
    "login_log_bytes",
    "call_report_bytes",
    "login_timeout_s",
    "max_unauthenticated_sockets",
    "auth_failures_before_backoff",
    "auth_failures_before_close",
)


def _limit_flag(name: str) -> str:
    return "--limit-" + name.replace("_", "-")


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
    limits = Limits(**{name: getattr(args, f"limit_{name}") for name in LIMIT_FIELDS})
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
