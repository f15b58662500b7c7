"""What the emulator's relay pays to transcode a bridged call whose legs negotiated different codecs.

Per 20 ms packet, in one thread like the emulator's decode thread (rtcload.media.engine.transcode): the
Transcoder's decode + encode for each direction (Opus -> PCMU, PCMU -> Opus, PCMA -> PCMU), beside the
same-codec relay's cost (none beyond forwarding the payload, shown as the baseline: 0). Prints microseconds
per packet, the CPU share of one core that one transcoded call (both directions, 50 packets/s each) costs,
and how many such calls one core could carry. No sockets: the transcoder's output goes to a counter.

    python bench/transcode.py --packets 2000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from rtcload.media.encoded import encoded_frames
from rtcload.media.engine.transcode import Transcoder

PAIRS = (("opus", "pcmu"), ("pcmu", "opus"), ("pcma", "pcmu"), ("opus", "pcma"))


def per_packet_us(source: str, target: str, packets: int, loop: asyncio.AbstractEventLoop) -> float:
    out: list[int] = []
    transcoder = Transcoder(source, target, lambda payload, *_: out.append(len(payload)), loop)
    frames = encoded_frames("speech", source)
    step = 960 if source == "opus" else 160
    for index in range(50):  # warm up: the encoder's and resampler's first frames
        transcoder.transcode(frames[index % len(frames)], index * step, False, 0.0)
    started = time.process_time()
    for index in range(50, 50 + packets):
        transcoder.transcode(frames[index % len(frames)], index * step, False, 0.0)
    return (time.process_time() - started) / packets * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--packets", type=int, default=2000, help="packets per direction measured (bounded)")
    args = parser.parse_args()
    loop = asyncio.new_event_loop()  # the transcoder hands its output to a loop; nothing runs it here
    costs = {pair: per_packet_us(*pair, min(args.packets, 100_000), loop) for pair in PAIRS}
    print(f"{'direction':<16}{'us/packet':>10}")
    print(f"{'same codec':<16}{0.0:>10.1f}   (baseline: the relay forwards the payload as it is)")
    for (source, target), cost in costs.items():
        print(f"{source + ' -> ' + target:<16}{cost:>10.1f}")
    both = costs[("opus", "pcmu")] + costs[("pcmu", "opus")]
    share = both * 50 / 1e6
    print(f"one Opus<->PCMU call (both ways, 50 packets/s each): {share * 100:.2f} % of a core; "
          f"about {int(1 / share) if share else 0} such calls per core")  # fmt: skip
    loop.close()


if __name__ == "__main__":
    main()
