"""How much training throughput varies from one process to the next (fp32 training once
flipped between ~120 and ~65 s of audio per second between runs, using 1.2 cores in some).

    python -m benchmarks.train_speed_spread [--runs 5] [--precision float32] [--rounds 3]

Starts `python -m benchmarks.train_speed --json` in `--runs` fresh processes, one after the other (each
with its own TensorFlow start-up, thread pools and oneDNN primitive cache, which is where a
process-level flip would come from), and reports, for emorec's model and for the Table 1
reference formulation measured beside it in each process: every run's median throughput, the
spread max/min over runs and the cores each used (CPU time over wall time while training).
Run it on an otherwise idle machine: the spread measures the software, not the neighbours.

Writes `benchmarks/results/train_speed_spread.json` (`--json PATH` to write elsewhere).
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, List, Sequence

RESULTS_JSON = Path(__file__).resolve().parent / "results" / "train_speed_spread.json"
COMMAND = "python -m benchmarks.train_speed_spread"
SPEED_MODULE = "benchmarks.train_speed"


def spread(values: Sequence[float]) -> float:
    """max / min of positive throughputs (1.0: identical runs)."""
    if not values or min(values) <= 0:
        raise ValueError(f"throughputs must be positive, got {list(values)}")
    return max(values) / min(values)


def summarise(runs: List[dict]) -> Dict[str, object]:
    """The spread of `train_audio_s_per_s` (and the reference's) over `train_speed.py` JSON lines."""
    model = [r["train_audio_s_per_s"] for r in runs]
    reference = [r["reference_train_audio_s_per_s"] for r in runs]
    return {
        "runs": len(runs),
        "train_audio_s_per_s": model,
        "reference_train_audio_s_per_s": reference,
        "train_spread": round(spread(model), 3),
        "reference_train_spread": round(spread(reference), 3),
        "cores_used": [r["cores_used"] for r in runs],
        "reference_cores_used": [r["reference_cores_used"] for r in runs],
        "train_speedup": [r["train_speedup"] for r in runs],
        "inference_speedup": [r["inference_speedup"] for r in runs],
        "precision": sorted({r["precision"] for r in runs}),
        "cpu_flags": runs[0]["cpu_flags"] if runs else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes, one after the other (default 5)")
    parser.add_argument("--precision", default="float32", help="train_speed.py's --precision (default float32)")
    parser.add_argument("--rounds", type=int, default=3, help="train_speed.py's --rounds per process (default 3)")
    parser.add_argument("--json", type=Path, default=RESULTS_JSON)
    args = parser.parse_args()
    if args.runs < 2:
        parser.error("--runs must be at least 2 for a spread")

    command = [sys.executable, "-m", SPEED_MODULE, "--json", "--precision", args.precision, "--rounds", str(args.rounds)]
    runs, started = [], time.perf_counter()
    for index in range(args.runs):
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        lines = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
        if len(lines) != 1:
            raise SystemExit(f"run {index + 1}: expected one JSON line from {SPEED_MODULE}, got {len(lines)}")
        runs.append(lines[0])
        print(f"run {index + 1}/{args.runs}: {lines[0]['train_audio_s_per_s']} s/s "
              f"(reference {lines[0]['reference_train_audio_s_per_s']}), cores {lines[0]['cores_used']}", flush=True)
    result = {
        **summarise(runs),
        "machine": f"{platform.machine()}, {runs[0].get('cpu_count')} CPU cores",
        "wall_s": round(time.perf_counter() - started, 1),
        "command": f"{COMMAND} --runs {args.runs} --precision {args.precision} "
                   f"--rounds {args.rounds}",
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"spread over {args.runs} processes: model {result['train_spread']}, "
          f"reference {result['reference_train_spread']} -> {args.json}")


if __name__ == "__main__":
    main()
