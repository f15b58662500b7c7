"""Samples -> Prometheus: what each finished measurement adds to this process' registry.

Called from `WebRTCUser.fire` on the gevent side, beside the Locust event of the same sample, so
Locust's statistics and Prometheus always count the same things. Only bounded labels are used:
the sample's code/cause/outcome were already reduced to fixed sets by endpoint.py.
"""

from __future__ import annotations

from rtcload.loadgen.endpoint import Sample
from rtcload.metrics.catalog import Kind, measurement
from rtcload.metrics.exporter import GeneratorMetrics

DIRECTION = "receive"  # quality is rated from what the generator receives from the platform


def record(metrics: GeneratorMetrics, sample: Sample) -> None:
    m = measurement(sample.key)
    if sample.outcome:
        metrics.inc("calls", result=sample.outcome)
    if not sample.ok:
        metrics.inc("errors", code=sample.code or "other")
        if sample.cause:
            metrics.inc("hangup_causes", cause=sample.cause)
    if sample.key == "reconnect":
        metrics.inc("reconnects", result="ok" if sample.ok else "exhausted")
    elif sample.key == "reattach":
        metrics.inc("reattach", result="reattached" if sample.ok else "lost")
    elif sample.key == "turn_allocations":
        metrics.inc("turn_allocations", outcome=sample.label or "error")
    elif sample.key == "ice_selected":
        metrics.inc("ice_selected", candidate=sample.label or "none")
    elif sample.key == "ice_warnings":
        metrics.inc("ice_warnings", warning=sample.label or "other")
    elif sample.key == "call_reports":
        metrics.inc("call_reports", outcome=sample.label or "failed")
    elif sample.key == "rejected_datagrams":
        metrics.inc("rejected_datagrams", sample.value or 0.0, kind=sample.label or "unknown")
    elif sample.key == "stale_receive_stamps":
        metrics.inc("stale_receive_stamps", sample.value or 0.0)
    elif sample.key == "audio_scores":
        metrics.inc("audio_scores", result=sample.label or "failed")
    elif sample.key in ("send_gaps", "send_drops") and sample.value:
        metrics.inc(sample.key, sample.value)
    if m.kind is Kind.HISTOGRAM and sample.ok and sample.value is not None:
        labels = {"direction": DIRECTION} if "direction" in m.labels else {}
        if sample.key == "audio_mos":  # label is "method/codec", both from fixed sets (audio_calls.metric_label)
            method, _, codec = sample.label.partition("/")
            labels = {"method": method or "other", "codec": codec or "other"}
        metrics.observe(sample.key, sample.value, **labels)
