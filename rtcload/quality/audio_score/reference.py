"""What a destination should send back, as a source spec, when rtcload knows it (pure: strings only).

- `echo` (and `early`, which echoes): our own source, whatever we send;
- `prompt`: the emulator's spoken prompt, the `speech` source (a route that plays another prompt or a
  garbled one must score low against it: that is the point);
- `tone[;freq=F]`: the tone;
- anything else (a real platform's IVR, another user): None, scored without a reference.
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
