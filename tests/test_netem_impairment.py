"""The pure impairment model (statistics, ordering, blackouts, rate, parser) and the UDP relay on loopback."""

from __future__ import annotations

import asyncio
import itertools
import math
import random
import statistics

import pytest

from rtcload.media.answerer import StaticAnswerer
from rtcload.netem.impairment import (
    PROFILES,
    Drop,
    GilbertElliott,
    Impairer,
    Impairment,
    SpecError,
    packet_class,
    parse_impairment,
)
from rtcload.netem.sdp_relay import ImpairedAnswerer, rewrite_candidates, sdp_candidates
from rtcload.netem.udp_relay import UdpRelay
from rtcload.quality.rfc3550 import burst_r_from_losses

INTERVAL = 0.02  # a 50 pps media stream


def run(imp: Impairment, n: int, kind: str = "rtp", size: int = 200) -> list[list[float]]:
    impairer = Impairer(imp)
    return [impairer.decide(i * INTERVAL, size, kind) for i in range(n)]


def rfc3550_jitter(arrivals: list[tuple[float, float]]) -> float:
    """RFC 3550 §6.4.1 estimator over (arrival, rtp timestamp) in arrival order, as aiortc computes it."""
    jitter, previous = 0.0, None
    for arrival, stamp in sorted(arrivals):
        transit = arrival - stamp
        if previous is not None:
            jitter += (abs(transit - previous) - jitter) / 16
        previous = transit
    return jitter


def test_random_loss_matches_the_configured_probability():
    n, loss = 100_000, 0.05
    dropped = sum(1 for times in run(Impairment(loss=loss, seed=3), n) if not times)
    sigma = math.sqrt(loss * (1 - loss) / n)
    assert abs(dropped / n - loss) < 4 * sigma


def test_gilbert_elliott_loss_rate_and_burstiness_follow_the_chain():
    ge = GilbertElliott(p=0.02, r=0.25)  # loss only in the bad state
    trace = [not times for times in run(Impairment(burst=ge, seed=5), 200_000)]
    assert abs(sum(trace) / len(trace) - ge.stationary_loss) < 0.01
    # mean burst length 1/r and BurstR = 1/(p + r) for a two-state chain with loss_bad=1, loss_good=0
    bursts = sum(1 for i, x in enumerate(trace) if x and (i == 0 or not trace[i - 1]))
    assert abs(sum(trace) / bursts - 1 / ge.r) < 0.3
    assert abs(burst_r_from_losses(trace) - 1 / (ge.p + ge.r)) < 0.3
    random_trace = [not times for times in run(Impairment(loss=ge.stationary_loss, seed=5), 200_000)]
    assert abs(burst_r_from_losses(random_trace) - 1.0) < 0.05


def test_without_reordering_no_packet_leaves_before_its_predecessor():
    times = [t[0] for t in run(Impairment(delay_s=0.05, jitter_s=0.03, seed=1), 20_000)]
    assert all(b >= a for a, b in itertools.pairwise(times))
    reordered = [t[0] for t in run(Impairment(delay_s=0.05, jitter_s=0.03, reorder=True, seed=1), 20_000)]
    assert sum(1 for a, b in itertools.pairwise(reordered) if b < a) > 1000


def test_jitter_is_normal_around_the_delay_when_reordering_is_allowed():
    n = 50_000
    delays = [t[0] - i * INTERVAL for i, t in enumerate(run(Impairment(0.1, 0.01, reorder=True, seed=2), n))]
    assert abs(statistics.fmean(delays) - 0.1) < 0.0005
    assert abs(statistics.stdev(delays) - 0.01) < 0.0005


def test_rfc3550_jitter_of_normal_delays_is_two_sigma_over_root_pi():
    """The expectation the media jitter test relies on, checked on the model itself."""
    sigma = 0.005
    times = run(Impairment(delay_s=0.04, jitter_s=sigma, reorder=True, seed=9), 30_000)
    arrivals = [(t[0], i * INTERVAL) for i, t in enumerate(times)]
    measured = statistics.fmean(rfc3550_jitter(arrivals[k : k + 1500]) for k in range(0, 30_000, 1500))
    assert abs(measured - 2 * sigma / math.sqrt(math.pi)) / (2 * sigma / math.sqrt(math.pi)) < 0.05


def test_blackout_windows_drop_everything_inside_and_nothing_outside():
    impairer = Impairer(Impairment(blackouts=((1.0, 1.5), (3.0, 3.2))))
    for i in range(400):
        t = i * 0.01
        times = impairer.decide(t, 100)
        inside = 1.0 <= t < 1.5 or 3.0 <= t < 3.2
        assert (times == []) is inside, t
        assert (impairer.last_drop is Drop.BLACKOUT) is inside


def test_duplication_rate_and_copies():
    outcomes = run(Impairment(duplicate=0.1, seed=4), 50_000)
    dups = [t for t in outcomes if len(t) == 2]
    assert abs(len(dups) / 50_000 - 0.1) < 0.006
    assert all(a == b for a, b in dups)


def test_rate_limit_paces_departures_and_tail_drops_an_overload():
    rate = 8_000.0  # 64 kbit/s
    impairer = Impairer(Impairment(rate_bytes_s=rate, bucket_bytes=200, queue_s=0.2))
    # 400-byte packets every 20 ms = 160 kbit/s offered: 2.5x the rate
    outcomes = [impairer.decide(i * 0.02, 400) for i in range(500)]
    sent = [t[0] for t in outcomes if t]
    assert all(b - a >= 400 / rate - 1e-9 for a, b in itertools.pairwise(sent))
    assert abs(len(sent) * 400 / (sent[-1] - sent[0]) - rate) / rate < 0.02
    assert all(t[0] - i * 0.02 <= 0.2 + 1e-9 for i, t in enumerate(outcomes) if t)
    assert sum(1 for t in outcomes if not t) > 250
    # under the rate nothing waits longer than one packet's serialisation
    light = Impairer(Impairment(rate_bytes_s=rate, bucket_bytes=1500))
    assert all(light.decide(i * 0.02, 100)[0] - i * 0.02 < 1e-9 for i in range(500))


def test_seeded_runs_repeat_and_control_traffic_does_not_shift_the_media_pattern():
    imp = Impairment(loss=0.1, jitter_s=0.01, delay_s=0.03, seed=11)
    assert run(imp, 1000) == run(imp, 1000)
    plain = Impairer(imp)
    mixed = Impairer(imp)
    rng = random.Random(0)
    a, b = [], []
    for i in range(2000):
        a.append(bool(plain.decide(i * INTERVAL, 200, "rtp")))
        if rng.random() < 0.3:
            mixed.decide(i * INTERVAL, 100, "stun")
        b.append(bool(mixed.decide(i * INTERVAL, 200, "rtp")))
    assert a == b
    assert run(Impairment(loss=0.1, seed=12), 1000) != run(imp, 1000)


def test_packet_classes_follow_rfc7983():
    assert packet_class(b"\x00\x01rest") == "stun"
    assert packet_class(b"\x16\xfe\xfd") == "dtls"
    assert packet_class(bytes([0x80, 0x00])) == "rtp"
    assert packet_class(bytes([0x80, 200])) == "rtcp"
    assert packet_class(b"") == "other"


# ---------------------------------------------------------------- spec parser


def test_parses_the_full_custom_spec():
    imp = parse_impairment(
        "delay=50ms,jitter=10ms,loss=2%,burst=gilbert:0.05:0.5,dup=0.1%,rate=64kbit,blackout=10s-12s,seed=7"
    )
    assert imp.delay_s == pytest.approx(0.05) and imp.jitter_s == pytest.approx(0.01)
    assert imp.loss == pytest.approx(0.02) and imp.duplicate == pytest.approx(0.001)
    assert imp.burst == GilbertElliott(0.05, 0.5) and imp.rate_bytes_s == pytest.approx(8000)
    assert imp.blackouts == ((10.0, 12.0),) and imp.seed == 7 and imp.reorder is False


def test_profiles_and_overrides():
    assert set(PROFILES) >= {"lan", "wifi", "4g", "congested", "satellite", "lossy-burst"}
    assert parse_impairment("4g") == PROFILES["4g"]
    imp = parse_impairment("profile=satellite,loss=3%,reorder,blackout=1s-2s,blackout=500ms-600ms")
    assert imp.delay_s == PROFILES["satellite"].delay_s and imp.loss == pytest.approx(0.03) and imp.reorder
    assert imp.blackouts == ((0.5, 0.6), (1.0, 2.0))
    assert parse_impairment("wifi,seed=3") == PROFILES["wifi"].with_seed(3)
    assert parse_impairment("lossy-burst").burst is not None


@pytest.mark.parametrize(
    ("spec", "fragment"),
    [
        ("", "empty"),
        ("delay=50", "delay"),
        ("jitter=fast", "jitter"),
        ("loss=120%", "100 %"),
        ("loss=-1%", "loss"),
        ("burst=markov:0.1:0.2", "gilbert"),
        ("burst=gilbert:0.1", "gilbert"),
        ("burst=gilbert:0.1:0", "never leave"),
        ("rate=64", "rate"),
        ("blackout=12s-10s", "start < end"),
        ("blackout=10s", "blackout"),
        ("seed=x", "seed"),
        ("colour=red", "unknown key"),
        ("profile=moon", "unknown profile"),
        ("nonsense", "key=value"),
    ],
)
def test_bad_specs_name_the_problem(spec: str, fragment: str):
    with pytest.raises(SpecError, match=fragment):
        parse_impairment(spec)


# ---------------------------------------------------------------- SDP rewrite and the relay itself

ANSWER = (
    "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 40000 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 127.0.0.5\r\n"
    "a=candidate:1 1 udp 2130706431 127.0.0.5 40000 typ host\r\n"
    "a=candidate:2 1 udp 2130706175 127.0.0.6 40002 typ host\r\n"
    "a=candidate:3 1 tcp 1518280447 127.0.0.5 9 typ host tcptype active\r\n"
    "a=end-of-candidates\r\n"
)


def test_sdp_rewrite_points_the_only_candidate_at_the_relay():
    out = rewrite_candidates(ANSWER, ("127.0.0.1", 5555))
    assert sdp_candidates(out) == [("udp", ("127.0.0.1", 5555))]
    assert "m=audio 5555 UDP/TLS/RTP/SAVPF 0\r\n" in out and "c=IN IP4 127.0.0.1\r\n" in out
    assert out.endswith("\r\n") and "a=end-of-candidates" in out


async def test_relay_forwards_both_ways_and_counts():
    loop = asyncio.get_running_loop()
    got: dict[str, asyncio.Queue[tuple[bytes, tuple[str, int]]]] = {
        "client": asyncio.Queue(),
        "target": asyncio.Queue(),
    }

    class Sink(asyncio.DatagramProtocol):
        def __init__(self, name: str) -> None:
            self.name = name

        def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
            got[self.name].put_nowait((data, addr))

    target_tr, _ = await loop.create_datagram_endpoint(lambda: Sink("target"), local_addr=("127.0.0.1", 0))
    client_tr, _ = await loop.create_datagram_endpoint(lambda: Sink("client"), local_addr=("127.0.0.1", 0))
    target = target_tr.get_extra_info("sockname")[:2]
    try:
        async with UdpRelay(target, up=Impairment(delay_s=0.05), down=Impairment(duplicate=1.0)) as relay:
            sent_at = loop.time()
            client_tr.sendto(b"\x80\x00hello", relay.address)
            data, source = await asyncio.wait_for(got["target"].get(), 5)
            assert data == b"\x80\x00hello" and source == relay.address
            assert loop.time() - sent_at >= 0.045
            target_tr.sendto(b"back", relay.address)  # goes to the last-seen client, twice
            for _ in range(2):
                data, source = await asyncio.wait_for(got["client"].get(), 5)
                assert data == b"back" and source == relay.address
            up, down = relay.counters["up"], relay.counters["down"]
            assert (up.packets_in, up.packets_out, up.delayed, up.rtp_in) == (1, 1, 1, 1)
            assert (down.packets_in, down.packets_out, down.duplicated, down.bytes_out) == (1, 2, 1, 8)
            assert relay.snapshot()["down"]["duplicated"] == 1
    finally:
        target_tr.close()
        client_tr.close()


def test_reconfigure_mid_run_keeps_fifo_order_and_applies_the_new_impairment():
    impairer = Impairer(Impairment(delay_s=0.2, seed=1))
    first = impairer.decide(0.0, 100)[0]
    impairer.reconfigure(Impairment(delay_s=0.0, seed=1))
    second = impairer.decide(0.02, 100)[0]
    assert first == pytest.approx(0.2) and second == first  # not before its predecessor
    assert impairer.decide(1.0, 100) == [1.0]
    impairer.reconfigure(Impairment(loss=1.0))
    assert impairer.decide(1.1, 100) == [] and impairer.last_drop is Drop.LOSS


async def test_impaired_answerer_puts_the_relay_on_both_sides_of_the_sdp():
    class RecordingAnswerer(StaticAnswerer):
        async def answer(self, call_id: str, offer: str, mode: str) -> str:
            self.offers[call_id] = offer
            return ANSWER

    inner = RecordingAnswerer()
    answerer = ImpairedAnswerer(inner, Impairment(loss=0.1), Impairment(delay_s=0.01))
    offer = ANSWER.replace("127.0.0.5 40000", "127.9.9.9 50000").replace("127.0.0.", "127.9.9.")
    answer = await answerer.answer("c1", offer, "echo")
    relay = answerer.relay("c1")
    assert relay is not None and relay.target == ("127.0.0.5", 40000) and relay.client == ("127.9.9.9", 50000)
    assert relay.target_aliases == {("127.0.0.6", 40002)}
    assert sdp_candidates(inner.offers["c1"]) == [("udp", relay.address)]
    assert sdp_candidates(answer) == [("udp", relay.address)]
    await answerer.add_candidate("c1", "candidate:9 1 udp 1 127.9.9.9 50002 typ host", "0", 0)  # already advertised
    assert inner.candidates.get("c1") is None
    released = await answerer.release("c1")
    assert released is not None and released["netem"]["relay"] == f"127.0.0.1:{relay.port}"
    assert "c1" not in answerer.relays and answerer.relay("c1") is relay
