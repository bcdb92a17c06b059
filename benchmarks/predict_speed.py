"""Prediction speed on 10 minutes of audio, in times real time.

Two measurements on the same generated 10-minute 16 kHz WAV:
- end to end: `emorec predict FILE --model DIR` in a fresh process (start-up, model loading,
  decoding, resampling, chunked inference, CSV writing), timed from outside;
- SavedModel alone: the `serving_stream` signature over the 22 050 Hz waveform in chunks, as
  `emorec predict` calls it, in an already warm process.

Usage: python benchmarks/predict_speed.py [--model saved_models/NAME] [--minutes 10] [--chunk-s 30]
Without --model, the paper's paralinguistic model (default config, random weights: speed does not
depend on the weights) is exported to a temporary folder first.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from scipy.io import wavfile  # noqa: E402


def speech_like(duration_s: float, sample_rate_hz: int) -> np.ndarray:
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    pitch_hz = 140 + 40 * np.sin(2 * np.pi * 0.7 * t)
    phase = 2 * np.pi * np.cumsum(pitch_hz) / sample_rate_hz
    voice = sum(np.sin(k * phase) / k for k in range(1, 8))
    return (0.2 * (0.2 + np.abs(np.sin(2 * np.pi * 0.4 * t))) * voice / 3).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="exported model folder [default: export the paper's model]")
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--chunk-s", type=float, default=30.0)
    args = parser.parse_args()

    from emorec.export.predict import ExportedModel

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = args.model
        if model_dir is None:
            from emorec.config import ModelConfig
            from emorec.export.saved_model import export_saved_model
            from emorec.models import build_model

            model_dir = export_saved_model(build_model(ModelConfig(), ["arousal", "valence", "liking"]),
                                           tmp / "paper_model", check_ops=False).parent
        duration_s = args.minutes * 60
        wav = tmp / "ten_minutes.wav"
        wavfile.write(wav, 16_000, (speech_like(duration_s, 16_000) * 32767).astype(np.int16))

        start = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "emorec.cli", "predict", str(wav), "--model", str(model_dir),
                                 "--out", str(tmp / "out"), "--chunk-s", str(args.chunk_s)],
                                capture_output=True, text=True)
        end_to_end_s = time.perf_counter() - start
        if result.returncode != 0:
            sys.exit(f"emorec predict failed: {result.stderr.strip()[-500:]}")

        from emorec.data.audio import load_audio

        model = ExportedModel(model_dir)
        waveform = load_audio(wav)
        model.predict_waveform(waveform[: 22050 * 5], args.chunk_s)  # warm-up: trace/compile once
        start = time.perf_counter()
        model.predict_waveform(waveform, args.chunk_s)
        saved_model_s = time.perf_counter() - start

    print(f"audio: {duration_s:.0f} s, model: {model_dir}, chunk: {args.chunk_s} s, "
          f"CPUs: {os.cpu_count()}")
    print(f"end to end (emorec predict, fresh process): {end_to_end_s:.2f} s = "
          f"{duration_s / end_to_end_s:.0f}x real time")
    print(f"SavedModel alone (serving_stream, warm):     {saved_model_s:.2f} s = "
          f"{duration_s / saved_model_s:.0f}x real time")


if __name__ == "__main__":
    main()
