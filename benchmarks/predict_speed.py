"""Prediction speed of `emorec predict`, in times real time, against the SavedModel alone.

Generated audio (speech-like, seeded): one 10-minute 16 kHz WAV, and 400 clips of 1-5 s at
16 / 22.05 / 44.1 kHz in 4 speaker folders. Figures:
- `savedmodel_alone_x_real_time`: the `serving_stream` signature over the long file's 22 050 Hz
  waveform in 30 s chunks, as `emorec predict` calls it, in a warm process (no decoding, no output);
- `one_long_file_x_real_time`: `predict_files` on the long file in the same warm process
  (decoding, resampling, chunked inference, CSV writing): what prediction adds to the model;
- `many_short_files_x_real_time`: `predict_files` on the 400 clips in the same warm process
  (decoding in parallel with batched inference), and `many_short_files_one_at_a_time_x_real_time`,
  the same clips with `batch_audio_s=0, workers=1` (one call per file after its decoding, as
  `emorec predict` did before), measured in the same rounds;
- `*_audio_s_per_cpu_s`: the same runs in seconds of audio per CPU second of this process (all
  threads), which other load on the machine does not change;
- `*_fresh_process_x_real_time`: `emorec predict` in a new process, timed from outside, which adds
  Python start-up, the TensorFlow import and model loading (`fresh_process_startup_s` measures
  those alone).
Warm figures are the best of `--rounds` interleaved rounds (other load on the machine only ever
slows a round down). Targets: one long file >= 70 % of the SavedModel alone; many short
files >= 150x real time on 2 cores.

Usage: python -m benchmarks.predict_speed [--json] [--model saved_models/NAME] [--minutes 10]
       [--clips 400] [--rounds 2] [--skip-fresh]
Without --model, the paper's paralinguistic model (default config, random weights: speed does not
depend on the weights) is exported to a temporary folder first.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy.io import wavfile  # noqa: E402

COMMAND = "python -m benchmarks.predict_speed"


def speech_like(duration_s: float, sample_rate_hz: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    pitch_hz = 140 + 40 * np.sin(2 * np.pi * 0.7 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(pitch_hz) / sample_rate_hz
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.2 * (0.2 + np.abs(np.sin(2 * np.pi * 0.4 * t))) * voice / 3).astype(np.float32)


def write_wav(path: Path, signal: np.ndarray, rate: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    wavfile.write(path, rate, (np.clip(signal, -1, 1) * 32767).astype(np.int16))


def cpu_description() -> dict:
    from emorec.training.hardware import read_cpu_model, speed_relevant_cpu_flags, usable_cpu_count

    return {"cpu_model": read_cpu_model() or platform.processor() or "unknown",
            "cpu_flags": speed_relevant_cpu_flags(), "cpu_cores": usable_cpu_count(),
            "load_average_1min_at_start": round(os.getloadavg()[0], 2)}


def fresh_process_s(arguments: list) -> float:
    start = time.perf_counter()
    result = subprocess.run([sys.executable, *arguments], capture_output=True, text=True)
    elapsed_s = time.perf_counter() - start
    if result.returncode != 0:
        sys.exit(f"{' '.join(arguments[:3])} failed: {result.stderr.strip()[-800:]}")
    return elapsed_s


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="exported model folder [default: export the paper's model]")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the long file")
    parser.add_argument("--clips", type=int, default=400, help="number of short clips (1-5 s each)")
    parser.add_argument("--chunk-s", type=float, default=30.0)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved rounds of the warm measurements")
    parser.add_argument("--skip-fresh", action="store_true", help="no `emorec predict` in a fresh process")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    command = shlex.join([*shlex.split(COMMAND), *sys.argv[1:]])
    figures = {"command": command, **cpu_description()}

    from emorec.data.audio import load_audio
    from emorec.export.predict import ExportedModel, predict_files

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = args.model
        if model_dir is None:
            from emorec.config import ModelConfig
            from emorec.export.saved_model import export_saved_model
            from emorec.models import build_model

            model_dir = export_saved_model(build_model(ModelConfig(), ["arousal", "valence", "liking"]),
                                           tmp / "paper_model", check_ops=False).parent
        long_wav = tmp / "long" / "ten_minutes.wav"
        write_wav(long_wav, speech_like(args.minutes * 60, 16_000), 16_000)
        rng = np.random.default_rng(0)
        clips = []
        for index in range(args.clips):
            rate = int(rng.choice([16_000, 22_050, 44_100]))
            clip = tmp / "clips" / f"spk{index % 4}" / f"clip{index:03d}.wav"
            write_wav(clip, speech_like(float(rng.uniform(1.0, 5.0)), rate, seed=index), rate)
            clips.append(clip)

        model = ExportedModel(model_dir)
        waveform = load_audio(long_wav)
        long_audio_s = len(waveform) / 22_050
        model.predict_waveform(waveform[: 22_050 * 5], args.chunk_s)  # warm-up: graph optimisation once
        predict_files(clips[:8], model)
        best = {}

        def measure(name: str, call) -> float:
            """Run `call` (returns seconds of audio); keep the best wall-clock and CPU-time speed.

            CPU time (all threads of this process) reads the same however loaded the machine is:
            audio seconds per CPU second, times the cores, bounds what an idle machine can reach."""
            wall, cpu = time.perf_counter(), time.process_time()
            audio_s = call()
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            best[f"{name}_x_real_time"] = max(best.get(f"{name}_x_real_time", 0.0), audio_s / wall)
            best[f"{name}_audio_s_per_cpu_s"] = max(best.get(f"{name}_audio_s_per_cpu_s", 0.0), audio_s / cpu)
            return audio_s

        def stream_alone() -> float:
            model.predict_waveform(waveform, args.chunk_s)
            return long_audio_s

        def files(paths, out, **options) -> float:
            return predict_files(paths, model, out_dir=tmp / out, overwrite=True, chunk_s=args.chunk_s,
                                 **options).audio_s

        clips_audio_s = 0.0
        for _ in range(max(1, args.rounds)):
            measure("savedmodel_alone", stream_alone)
            measure("one_long_file", lambda: files([long_wav], "out_long"))
            clips_audio_s = measure("many_short_files", lambda: files(clips, "out_clips"))
            measure("many_short_files_one_at_a_time",
                    lambda: files(clips, "out_clips", batch_audio_s=0, workers=1))
        figures.update({name: round(value, 1) for name, value in best.items()})
        figures["one_long_file_fraction_of_savedmodel"] = round(
            best["one_long_file_x_real_time"] / best["savedmodel_alone_x_real_time"], 3)
        figures["many_short_files_speedup_over_one_at_a_time"] = round(
            best["many_short_files_x_real_time"] / best["many_short_files_one_at_a_time_x_real_time"], 2)

        if not args.skip_fresh:
            cli = ["-c", "from emorec.cli import main; main()", "predict", "--model", str(model_dir), "--quiet",
                   "--chunk-s", str(args.chunk_s), "--overwrite"]
            startup_s = fresh_process_s(["-c", "from emorec.export.predict import ExportedModel; "
                                               f"ExportedModel({str(model_dir)!r}); import emorec.data.audio"])
            long_s = fresh_process_s([*cli, "--out", str(tmp / "fresh_long"), str(long_wav)])
            clips_s = fresh_process_s([*cli, "--out", str(tmp / "fresh_clips"), *map(str, clips)])
            figures.update(fresh_process_startup_s=round(startup_s, 2),
                           one_long_file_fresh_process_x_real_time=round(long_audio_s / long_s, 1),
                           many_short_files_fresh_process_x_real_time=round(clips_audio_s / clips_s, 1))
    figures.update(long_file_audio_s=round(long_audio_s, 1), short_files=len(clips),
                   short_files_audio_s=round(clips_audio_s, 1), model=str(args.model or "paper model, random weights"),
                   rounds=args.rounds, load_average_1min_at_end=round(os.getloadavg()[0], 2))
    if args.json:
        print(json.dumps(figures))
    else:
        for name, value in figures.items():
            print(f"{name}: {value}")


if __name__ == "__main__":
    main()
