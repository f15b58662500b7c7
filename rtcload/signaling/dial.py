"""Where and how the client dials: the target URL of a (re)connect with the SDK's reconnect query
(`voice_sdk_id`, `skip_last_voice_sdk_id`) and the TLS context of a wss:// target.

Pure functions of the configuration, apart from the session's lifecycle so that the security rule
(TLS verified unless the user turned it off, and then a warning) sits in one small, testable place.
"""

from __future__ import annotations

import logging
import ssl
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rtcload.signaling.config import ClientConfig

log = logging.getLogger("rtcload.signaling")


def netloc(url: str) -> str:
    """host:port of a target, for messages (never the query, which may carry ids)."""
    return urlsplit(url).netloc


def target_url(url: str, voice_sdk_id: str | None, skip_last_voice_sdk_id: bool) -> str:
    """The URL to dial: `url`, plus the SDK's reconnect query when it holds a voice_sdk_id."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    if voice_sdk_id:
        query.append(("voice_sdk_id", voice_sdk_id))
        if skip_last_voice_sdk_id:
            query.append(("skip_last_voice_sdk_id", "true"))
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(query), parts.fragment))


def ssl_context(config: ClientConfig) -> ssl.SSLContext | None:
    """TLS for wss:// targets: verified by default (the CA file if given); None for ws://."""
    if not config.url.startswith("wss://"):
        return None
    if config.verify_tls:
        return ssl.create_default_context(cafile=config.ca_file)
    log.warning("[%s] TLS verification is OFF for %s", config.label, netloc(config.url))
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
