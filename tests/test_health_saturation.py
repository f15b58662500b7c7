"""The live "generator saturated" check: one loop stall in a 10 s window is not saturation, a loop late
for more than 5 % of its wake-ups is (the probes sample 10 times a second: ~100 samples a window)."""

from __future__ import annotations

from rtcload.loadgen.health import Health


def fill(health: Health, stalls: int, samples: int = 100, stall_s: float = 0.08) -> None:
    for i in range(samples):
        health.gevent_lag.record(stall_s if i < stalls else 0.001)
        health.asyncio_lag.record(0.001)


def test_one_or_two_stalls_in_a_window_are_not_saturation():
    for stalls in (1, 2):
        health = Health()
        fill(health, stalls)
        assert not health.saturated(), stalls
    short = Health()  # fewer samples than a full window: nearest-rank p99 would be the single stall
    fill(short, 1, samples=80)
    assert not short.saturated()


def test_a_loop_late_for_more_than_five_percent_of_wakeups_is_saturated():
    health = Health()
    fill(health, 6)
    assert health.saturated()
    assert health.loop_lag() == (0.001, 0.08)


def test_the_warning_names_the_quantile_it_judged(caplog):
    health = Health()
    fill(health, 10)
    with caplog.at_level("WARNING", logger="rtcload.loadgen"):
        health.warn_if_saturated()
    assert "loop lag p95 asyncio 0.001 s / gevent 0.080 s" in caplog.text
