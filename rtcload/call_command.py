"""`rtcload call`: place one call and print every phase's timing and the call's quality.

A person's first smoke test against any target. Without --target it starts the embedded emulator
on loopback, so it works with no account and no network.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import sys
from typing import Any

from rtcload import call_audio
from rtcload.media.ice_options import ice_servers_from
from rtcload.media_paths import DEFAULT_MEDIA_PATH, MEDIA_PATHS
from rtcload.options import env
from rtcload.options.build import add_options
from rtcload.protocol.redact import redact_text
from rtcload.signaling import (
    ClientConfig,
    Credentials,
    PasswordCredentials,
    SignalingClient,
    SignalingError,
    StaticSdpMedia,
    TokenCredentials,
)

GROUPS = (  # `rtcload call --help`'s sections, in order
    "the call: target, login, destination, how long",
    "media",
    "network: ICE / TURN (as `rtcload run`), TLS",
    "output",
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`rtcload call`'s options, from the registry (rtcload/options/registry.toml); the ICE/TURN options are
    parsed by the same code as `rtcload run`'s (media/ice_options.py)."""
    same = {"--media-path": {"choices": MEDIA_PATHS, "default": DEFAULT_MEDIA_PATH}}
    add_options(parser, "call", same=same, order=GROUPS)


def credentials_from(args: argparse.Namespace) -> Credentials:
    token = args.token or env.given("RTCLOAD_TOKEN")
    if token:
        return TokenCredentials(token)
    password = args.password or env.given("RTCLOAD_PASSWORD") or "rtcload-demo"
    return PasswordCredentials(args.login, password)


def _num(value: float | None, scale: float = 1.0) -> str:
    return "-" if value is None else f"{value * scale:.2f}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.1f} ms"


async def place_call(args: argparse.Namespace, url: str) -> dict[str, Any]:
    if args.media == "none":
        media_factory: Any = StaticSdpMedia
    else:
        from rtcload.media.loopback import use_loopback_only
        from rtcload.media.peer import CallMedia, MediaSettings

        if url.startswith("ws://127.") or url.startswith("ws://localhost") or url.startswith("ws://[::1]"):
            use_loopback_only()

        from rtcload.media.opus_settings import OpusSettings, configure_opus, parse_bitrate

        configure_opus(OpusSettings(bitrate=parse_bitrate(args.opus_bitrate, "--opus-bitrate"), dtx=args.opus_dtx))
        ice_servers = list(ice_servers_from(args))  # turn:user:pass@host -> URL + username + credential

        def media_factory() -> CallMedia:
            settings = MediaSettings(
                codec=args.codec, ice_servers=ice_servers, stats_interval_s=1.0, relay_only=args.relay_only
            )
            if getattr(args, "media_path", DEFAULT_MEDIA_PATH) == "naive":
                return CallMedia(args.source, settings)
            from rtcload.media.engine.call_media import EngineCallMedia

            # one call: decode all of it, so the report has the received level and dominant frequency
            media = EngineCallMedia(args.source, settings, decode=True, profile=args.client_profile)
            if not getattr(args, "no_audio_score", True) and call_audio.worth_scoring(args.to, args.source):
                media.capture_seconds = call_audio.CAPTURE_S  # and keep what it heard for its audio score
                call_audio.start_pool()
            return media

    config = ClientConfig(
        url=url,
        credentials=credentials_from(args),
        label=args.login,
        verify_tls=not args.insecure,
        ca_file=args.ca_file,
        auto_reconnect=False,
        trickle_ice=args.trickle,
    )
    client = SignalingClient(config, media_factory)
    out: dict[str, Any] = {"target": url, "destination": args.to}
    try:
        reg = await client.connect(timeout=args.timeout)
        out["registration_s"] = reg.total_s
        out["ws_connect_s"], out["login_s"], out["ready_s"] = reg.ws_connect_s, reg.login_s, reg.ready_s
        call = await client.dial(args.to)
        out["call_id"] = call.id
        try:
            await call.wait_established(args.timeout)
        finally:
            out["post_dial_delay_s"] = call.timings.post_dial_delay
            out["call_setup_s"] = call.timings.answer_delay
        ended_early = await call.wait_ended(args.duration)
        if not ended_early:
            await call.hangup()
        out["hangup_s"] = call.timings.hangup_delay
        out["cause"], out["cause_code"], out["ended_by"] = call.cause, call.cause_code, str(call.ended_by)
        out.update(_media_summary(call.media_report, call.earlier_media_reports))
        if (
            args.media != "none"
            and not getattr(args, "no_audio_score", True)
            and call_audio.worth_scoring(args.to, args.source)
        ):
            heard = args.duration if not ended_early else (call.timings.ended or 0) - (call.timings.answered or 0)
            out.update(await call_audio.score_call_media(call.media, args.to, args.source, out.get("codec"), heard))
        out["ok"] = True
    except (SignalingError, TimeoutError) as exc:
        out["ok"] = False
        out["error"] = redact_text(str(exc))
        out["error_code"] = getattr(exc, "code", None)
    except Exception as exc:  # any other failure is still one line naming the user and the call, never a traceback
        out["ok"] = False
        where = f"[{args.login}]" + (f"[call {out['call_id']}]" if out.get("call_id") else "")
        out["error"] = redact_text(f"{where} {type(exc).__name__}: {exc}")[:500]
    finally:
        await client.close()
    return out


def _media_summary(report: Any, earlier: list[Any] | None = None) -> dict[str, Any]:
    """The media part of the call's JSON: the last media's figures, and the quality rated over every
    media instance (`earlier`: those a reattach or ICE restart replaced)."""
    if report is None or not hasattr(report, "timings"):
        return {}
    from rtcload.media.rating import rate_report

    timings = report.timings
    applied = timings.get("remote_sdp_applied")

    def since_applied(key: str) -> float | None:
        value = timings.get(key)
        return None if value is None or applied is None else value - applied

    quality = rate_report(report, earlier)
    last = report.stats
    ice = getattr(report, "ice", None)
    return {
        "codec": report.codec,
        "ice_local": ice.selected_local_type if ice else None,
        "ice_remote": ice.selected_remote_type if ice else None,
        "ice_connect_s": since_applied("ice_connected"),
        "dtls_connect_s": since_applied("dtls_connected"),
        "first_rtp_s": since_applied("first_rtp"),
        "first_audio_s": report.first_audio_s,
        "received_level_dbfs": report.rms_dbfs,
        "received_dominant_hz": report.dominant_hz,
        "one_way_audio": report.one_way,
        "rtt_s": last.rtt_s if last else None,
        "jitter_s": last.jitter_s if last else None,
        "packets_received": last.packets_received if last else 0,
        "packets_lost": last.packets_lost if last else 0,
        "mos": quality.mos_mean,
        "mos_min": quality.mos_min,
        "r": quality.r_mean,
        "verdict": quality.verdict,
        "quality": quality.to_dict(),
    }


ROWS = [
    ("registration", "registration_s"),
    ("  ws connect", "ws_connect_s"),
    ("  login", "login_s"),
    ("  ready (REGED)", "ready_s"),
    ("post-dial delay", "post_dial_delay_s"),
    ("call setup (answer)", "call_setup_s"),
    ("ICE connected", "ice_connect_s"),
    ("DTLS connected", "dtls_connect_s"),
    ("first RTP", "first_rtp_s"),
    ("first audio", "first_audio_s"),
    ("hangup", "hangup_s"),
    ("RTT", "rtt_s"),
    ("jitter", "jitter_s"),
]


def render(out: dict[str, Any]) -> str:
    lines = [f"target               {out['target']}", f"destination          {out['destination']}"]
    lines += [f"{label:<21}{_ms(out.get(key))}" for label, key in ROWS if key in out]
    if "codec" in out:
        mos = out.get("mos")
        lines.append(f"{'codec':<21}{out['codec']}")
        lines.append(f"{'packets rx/lost':<21}{out.get('packets_received')}/{out.get('packets_lost')}")
        lines.append(f"{'MOS (E-model)':<21}{'-' if mos is None else f'{mos:.2f} (R {out.get(chr(114)):.1f})'}")
        hz = out.get("received_dominant_hz")
        lines.append(
            f"{'received audio':<21}{out.get('received_level_dbfs'):.1f} dBFS" + (f", {hz:.0f} Hz" if hz else "")
        )
        intervals = out.get("quality", {}).get("intervals", [])
        if intervals:
            lines.append("per interval         t(s)   RTT ms  jitter ms  loss %   BurstR  MOS   SDK MOS")
            start = out.get("quality_t0") or intervals[0]["t_end"]
            for row in intervals:
                lines.append(
                    "  "
                    + f"{row['t_end'] - start:>23.1f} {_num(row['rtt_s'], 1000):>8} {_num(row['jitter_s'], 1000):>10}"
                    + f" {_num(row['loss_ratio'], 100):>7} {_num(row['burst_r']):>8} {_num(row['mos']):>5}"
                    + f" {_num(row['sdk_mos']):>8}"
                )
        for warning in out.get("quality", {}).get("warnings", []):
            lines.append(f"{'SDK warning':<21}{warning['code']} {warning['name']}")
        if out.get("audio_mos_method"):
            score = out.get("audio_mos")
            lines.append(
                f"{'audio score':<21}{'-' if score is None else f'{score:.2f}'} ({out['audio_mos_method']})"
                + (f", {out['audio_note']}" if out.get("audio_note") else "")
            )
        lines.append(f"{'verdict':<21}{out.get('verdict')}")
        if out.get("one_way_audio"):
            lines.append("WARNING              one-way audio: nothing heard from the far end")
    if out.get("cause"):
        lines.append(f"{'ended':<21}{out['cause']} ({out['cause_code']}) by {out.get('ended_by')}")
    if not out.get("ok"):
        lines.append(f"FAILED               {out.get('error')}")
    return "\n".join(lines)


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.target:
        return await place_call(args, args.target)
    from rtcload.emulator import Emulator, EmulatorConfig
    from rtcload.media.answerer import StaticAnswerer

    if args.media == "none":
        answerer: Any = StaticAnswerer()
    else:
        from rtcload.emulator.aiortc_answerer import AiortcAnswerer

        answerer = AiortcAnswerer(loopback_only=True)
    async with Emulator(EmulatorConfig(), answerer) as emulator:
        out = await place_call(args, emulator.url)
        out["target"] = f"{emulator.url} (embedded emulator)"
        return out


def run(args: argparse.Namespace) -> int:
    try:
        ice_servers_from(args)
        if args.media_path == "lean":
            raise ValueError("--media-path lean decodes nothing, so one call's audio cannot be reported: use engine")
        if args.media != "none":
            from rtcload.media.opus_settings import parse_bitrate

            parse_bitrate(args.opus_bitrate, "--opus-bitrate")
    except ValueError as exc:
        print(f"rtcload call: {exc}", file=sys.stderr)
        return 2
    try:
        out = asyncio.run(_run(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # e.g. the embedded emulator could not start: one line, exit 1
        print(f"rtcload call: {redact_text(f'{type(exc).__name__}: {exc}')[:500]}", file=sys.stderr)
        return 1
    with contextlib.suppress(BrokenPipeError):
        print(json.dumps(out, default=str) if args.json else render(out))
    sys.stdout.flush()
    return 0 if out.get("ok") else 1
