"""Reproduce the ViSQOL port's conformance figures on Google's published vectors (issue 24).

visqol-python 3.8.0 (the scorer of `rtcload[audio]`) states in its README ("Conformance Test Results") the
MOS of each pair of google/visqol's `testdata/` as computed by the official C++ ViSQOL v3.3.3. The vectors
are not in the wheel and not in this repository (Google's files, Apache-2.0): get them with
`git clone --depth 1 https://github.com/google/visqol` and pass its `testdata` directory. This script
scores each pair with the installed port, the way rtcload calls it (`measure_from_arrays`, speech mode
with the lattice model for CA01) and prints expected, measured and the difference.

    python bench/visqol_conformance.py /path/to/visqol/testdata [--speech-only]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import soundfile
from visqol import VisqolApi

# (reference, degraded, expected MOS) from the visqol-python 3.8.0 README, C++ ViSQOL v3.3.3 values
AUDIO_CASES = (
    ("strauss48_stereo.wav", "strauss48_stereo_lp35.wav", 1.3889),
    ("steely48_stereo.wav", "steely48_stereo_lp7.wav", 2.2502),
    ("sopr48_stereo.wav", "sopr48_stereo_256kbps_aac.wav", 4.6823),
    ("ravel48_stereo.wav", "ravel48_stereo_128kbps_opus.wav", 4.4651),
    ("moonlight48_stereo.wav", "moonlight48_stereo_128kbps_aac.wav", 4.6843),
    ("harpsichord48_stereo.wav", "harpsichord48_stereo_96kbps_mp3.wav", 4.2237),
    ("guitar48_stereo.wav", "guitar48_stereo_64kbps_aac.wav", 4.3497),
    ("glock48_stereo.wav", "glock48_stereo_48kbps_aac.wav", 4.3325),
    ("contrabassoon48_stereo.wav", "contrabassoon48_stereo_24kbps_aac.wav", 2.3469),
    ("castanets48_stereo.wav", "castanets48_stereo.wav", 4.7321),
)
SPEECH_CASE = ("clean_speech/CA01_01.wav", "clean_speech/transcoded_CA01_01.wav", 3.3130)  # lattice model


def measure(api: VisqolApi, reference: Path, degraded: Path) -> float:
    return float(api.measure(str(reference), str(degraded)).moslqo)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("testdata", type=Path)
    parser.add_argument("--speech-only", action="store_true")
    args = parser.parse_args()
    rows = []
    speech = VisqolApi()
    speech.create(mode="speech", use_lattice_model=True)
    ref, deg, expected = SPEECH_CASE
    t0 = time.monotonic()
    rows.append(("speech_CA01 (lattice)", expected, measure(speech, args.testdata / ref, args.testdata / deg), t0))
    if not args.speech_only:
        audio = VisqolApi()
        audio.create(mode="audio")
        base = args.testdata / "conformance_testdata_subset"
        for ref, deg, expected in AUDIO_CASES:
            t0 = time.monotonic()
            rows.append((deg.removesuffix(".wav"), expected, measure(audio, base / ref, base / deg), t0))
    print("| case | expected (C++ v3.3.3) | visqol-python here | diff |")
    print("|---|---|---|---|")
    for name, expected, measured, _t0 in rows:
        print(f"| {name} | {expected:.4f} | {measured:.4f} | {abs(measured - expected):.6f} |")
    info = soundfile.info(str(args.testdata / SPEECH_CASE[0]))
    print(f"(CA01: {info.samplerate} Hz, {info.channels} channel, {info.duration:.2f} s)")


if __name__ == "__main__":
    main()
