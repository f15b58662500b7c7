"""What a destination should send back, as a source spec, when rtcload knows it (pure: strings only).

- `echo` (and `early`, which echoes): our own source, whatever we send;
- `prompt`: the emulator's spoken prompt, the `speech` source (a route that plays another prompt or a
  garbled one must score low against it: that is the point);
- `tone[;freq=F]`: the tone;
- anything else (a real platform's IVR, another user): None, scored without a reference.

Only speech is scored against a reference (`scorable`): ViSQOL's speech mode does not hear dropouts in a
stationary tone (measured here: a 440 Hz tone with 10 % of its 20 ms frames zeroed scored 4.46, the clean
tone 4.45), so a tone reference would report a perfect score for a broken call.
"""

from __future__ import annotations

PROMPT_SPEC = "speech"


def reference_spec(destination: str, source: str) -> str | None:
    name, *knobs = destination.strip().split(";")
    name = name.strip().lower()
    if name == "tone":
        freq = next((k.split("=", 1)[1].strip() for k in knobs if k.strip().startswith("freq=")), "440")
        return f"tone:{freq}"
    if name == "prompt":
        return PROMPT_SPEC
    if name in ("echo", "early"):
        return None if source.strip().startswith("silence") else source
    return None


def scorable(spec: str | None) -> bool:
    """A reference worth scoring against (speech or a WAV), or None: the far end's unknown audio, scored
    without a reference. Tones, dual tones and silence are not scored."""
    return spec is None or spec.strip().startswith(("speech", "wav:"))
