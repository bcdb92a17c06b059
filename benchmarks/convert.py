"""Conversion speed: seconds of audio converted per wall-clock second, on EmoDB.

    python -m benchmarks.convert [--source ../shared/data/emodb] [--workers N] [--repeats 3]

Each run converts the whole corpus (decode, resample to 22.05 kHz, align, serialise, write shards
and manifest) into a fresh temporary folder. The first figure includes loading tensorflow-io (a
one-time cost of a process); the repeats show the steady state. Target: >= 300x real time on
2 CPU cores.
"""
from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from benchmarks.emodb_folders import SOURCE  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(SOURCE))
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    import tensorflow as tf  # noqa: F401  (not part of the measured time: every emorec process has it)

    from tfrecords_tools import convert_dataset

    speeds = []
    for run in range(args.repeats + 1):
        with tempfile.TemporaryDirectory() as out:
            started = time.perf_counter()
            report = convert_dataset("emodb", args.source, out, workers=args.workers, progress=False)
            wall_s = time.perf_counter() - started
        speed = report.audio_s / wall_s
        label = "cold (loads tensorflow-io)" if run == 0 else f"run {run}"
        print(f"{label:>28}: {report.recordings} recordings, {report.audio_s:.1f} s of audio in {wall_s:.2f} s "
              f"= {speed:.0f}x real time")
        if run > 0:
            speeds.append(speed)
    print(f"median over {args.repeats} warm runs: {statistics.median(speeds):.0f}x real time "
          f"({os.cpu_count()} CPUs, workers={args.workers or 'default'})")


if __name__ == "__main__":
    main()
