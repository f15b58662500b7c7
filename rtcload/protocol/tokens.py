"""JWT helpers for login tokens: read `exp` without verifying (what the SDK does) to plan refresh."""

from __future__ import annotations

import base64
import json
from typing import Any

TOKEN_EXPIRY_WARNING_S = 120.0


def jwt_claims(token: str) -> dict[str, Any] | None:
    """Unverified claims of a JWT, or None if it is not a three-part JWT with a JSON payload."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload.encode()))
    except (ValueError, UnicodeDecodeError):
        return None
    return claims if isinstance(claims, dict) else None


def jwt_expiry(token: str) -> float | None:
    """The `exp` claim (epoch seconds), or None."""
    claims = jwt_claims(token)
    if claims is None:
        return None
    exp = claims.get("exp")
    return float(exp) if isinstance(exp, int | float) and not isinstance(exp, bool) else None


def refresh_delay(token: str, now_epoch: float, lead_s: float = TOKEN_EXPIRY_WARNING_S) -> float | None:
    """Seconds until the token should be refreshed (`lead_s` before exp; 0 if already inside it)."""
    exp = jwt_expiry(token)
    if exp is None:
        return None
    return max(0.0, exp - lead_s - now_epoch)
