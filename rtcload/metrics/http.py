"""The per-process /metrics endpoint of Locust processes: a gevent WSGI server (no OS thread).

prometheus_client's start_http_server runs a threading HTTP server; under Locust's monkey patching
that thread is a greenlet anyway, so a gevent.pywsgi server says what really happens and stops cleanly.
"""

from __future__ import annotations

import logging
from typing import Any

from prometheus_client import CollectorRegistry, make_wsgi_app

log = logging.getLogger("rtcload.metrics")


def serve_metrics(registry: CollectorRegistry, host: str, port: int) -> Any:
    """Start serving `registry` on http://host:port/metrics; returns the started server (call .stop())."""
    from gevent.pywsgi import WSGIServer

    app = make_wsgi_app(registry)

    def routed(environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") in ("/metrics", "/"):
            return app(environ, start_response)
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"metrics on /metrics\n"]

    server = WSGIServer((host, port), routed, log=None, error_log=log)
    server.start()
    return server
