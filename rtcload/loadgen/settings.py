"""Locust command-line arguments and environment variables of rtcload, parsed into one settings object.

Every option is a Locust custom argument (shown in the web UI) with an RTCLOAD_* environment
variable, so the same scenario runs from a laptop, CI or a Kubernetes worker unchanged.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field
from typing import Any

from rtcload.distributions import Distribution, parse_distribution
from rtcload.media.ice import IceServerSpec, parse_ice_servers
from rtcload.media.opus_settings import DEFAULT_BITRATE, parse_bitrate
from rtcload.media.sdp_profile import DEFAULT_CLIENT_PROFILE, check_profile
from rtcload.media_paths import DEFAULT_MEDIA_PATH, check_media_path
from rtcload.options import env as process_env
from rtcload.options import names
from rtcload.options.kinds import parse_bool
from rtcload.protocol.backoff import BackoffPolicy

DEFAULT_DESTINATIONS = "echo"


@dataclass(frozen=True)
class WeightedChoice:
    items: tuple[tuple[str, float], ...]

    def pick(self, rng: Any) -> str:
        total = sum(w for _, w in self.items)
        x = rng.random() * total
        for item, weight in self.items:
            x -= weight
            if x <= 0:
                return item
        return self.items[-1][0]


def parse_weighted(text: str) -> WeightedChoice:
    """`echo:3,tone:1,+15550001` -> weighted destinations (weight 1 when omitted)."""
    items: list[tuple[str, float]] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        name, sep, weight = part.rpartition(":")
        if sep and name and _is_number(weight):
            items.append((name, float(weight)))
        else:
            items.append((part, 1.0))
    if not items or any(w < 0 for _, w in items) or sum(w for _, w in items) <= 0:
        raise ValueError(f"bad destination list {text!r}")
    return WeightedChoice(tuple(items))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class LoadSettings:
    target: str
    credentials_file: str | None
    user_prefix: str
    open_password: str
    destinations: WeightedChoice
    call_duration: Distribution
    think_time: Distribution
    codec: str
    audio: str
    ice_servers: tuple[IceServerSpec, ...]
    relay_only: bool
    ice_host_addresses: tuple[str, ...] | None
    stats_interval_s: float
    media: str
    verify_tls: bool
    ca_file: str | None
    trickle: bool
    answer_timeout_s: float
    dtmf_digits: str
    hold_share: float
    dtmf_share: float
    backoff: BackoffPolicy = field(default_factory=BackoffPolicy)
    media_timeout_s: float | None = None
    call_reports: bool = True
    call_report_sample: float = 1.0
    relay_share: float = 0.0
    media_path: str = DEFAULT_MEDIA_PATH  # engine, lean or naive (rtcload.media_paths)
    decode_every: int = 0
    calls_per_user: int = 0
    opus_bitrate: int = DEFAULT_BITRATE
    opus_dtx: bool = False
    client_profile: str = DEFAULT_CLIENT_PROFILE
    # audio scores (issue 24, rtcload/loadgen/audio_calls.py): share of calls scored, CPU budget, WAVs kept
    audio_score: float = 0.05
    audio_score_cpu: float = 0.25
    keep_audio: int = 0

    @property
    def lean(self) -> bool:
        return self.media_path == "lean"


# name, env, default, help, kind
_OPTIONS: tuple[tuple[str, str, Any, str, str], ...] = (
    ("--rtc-credentials", "RTCLOAD_CREDENTIALS", "", "CSV of username,password[,number] or token[,number]", "str"),
    ("--rtc-user-prefix", "RTCLOAD_USER_PREFIX", "load", "usernames generated for open-mode targets", "str"),
    ("--rtc-open-password", "RTCLOAD_OPEN_PASSWORD", "rtcload", "password for generated users (open mode)", "secret"),
    ("--rtc-destinations", "RTCLOAD_DESTINATIONS", DEFAULT_DESTINATIONS, "weighted destinations: echo:3,tone:1", "str"),
    (
        "--rtc-holding",
        "RTCLOAD_HOLDING",
        "uniform:8,12",
        "holding time after answer, a distribution (s): fixed:30, uniform:8,12, exp:120 (SIPp -d)",
        "str",
    ),
    ("--rtc-think-time", "RTCLOAD_THINK_TIME", "uniform:1,3", "pause between calls (s)", "str"),
    ("--rtc-codec", "RTCLOAD_CODEC", "opus", "opus, pcmu or pcma", "str"),
    (
        "--rtc-opus-bitrate",
        "RTCLOAD_OPUS_BITRATE",
        str(DEFAULT_BITRATE),
        "Opus target bitrate in bit/s (32000 = libwebrtc's mono default; VBR, in-band FEC)",
        "str",
    ),
    (
        "--rtc-opus-dtx",
        "RTCLOAD_OPUS_DTX",
        False,
        "Opus DTX (usedtx=1): silences send one frame per 400 ms (off, as Chrome; the engine's Python path)",
        "bool",
    ),
    (
        "--rtc-client-profile",
        "RTCLOAD_CLIENT_PROFILE",
        DEFAULT_CLIENT_PROFILE,
        "chrome: offer, RTCP and consent timing like Chrome for what rtcload does; minimal: aiortc's lean offer",
        "str",
    ),
    ("--rtc-audio", "RTCLOAD_AUDIO", "tone", "tone, dualtone, speech, silence or wav:PATH", "str"),
    ("--rtc-ice-servers", "RTCLOAD_ICE_SERVERS", "", "stun:host:port,turn:user:pass@host:port", "secret"),
    ("--rtc-relay-only", "RTCLOAD_RELAY_ONLY", False, "force TURN relay candidates", "bool"),
    (
        "--rtc-ice-host",
        "RTCLOAD_ICE_HOST",
        "",
        "restrict host candidates to these addresses (comma list), or `route`: the local address toward the "
        "target and the ICE servers",
        "str",
    ),
    ("--rtc-stats-interval", "RTCLOAD_STATS_INTERVAL", 5.0, "getStats sampling interval (s, >= 1)", "float"),
    ("--rtc-media", "RTCLOAD_MEDIA", "aiortc", "aiortc (real audio) or none (signaling only)", "str"),
    ("--rtc-insecure", "RTCLOAD_INSECURE", False, "do not verify TLS certificates (wss://)", "bool"),
    ("--rtc-ca-file", "RTCLOAD_CA_FILE", "", "CA bundle for wss:// targets", "str"),
    ("--rtc-trickle", "RTCLOAD_TRICKLE", False, "trickle ICE candidates", "bool"),
    ("--rtc-answer-timeout", "RTCLOAD_ANSWER_TIMEOUT", 60.0, "seconds to wait for an answer", "float"),
    ("--rtc-dtmf", "RTCLOAD_DTMF", "1234#", "digits sent by the DTMF task", "str"),
    ("--rtc-hold-share", "RTCLOAD_HOLD_SHARE", 0.0, "share of calls that hold/unhold once", "float"),
    ("--rtc-dtmf-share", "RTCLOAD_DTMF_SHARE", 0.0, "share of calls that send DTMF", "float"),
    (
        "--rtc-backoff",
        "RTCLOAD_BACKOFF",
        "sdk",
        "reconnect backoff: sdk (1 s*2^n +-25 %, cap 30 s) or fixed (2-6 s)",
        "str",
    ),
    ("--rtc-media-timeout", "RTCLOAD_MEDIA_TIMEOUT", 0.0, "ICE restart after N s without RTP (0 = off)", "float"),
    (
        "--rtc-call-reports",
        "RTCLOAD_CALL_REPORTS",
        "on",
        "upload end-of-call reports when REGED gives a call_report_id (on/off)",
        "str",
    ),
    ("--rtc-call-report-sample", "RTCLOAD_CALL_REPORT_SAMPLE", 1.0, "share of calls whose report is uploaded", "float"),
    ("--rtc-relay-share", "RTCLOAD_RELAY_SHARE", 0.0, "share of users that are relay-only (TURN)", "float"),
    (
        "--rtc-media-path",
        "RTCLOAD_MEDIA_PATH",
        DEFAULT_MEDIA_PATH,
        "engine (one media engine per process, default), lean or naive (aiortc baselines, for bench/)",
        "str",
    ),
    ("--rtc-decode-every", "RTCLOAD_DECODE_EVERY", 0, "engine/lean media: fully decode 1 call in N (0 = none)", "int"),
    (
        "--rtc-audio-score",
        "RTCLOAD_AUDIO_SCORE",
        "0.05",
        "engine media: share of calls whose received audio is scored (0.05 or 1/20; 0 = off), off the loop",
        "str",
    ),
    (
        "--rtc-audio-score-cpu",
        "RTCLOAD_AUDIO_SCORE_CPU",
        0.25,
        "CPU budget of audio scoring per process, in cores (calls past it are dropped and counted)",
        "float",
    ),
    ("--rtc-keep-audio", "RTCLOAD_KEEP_AUDIO", 0, "keep WAVs of the N worst and N random scored calls", "int"),
    ("--rtc-call-records", "RTCLOAD_CALL_RECORDS", "", "write one CSV row per call to PATH.<process>.csv", "str"),
    (
        "--rtc-ledger",
        "RTCLOAD_LEDGER",
        "",
        "directory for this run's ledger: every sample, every call record, final counters (rtcload run sets it)",
        "str",
    ),
    (
        "--rtc-calls-per-user",
        "RTCLOAD_CALLS_PER_USER",
        0,
        "each caller places N calls, then stops (0 = no limit)",
        "int",
    ),
    (
        "--rtc-metrics-port",
        "RTCLOAD_METRICS_PORT",
        0,
        "serve Prometheus /metrics on port + process index (0 = off)",
        "int",
    ),
    (
        "--rtc-metrics-host",
        "RTCLOAD_METRICS_HOST",
        "127.0.0.1",
        "bind address of /metrics (0.0.0.0 in containers)",
        "str",
    ),
    (
        "--rtc-metrics-fixed-port",
        "RTCLOAD_METRICS_FIXED_PORT",
        False,
        "no index offset (one process per container)",
        "bool",
    ),
    ("--rtc-pushgateway", "RTCLOAD_PUSHGATEWAY", "", "push metrics to this Pushgateway URL when the run stops", "str"),
    (
        "--rtc-saturation-lag",
        "RTCLOAD_SATURATION_LAG",
        0.05,
        "loop lag p99 (s) above which the generator is saturated",
        "float",
    ),
    (
        "--rtc-saturation-cpu",
        "RTCLOAD_SATURATION_CPU",
        0.9,
        "process CPU (1.0 = a core) above which it is saturated",
        "float",
    ),
    (
        "--rtc-saturation-send-late",
        "RTCLOAD_SATURATION_SEND_LATE",
        0.005,
        "media send-tick lateness p99 (s) above which the generator is saturated",
        "float",
    ),
    (
        "--rtc-max-send-gap",
        "RTCLOAD_MAX_SEND_GAP",
        "40ms",
        "the generator gate fails on any interval between the engine's RTP sends longer than this (e.g. 40ms)",
        "str",
    ),
    ("--rtc-health-file", "RTCLOAD_HEALTH_FILE", "", "write this process's run health to PATH.<process>.json", "str"),
)
LOAD_OPTIONS = _OPTIONS  # read by `rtcload run` to list and forward them (one definition)
# old variables still read for a release (names.RENAMED has the old flags): new -> old
LEGACY_ENV = {"RTCLOAD_HOLDING": "RTCLOAD_CALL_DURATION"}
METRICS_FLAGS = frozenset(
    {
        "--rtc-metrics-port",
        "--rtc-metrics-host",
        "--rtc-metrics-fixed-port",
        "--rtc-pushgateway",
        "--rtc-saturation-lag",
        "--rtc-saturation-cpu",
        "--rtc-saturation-send-late",
        "--rtc-health-file",
    }
)


def add_locust_arguments(parser: Any) -> None:
    """Register rtcload's options on Locust's parser (events.init_command_line_parser)."""
    group = (
        parser.add_argument_group("rtcload", "WebRTC call load options")
        if hasattr(parser, "add_argument_group")
        else parser
    )
    for flag, env, default, help_text, kind in _OPTIONS:
        kwargs: dict[str, Any] = {"env_var": env, "help": help_text, "include_in_web_ui": kind != "secret"}
        if kind == "bool":
            kwargs["action"] = "store_true"
            kwargs["default"] = False
        else:
            kwargs["default"] = legacy_default(env, default)
            kwargs["type"] = {"float": float, "int": int}.get(kind, str)
        if kind == "secret":
            kwargs["is_secret"] = True
        try:
            group.add_argument(flag, **kwargs)
        except TypeError:  # plain argparse (tests, rtcload call): no env_var/is_secret/include_in_web_ui
            for key in ("env_var", "include_in_web_ui", "is_secret"):
                kwargs.pop(key, None)
            group.add_argument(flag, **kwargs)
    add_renamed_arguments(group)


def add_renamed_arguments(parser: Any) -> None:
    """The old spellings of --rtc-* options (hidden; a one-line deprecation warning names the new one)."""
    names.add_renamed(parser, "--rtc-call-duration", dest="rtc_holding")
    names.add_renamed(parser, "--rtc-lean", dest="rtc_media_path", const="lean")


def legacy_default(env: str, default: Any) -> Any:
    """The default of an option whose variable was renamed: the old variable's value, with a warning."""
    old = LEGACY_ENV.get(env)
    if old and process_env.given(env) is None and process_env.given(old) is not None:
        names.warn(old, env)
        return process_env.text(old)
    return default


def _get(options: Any, flag: str, env: str, default: Any) -> Any:
    attr = flag.removeprefix("--").replace("-", "_")
    value = getattr(options, attr, None) if options is not None else None
    if value is None or value == "":
        value = process_env.text(env, legacy_default(env, default))
    return value


def _flag_bool(flag: str, value: Any) -> bool:
    """A boolean option given as a flag (a bool) or as text from its RTCLOAD_* variable (kinds.parse_bool)."""
    env = next((e for f, e, *_rest in _OPTIONS if f == flag), "")
    return parse_bool(value, f"{flag} (env {env})" if env else flag)


@dataclass(frozen=True)
class MetricsSettings:
    port: int  # 0 = no /metrics server
    host: str
    fixed_port: bool
    pushgateway: str | None
    saturation_lag_s: float
    saturation_cpu: float
    saturation_send_late_s: float = 0.005
    health_file: str | None = None

    def port_for(self, index: int) -> int:
        """Base port + process index (master/local 0, worker i -> i + 1), unless fixed."""
        return self.port if self.fixed_port or self.port == 0 else self.port + index


def metrics_settings_from_options(options: argparse.Namespace | Any) -> MetricsSettings:
    """The observability options alone: needed in every process, including a master with no target."""
    raw = {flag: _get(options, flag, env, default) for flag, env, default, _h, _k in _OPTIONS if flag in METRICS_FLAGS}
    fixed = raw["--rtc-metrics-fixed-port"]
    port = int(raw["--rtc-metrics-port"])
    if not 0 <= port < 65536:
        raise ValueError("--rtc-metrics-port must be 0 (off) or a TCP port")
    return MetricsSettings(
        port=port,
        host=str(raw["--rtc-metrics-host"]),
        fixed_port=_flag_bool("--rtc-metrics-fixed-port", fixed),
        pushgateway=str(raw["--rtc-pushgateway"]) or None,
        saturation_lag_s=float(raw["--rtc-saturation-lag"]),
        saturation_cpu=float(raw["--rtc-saturation-cpu"]),
        saturation_send_late_s=float(raw["--rtc-saturation-send-late"]),
        health_file=str(raw["--rtc-health-file"]) or None,
    )


def _backoff(name: str) -> BackoffPolicy:
    if name == "sdk":
        return BackoffPolicy()
    if name == "fixed":
        return BackoffPolicy(kind="fixed")
    raise ValueError(f"--rtc-backoff must be sdk or fixed (got {name!r})")


def _legacy_lean() -> bool:
    """RTCLOAD_LEAN, the old variable of `--rtc-media-path lean` (the flag --rtc-lean is names.RENAMED)."""
    if process_env.given("RTCLOAD_LEAN") is None:
        return False
    names.warn("RTCLOAD_LEAN", "RTCLOAD_MEDIA_PATH=lean")
    return process_env.flag("RTCLOAD_LEAN", False)


def _media_path(name: str, lean_flag: bool) -> str:
    """The media path: the engine by default; RTCLOAD_LEAN is the older spelling of `lean`."""
    path = check_media_path(name, "--rtc-media-path")
    if lean_flag and path == "engine":
        return "lean"
    return path


def parse_share(text: str, flag: str = "--rtc-audio-score") -> float:
    """A share of calls: a fraction 0..1 (`0.05`) or one in N (`1/20`)."""
    raw = str(text).strip()
    try:
        if "/" in raw:
            num, den = (float(part) for part in raw.split("/", 1))
            value = num / den
        else:
            value = float(raw)
    except (ValueError, ZeroDivisionError):
        raise ValueError(f"{flag} must be a share like 0.05 or 1/20 (got {raw!r})") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"{flag} must be between 0 and 1 (got {raw!r})")
    return value


def settings_from_options(options: argparse.Namespace | Any, target: str) -> LoadSettings:
    """Build and validate settings; raises ValueError naming the bad option."""
    raw = {flag: _get(options, flag, env, default) for flag, env, default, _h, _k in _OPTIONS}

    def flag_bool(flag: str) -> bool:
        return _flag_bool(flag, raw[flag])

    stats_interval = float(raw["--rtc-stats-interval"])
    if stats_interval < 1.0:
        raise ValueError("--rtc-stats-interval must be >= 1 s")
    media = str(raw["--rtc-media"])
    if media not in ("aiortc", "none"):
        raise ValueError("--rtc-media must be aiortc or none")
    codec = str(raw["--rtc-codec"]).lower()
    if codec not in ("opus", "pcmu", "pcma"):
        raise ValueError("--rtc-codec must be opus, pcmu or pcma")
    hosts = tuple(h.strip() for h in str(raw["--rtc-ice-host"]).split(",") if h.strip()) or None
    for flag in ("--rtc-hold-share", "--rtc-dtmf-share", "--rtc-call-report-sample", "--rtc-relay-share"):
        if not 0.0 <= float(raw[flag]) <= 1.0:
            raise ValueError(f"{flag} must be between 0 and 1")
    return LoadSettings(
        target=target,
        credentials_file=str(raw["--rtc-credentials"]) or None,
        user_prefix=str(raw["--rtc-user-prefix"]),
        open_password=str(raw["--rtc-open-password"]),
        destinations=parse_weighted(str(raw["--rtc-destinations"])),
        call_duration=parse_distribution(str(raw["--rtc-holding"])),
        think_time=parse_distribution(str(raw["--rtc-think-time"])),
        codec=codec,
        audio=str(raw["--rtc-audio"]),
        ice_servers=parse_ice_servers(str(raw["--rtc-ice-servers"])),
        relay_only=flag_bool("--rtc-relay-only"),
        ice_host_addresses=hosts,
        stats_interval_s=stats_interval,
        media=media,
        verify_tls=not flag_bool("--rtc-insecure"),
        ca_file=str(raw["--rtc-ca-file"]) or None,
        trickle=flag_bool("--rtc-trickle"),
        answer_timeout_s=float(raw["--rtc-answer-timeout"]),
        dtmf_digits=str(raw["--rtc-dtmf"]),
        hold_share=float(raw["--rtc-hold-share"]),
        dtmf_share=float(raw["--rtc-dtmf-share"]),
        backoff=_backoff(str(raw["--rtc-backoff"])),
        call_reports=flag_bool("--rtc-call-reports"),
        call_report_sample=float(raw["--rtc-call-report-sample"]),
        relay_share=float(raw["--rtc-relay-share"]),
        media_path=_media_path(str(raw["--rtc-media-path"]), _legacy_lean()),
        decode_every=int(float(raw["--rtc-decode-every"])),
        calls_per_user=max(0, int(float(raw["--rtc-calls-per-user"]))),
        media_timeout_s=float(raw["--rtc-media-timeout"]) or None,
        opus_bitrate=parse_bitrate(str(raw["--rtc-opus-bitrate"])),
        opus_dtx=flag_bool("--rtc-opus-dtx"),
        client_profile=check_profile(str(raw["--rtc-client-profile"])),
        audio_score=parse_share(str(raw["--rtc-audio-score"])),
        audio_score_cpu=max(0.0, float(raw["--rtc-audio-score-cpu"])),
        keep_audio=max(0, int(float(raw["--rtc-keep-audio"]))),
    )
