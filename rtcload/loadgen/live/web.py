"""The live view's routes in Locust's own Flask app (locust 2.47 `WebUI`), behind its auth when enabled.

Extension points used (locust/web.py, and the modern UI's bundle in locust 2.47):
- `web_ui.app` routes, wrapped in `web_ui.auth_required_if_enabled`, under `--web-base-path`:
  `/quality` (the page), `/quality/data?since=SEQ` (JSON), `/quality/history.csv`, `/quality/call.csv?id=`;
- `web_ui.template_args` `extended_tabs` / `extended_tables` (a "Quality" tab in Locust's tab bar whose table
  rows arrive as `extended_stats` in `/stats/requests`) and `extended_csv_files` (links in "Download Data").
The tab shows the headline figures; the charts and the worst calls need the page (the tab renders tables only).
"""

from __future__ import annotations

import csv
import io
import json
from typing import Any

from rtcload.loadgen.live.aggregate import LiveAggregate
from rtcload.loadgen.live.csvfiles import history_text
from rtcload.loadgen.records import COLUMNS
from rtcload.report.live_page import render_page

TAB_KEY = "rtcload-quality"
TAB_STRUCTURE = [
    {"key": "metric", "title": "Metric"},
    {"key": "p50", "title": "p50"},
    {"key": "p95", "title": "p95"},
    {"key": "p5", "title": "p5"},
    {"key": "count", "title": "Samples"},
]
# metric -> (label, scale from base unit, unit shown, decimals): sub-millisecond for jitter and RTT
DISPLAY = {
    "mos": ("MOS (E-model)", 1.0, "", 2),
    "jitter": ("Jitter", 1000.0, " ms", 3),
    "rtt": ("RTT", 1000.0, " ms", 3),
    "packet_loss": ("Packet loss", 100.0, " %", 3),
    "post_dial_delay": ("Post-dial delay", 1000.0, " ms", 1),
    "call_setup": ("Call setup", 1000.0, " ms", 1),
}


def tab_rows(agg: LiveAggregate) -> list[dict[str, Any]]:
    """The Quality tab's table: the latest point's figures, formatted (the tab's cells are plain text)."""
    point = agg.points[-1] if agg.points else None
    metrics = point["metrics"] if point else {}
    rows = []
    for key, (label, scale, unit, decimals) in DISPLAY.items():
        entry = metrics.get(key) or {}
        cells = {
            stat: "-" if entry.get(stat) is None else f"{entry[stat] * scale:.{decimals}f}{unit}"
            for stat in ("p50", "p95", "p5")
        }
        rows.append({"metric": label, **cells, "count": entry.get("count", 0)})
    if point:
        calls = point["calls"]
        rows.append(
            {
                "metric": "Calls (in progress / answered / failed)",
                "p50": f"{calls['in_progress'] or 0:.0f} / {calls['answered']} / {calls['failed']}",
                "p95": "",
                "p5": "",
                "count": calls["attempted"],
            }
        )
    return rows


def install(web_ui: Any, environment: Any, agg: LiveAggregate) -> None:
    """Add the routes, the tab and the download links to Locust's web UI."""
    from flask import Blueprint, Response, request

    base = (getattr(environment.parsed_options, "web_base_path", None) or "").rstrip("/")
    blueprint = Blueprint("rtcload_live", __name__, url_prefix=base or None)
    guard = web_ui.auth_required_if_enabled

    def state() -> str:
        return str(environment.runner.state) if environment.runner is not None else ""

    @blueprint.route("/quality")
    @guard
    def page() -> Response:
        return Response(render_page(), mimetype="text/html")

    @blueprint.route("/quality/data")
    @guard
    def data() -> Response:
        try:
            since = int(request.args.get("since", "0"))
        except ValueError:
            return Response("since: an integer (the last point's seq)\n", status=400, mimetype="text/plain")
        return Response(json.dumps(agg.snapshot(since, state())), mimetype="application/json")

    @blueprint.route("/quality/history.csv")
    @guard
    def history() -> Response:
        return _download(history_text(agg.points, agg.started), "quality_history.csv")

    @blueprint.route("/quality/call.csv")
    @guard
    def call_row() -> Response:
        """One worst call's calls.csv row (header + row): the same cells calls.csv will hold for that call id."""
        entry = agg.worst.find(request.args.get("id", ""))
        if entry is None:
            return Response("no such call among the worst calls\n", status=404, mimetype="text/plain")
        row = entry["row"]
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=[*COLUMNS, *(k for k in row if k not in COLUMNS)])
        writer.writeheader()
        writer.writerow(row)
        return Response(out.getvalue(), mimetype="text/csv")

    web_ui.app.register_blueprint(blueprint)

    @web_ui.app.after_request
    def extend(response: Response) -> Response:
        path = request.path[len(base) :] if base and request.path.startswith(base) else request.path
        if path == "/stats/requests" and response.status_code == 200 and response.is_json:
            body = response.get_json()
            body["extended_stats"] = [{"key": TAB_KEY, "data": tab_rows(agg)}]
            response.set_data(json.dumps(body))
        elif path in ("/", "") and response.status_code == 200 and response.mimetype == "text/html":
            html = response.get_data(as_text=True)
            if "</body>" in html and 'id="rtcload-quality-link"' not in html:
                response.set_data(html.replace("</body>", QUALITY_LINK + "</body>", 1))
        return response

    web_ui.template_args.update(
        {
            "extended_tabs": [{"title": "Quality", "key": TAB_KEY}],
            "extended_tables": [{"key": TAB_KEY, "structure": TAB_STRUCTURE}],
            "extended_csv_files": [
                {"href": "./quality", "title": "Quality view: live charts, generator health, worst calls"},
                {"href": "./quality/history.csv", "title": "Download quality history CSV"},
            ],
        }
    )


# A link to the page over Locust's own UI (its tab bar only takes tables): bottom right, out of the way.
QUALITY_LINK = (
    '<a id="rtcload-quality-link" href="./quality" style="position:fixed;right:16px;bottom:16px;z-index:9999;'
    "background:#1565c0;color:#fff;padding:8px 14px;border-radius:18px;font:600 14px sans-serif;"
    'text-decoration:none;box-shadow:0 2px 6px rgba(0,0,0,.3)">Call quality &#9656;</a>'
)


def _download(text: str, name: str) -> Any:
    from flask import Response

    return Response(text, mimetype="text/csv", headers={"Content-Disposition": f"attachment;filename={name}"})
