"""On/off environment switches of the media layer (RTCLOAD_ENGINE_NATIVE, RTCLOAD_GC_FREEZE,
RTCLOAD_GC_QUIET).

They are read with the one boolean vocabulary of rtcload (`rtcload.options.kinds.parse_bool`), so
`=0/off/false/no/n` turns a switch off, `=1/on/true/yes/y` leaves it on, and anything else is an
error naming the variable rather than a silent guess."""

from __future__ import annotations

from rtcload.options import env


def switched_off(name: str) -> bool:
    """The environment turns `name` off (unset or blank leaves it on; a word that is not a boolean raises)."""
    return not env.flag(name, default=True)
