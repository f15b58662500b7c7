"""Where a dialed destination goes. Pure: a destination string in, a Route out.

Destinations are a name plus optional `;key=value` knobs, e.g. `echo`, `tone;freq=1000`,
`echo;hangup=2` (remote bye 2 s after answer), `echo;ring=1.5;answer=0.5` (per-call delays),
`early` (early media, then answer without SDP), `prompt` (a spoken prompt; `prompt;text=other` a
different one, `prompt;garble=1` the same one garbled: audio-score tests), `echo;playout=80ms` (the echo's
fixed playout delay; `playout=0`: forwarded at once). Registered usernames/numbers ring that client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rtcload.distributions import Distribution, parse_distribution
from rtcload.emulator.playout import KNOB, parse_playout, with_playout


class RouteKind(StrEnum):
    ECHO = "echo"  # answered; media sent back as received
    TONE = "tone"  # answered; a steady tone (freq knob, default 440 Hz)
    PROMPT = "prompt"  # answered; a spoken prompt (the `speech` source); text=other / garble=1: the wrong one
    SILENCE = "silence"  # answered; digital silence
    ONEWAY = "oneway"  # answered; the platform sends no audio (one-way audio fault)
    EARLY = "early"  # early media (telnyx_rtc.media with SDP), then answer without SDP
    BUSY = "busy"  # bye USER_BUSY / 486 instead of answer
    REJECT = "reject"  # bye CALL_REJECTED / 603
    NOANSWER = "noanswer"  # rings until the no-answer timeout, then bye NO_ANSWER / 480
    USER = "user"  # a registered endpoint: an inbound call to that client, legs bridged
    UNALLOCATED = "unallocated"  # nobody there: bye UNALLOCATED_NUMBER / 404


MEDIA_KINDS = frozenset(
    {RouteKind.ECHO, RouteKind.TONE, RouteKind.PROMPT, RouteKind.SILENCE, RouteKind.ONEWAY, RouteKind.EARLY}
)
_SERVICE_NAMES = {kind.value: kind for kind in RouteKind if kind not in (RouteKind.USER, RouteKind.UNALLOCATED)}


@dataclass(frozen=True)
class Route:
    kind: RouteKind
    target: str = ""  # the username rung, for USER routes
    knobs: dict[str, str] = field(default_factory=dict)

    def delay(self, name: str, default: Distribution) -> Distribution:
        return parse_distribution(self.knobs[name]) if name in self.knobs else default

    def float_knob(self, name: str, default: float | None = None) -> float | None:
        value = self.knobs.get(name)
        return float(value) if value is not None else default

    @property
    def media_mode(self) -> str:
        """The emulator media endpoint's mode for this route."""
        if self.kind is RouteKind.TONE:
            return f"tone:{self.knobs.get('freq', '440')}"
        if self.kind is RouteKind.PROMPT:  # audio scores (issue 24): a platform playing a wrong or garbled prompt
            if self.knobs.get("garble", "0") not in ("", "0"):
                return "speech:garbled"
            return "speech:other" if self.knobs.get("text") == "other" else "speech"
        if self.kind in (RouteKind.ECHO, RouteKind.EARLY):
            return with_playout("echo", self.knobs)
        return self.kind.value


class RouteError(ValueError):
    """A destination the emulator cannot parse (bad knob syntax or value)."""


def parse_destination(destination: str) -> tuple[str, dict[str, str]]:
    name, *parts = destination.strip().split(";")
    knobs: dict[str, str] = {}
    for part in parts:
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise RouteError(f"bad destination knob {part!r} (expected key=value)")
        knobs[key.strip()] = value.strip()
    for key in ("ring", "answer"):
        if key in knobs:
            try:
                parse_distribution(knobs[key])
            except ValueError as exc:
                raise RouteError(f"bad {key} delay: {exc}") from None
    if knobs.get("text", "") not in ("", "other"):
        raise RouteError(f"bad text value {knobs['text']!r} (expected other)")
    if knobs.get("garble", "0") not in ("", "0", "1"):
        raise RouteError(f"bad garble value {knobs['garble']!r} (expected 0 or 1)")
    if KNOB in knobs:
        try:
            parse_playout(knobs[KNOB])
        except ValueError as exc:
            raise RouteError(str(exc)) from None
    for key in ("hangup", "freq"):
        if key in knobs:
            try:
                float(knobs[key])
            except ValueError:
                raise RouteError(f"bad {key} value {knobs[key]!r}") from None
    return name.strip(), knobs


def route(destination: str, registered: dict[str, str]) -> Route:
    """`registered` maps usernames and numbers to the username that answers them."""
    name, knobs = parse_destination(destination)
    service = _SERVICE_NAMES.get(name.lower())
    if service is not None:
        return Route(service, knobs=knobs)
    username = registered.get(name)
    if username is not None:
        return Route(RouteKind.USER, target=username, knobs=knobs)
    return Route(RouteKind.UNALLOCATED, target=name, knobs=knobs)
