"""Speech2Vec training time on EmoDB's train speakers, measured on a subset and extrapolated.

    python -m benchmarks.speech2vec_speed [--utterances 40] [--epochs 1] [--units 64] [--old OLD.py]

Trains `--epochs` epochs on the first `--utterances` utterances of the train speakers (03, 08, 09,
10, 12, 13) of `../shared/data/emodb` and prints seconds per epoch, pairs per second and the
extrapolation to the whole train partition at 6 epochs (time scales with the number of skip-gram
pairs). `--old` times another implementation of `train_speech2vec` (a file) on the same subset.
The figure is only as good as the machine is quiet: state the load beside it.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import time
from pathlib import Path

TRAIN_SPEAKERS = ("03", "08", "09", "10", "12", "13")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--utterances", type=int, default=40)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--old", default=None, help="A file with another train_speech2vec to time as well.")
    parser.add_argument("--data", default=str(Path(__file__).resolve().parents[1].parent / "shared" / "data" / "emodb"))
    args = parser.parse_args()

    from emorec.config import Speech2VecConfig
    from emorec.semantic import speech2vec
    from emorec.semantic.segments import load_utterances

    everything = [u for u in load_utterances(args.data) if u.speaker in TRAIN_SPEAKERS]
    subset = everything[: args.utterances]
    config = Speech2VecConfig(encoder_units=args.units, decoder_units=args.units, epochs=args.epochs)
    full_pairs = len(speech2vec.skipgram_pairs(everything, config.window))
    subset_pairs = len(speech2vec.skipgram_pairs(subset, config.window))
    implementations = {"current": speech2vec.train_speech2vec}
    if args.old:
        spec = importlib.util.spec_from_file_location("old_speech2vec", args.old)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        implementations["old"] = module.train_speech2vec
    report = {"command": "python -m benchmarks.speech2vec_speed " + " ".join(
                  f"--{k} {v}" for k, v in vars(args).items() if v is not None and k != "data"),
              "train_utterances": len(everything), "train_pairs": full_pairs,
              "subset_utterances": len(subset), "subset_pairs": subset_pairs, "units": args.units,
              "load_average_1min": os.getloadavg()[0], "cpus": os.cpu_count()}
    for name, train in implementations.items():
        train(subset[:4], Speech2VecConfig(encoder_units=args.units, decoder_units=args.units, epochs=1))  # warm-up
        started = time.perf_counter()
        train(subset, config)
        seconds = (time.perf_counter() - started) / args.epochs
        report[name] = {"seconds_per_epoch_subset": round(seconds, 2),
                        "pairs_per_second": round(subset_pairs / seconds, 1),
                        "extrapolated_minutes_6_epochs_train": round(6 * seconds * full_pairs / subset_pairs / 60, 1)}
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
