"""`emorec demo`: generate a small learnable dataset, convert it, train, evaluate, print CCC.

The generated speech-like signal is a harmonic tone whose prosody follows its continuous labels,
so the model can learn them from the waveform alone:

- arousal (in [-1, 1]) sets loudness: -32 dBFS at -1 to -8 dBFS at +1, and speeds up a
  syllable-like amplitude modulation (3 to 6 Hz);
- valence (in [-1, 1]) sets pitch: 150 Hz times 2^(valence / 2) (a half octave each way).

Labels are slow random curves (sums of sinusoids below 0.3 Hz) sampled at 10 Hz, like the AVEC
annotations. The source folder is in the converter's `manifest` layout (WAV files, label CSVs and
a CSV listing them) and goes through `tfrecords_tools.convert_dataset` like any user's data.
"""
from __future__ import annotations

import csv
import shutil
import time
from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from scipy.io import wavfile

from emorec.config import RESOURCES_DIR, ExperimentConfig, load_config
from emorec.constants import FRAME_LENGTH_SAMPLES, FRAME_RATE_HZ, SAMPLE_RATE_HZ
from emorec.data.schema import Recording
from emorec.errors import PathLike

DEMO_LABEL_NAMES = ("arousal", "valence")

#: Recordings per partition of the demo dataset, and speakers (disjoint across partitions).
DEMO_RECORDINGS = {"train": 24, "devel": 6, "test": 6}


def label_curves(rng: np.random.Generator, num_frames: int, num_dimensions: int) -> np.ndarray:
    """Slow random curves in [-1, 1], `[num_frames, num_dimensions]` at FRAME_RATE_HZ."""
    time_s = np.arange(num_frames) / FRAME_RATE_HZ
    curves = np.zeros((num_frames, num_dimensions))
    for d in range(num_dimensions):
        for _ in range(3):
            frequency_hz = rng.uniform(0.03, 0.3)
            curves[:, d] += rng.uniform(0.3, 1.0) * np.sin(2 * np.pi * frequency_hz * time_s + rng.uniform(0, 2 * np.pi))
        curves[:, d] += rng.uniform(-0.5, 0.5)  # each recording has its own mean level
    return np.clip(curves / 1.5, -1.0, 1.0).astype(np.float32)


def synthesise_audio(rng: np.random.Generator, labels: np.ndarray) -> np.ndarray:
    """A harmonic voice-like signal at SAMPLE_RATE_HZ whose loudness/rate follow arousal (column
    0) and pitch follows valence (column 1); `[num_frames * FRAME_LENGTH_SAMPLES]` float32."""
    num_samples = labels.shape[0] * FRAME_LENGTH_SAMPLES
    frame_times = np.arange(labels.shape[0]) / FRAME_RATE_HZ
    sample_times = np.arange(num_samples) / SAMPLE_RATE_HZ
    arousal = np.interp(sample_times, frame_times, labels[:, 0])
    valence = np.interp(sample_times, frame_times, labels[:, 1]) if labels.shape[1] > 1 else np.zeros_like(arousal)
    f0_hz = 150.0 * 2.0 ** (valence / 2.0)
    phase = 2 * np.pi * np.cumsum(f0_hz) / SAMPLE_RATE_HZ
    voice = sum(np.sin(k * phase) / k for k in range(1, 6))
    syllable_hz = 4.5 + 1.5 * arousal
    envelope = 0.6 + 0.4 * np.sin(2 * np.pi * np.cumsum(syllable_hz) / SAMPLE_RATE_HZ)
    gain = 10.0 ** ((-20.0 + 12.0 * arousal) / 20.0)
    signal = gain * envelope * voice / 2.0 + rng.normal(0, 0.002, num_samples)
    return np.clip(signal, -1, 1).astype(np.float32)


def synthetic_recordings(
    *,
    recordings: Dict[str, int] = DEMO_RECORDINGS,
    duration_s: Tuple[float, float] = (4.0, 8.0),
    label_names: Sequence[str] = DEMO_LABEL_NAMES,
    seed: int = 0,
):
    """Yield `Recording`s of the synthetic dataset (seeded, so every call gives the same data)."""
    rng = np.random.default_rng(seed)
    for partition, count in recordings.items():
        for index in range(count):
            num_frames = int(round(rng.uniform(*duration_s) * FRAME_RATE_HZ))
            labels = label_curves(rng, num_frames, len(label_names))
            audio = synthesise_audio(rng, labels)
            yield Recording(
                name=f"{partition}_{index:03d}",
                partition=partition,
                speaker=f"{partition}_speaker{index % 3}",
                num_samples=audio.shape[0],
                audio=audio,
                label_names=list(label_names),
                labels=labels,
                label_mask=np.ones(num_frames, np.float32),
            )


def write_manifest_source(recordings, source_dir: PathLike) -> Path:
    """Write recordings as the converter's `manifest` layout: `audio/<name>.wav` (16-bit PCM),
    `labels/<name>.csv` (`time_s,<dim>,...` at 10 Hz) and `manifest.csv` listing them."""
    source_dir = Path(source_dir)
    (source_dir / "audio").mkdir(parents=True, exist_ok=True)
    (source_dir / "labels").mkdir(parents=True, exist_ok=True)
    rows = []
    for recording in recordings:
        audio_path = source_dir / "audio" / f"{recording.name}.wav"
        pcm = np.round(recording.audio[: recording.num_samples] * 32767).astype(np.int16)
        wavfile.write(audio_path, SAMPLE_RATE_HZ, pcm)
        label_path = source_dir / "labels" / f"{recording.name}.csv"
        with label_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(["time_s", *recording.label_names])
            for i, row in enumerate(recording.labels):
                writer.writerow([f"{i / FRAME_RATE_HZ:.1f}", *(f"{v:.6f}" for v in row)])
        rows.append({"audio": f"audio/{recording.name}.wav", "labels": f"labels/{recording.name}.csv",
                     "words": "", "partition": recording.partition, "speaker": recording.speaker})
    with (source_dir / "manifest.csv").open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return source_dir / "manifest.csv"


def demo_config() -> ExperimentConfig:
    """The demo's experiment, `emorec/resources/demo.yaml`: packaged, so that `emorec demo` from a
    wheel trains what it does from a checkout."""
    return load_config(RESOURCES_DIR / "demo.yaml")


def convert(source_dir: Path, data_dir: Path) -> None:
    """Convert the generated source folder exactly as a user's own data would be."""
    from tfrecords_tools import convert_dataset

    convert_dataset("manifest", source_dir / "manifest.csv", data_dir, overwrite=True, progress=False)


def run_demo(workdir: PathLike = "emorec-demo", *, config: Optional[ExperimentConfig] = None,
             epochs: Optional[int] = None, verbose="auto", echo=print) -> Dict[str, Dict[str, float]]:
    """Generate, convert, train and evaluate in `workdir`; returns `{partition: {dim: ccc, "mean": ..}}`."""
    from emorec.evaluation.evaluate import evaluate_run
    from emorec.training.run_folder import RUN_INFO_FILENAME
    from emorec.training.train import resolve_config, train_model

    workdir = Path(workdir)
    config = config or demo_config()
    config = resolve_config(config, epochs=epochs)
    started = time.monotonic()
    recordings = list(synthetic_recordings(seed=config.training.seed))
    source_dir, data_dir, run_dir = workdir / "source", workdir / "data", workdir / "run"
    echo(f"[1/4] generating {len(recordings)} recordings in {source_dir}")
    write_manifest_source(recordings, source_dir)
    convert(source_dir, data_dir)
    echo(f"[2/4] converted to {data_dir} with the manifest layout")
    if (run_dir / RUN_INFO_FILENAME).is_file():
        shutil.rmtree(run_dir)  # a previous demo's run: the demo always trains afresh
    echo(f"[3/4] training into {run_dir}")
    train_model(config, data_dir, run_dir, verbose=verbose)
    scores = {}
    for partition in ("devel", "test"):
        echo(f"[4/4] evaluating on {partition}")
        scores[partition] = evaluate_run(run_dir, data_dir, partition, echo=echo)
    echo(f"demo finished in {time.monotonic() - started:.0f} s")
    return scores
