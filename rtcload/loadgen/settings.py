"""Locust command-line arguments and environment variables of rtcload, parsed into one settings object.

Every option is a Locust custom argument (shown in the web UI unless a secret) with an RTCLOAD_*
environment variable, so the same scenario runs from a laptop, CI or a Kubernetes worker unchanged.
They are put on Locust's parser by rtcload.options.build.add_locust_options (group `load`).
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
from rtcload.options.table import check_defaults, load_table
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


# name, env, default, help, kind: the --rtc-* options, defined in the registry (rtcload/options/registry.toml)
_OPTIONS: tuple[tuple[str, str, Any, str, str], ...] = load_table("load")
check_defaults(
    _OPTIONS,
    {
        "--rtc-destinations": DEFAULT_DESTINATIONS,
        "--rtc-opus-bitrate": str(DEFAULT_BITRATE),
        "--rtc-client-profile": DEFAULT_CLIENT_PROFILE,
        "--rtc-media-path": DEFAULT_MEDIA_PATH,
    },
)
LOAD_OPTIONS = _OPTIONS  # read by `rtcload run` to list and forward them (one definition)
LEGACY_ENV = names.RENAMED_ENV  # old variables still read for a release: new -> old
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


def _get(options: Any, flag: str, env: str, default: Any) -> Any:
    attr = flag.removeprefix("--").replace("-", "_")
    value = getattr(options, attr, None) if options is not None else None
    if value is None or value == "":
        value = process_env.renamed_text(env, default)
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
