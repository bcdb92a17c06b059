"""Issue 13 rows 1 and 4 end to end: `emorec convert` and `emorec predict` on 32-bit PCM and on a
header claiming 1 Hz, through the CLI with the shipped default model."""
from __future__ import annotations

import time

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from emorec.cli import cli
from emorec.data.manifest import shard_paths
from emorec.data.schema import example_to_recording
from emorec.errors import EmorecError
from emorec.evaluation.report import read_avec_predictions
from emorec.export.predict import ExportedModel, default_model_dir
from tests.faults.wav_bytes import sine, wav_bytes


def voice_like(rate_hz: int, duration_s: float) -> np.ndarray:
    """Pitch- and loudness-modulated harmonics: the model's outputs vary over time with it."""
    t = np.arange(int(rate_hz * duration_s)) / rate_hz
    phase = 2 * np.pi * np.cumsum(150 + 40 * np.sin(2 * np.pi * 0.7 * t)) / rate_hz
    loudness = 0.2 + 0.6 * np.abs(np.sin(2 * np.pi * 0.4 * t))
    return 0.3 * loudness * sum(np.sin(k * phase) / k for k in range(1, 8)) / 2


def one_line_refusal(result, path, *parts):
    """click ran the command as `emorec` would: an EmorecError is printed as one line, exit 1."""
    assert isinstance(result.exception, EmorecError), result.output
    message = str(result.exception) if str(path) in str(result.exception) else result.stderr.strip()
    assert str(path) in message and "\n" not in message.strip(), message
    for part in parts:
        assert part in message, message


def write_manifest_layout(root, files):
    root.mkdir(parents=True, exist_ok=True)
    rows = ["audio,labels,partition,speaker"]
    for name, data in files.items():
        (root / f"{name}.wav").write_bytes(data)
        (root / f"{name}.csv").write_text("time_s,arousal\n0.0,0.1\n3.0,0.5\n")
        rows.append(f"{name}.wav,{name}.csv,train,spk_{name}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_convert_stores_int32_and_int16_files_of_one_signal_alike(tmp_path):
    x = voice_like(16_000, 1.0)
    csv = write_manifest_layout(tmp_path / "src", {"i16": wav_bytes(x, 16_000, "int", 16),
                                                   "i32": wav_bytes(x, 16_000, "int", 32),
                                                   "i24": wav_bytes(x, 16_000, "int", 24)})
    result = CliRunner().invoke(cli, ["convert", "--layout", "manifest", str(csv), str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 0, result.output
    recordings = {}
    for path in shard_paths(tmp_path / "out", "train"):
        for record in tf.data.TFRecordDataset(str(path)):
            recording = example_to_recording(record.numpy())
            recordings[recording.name] = recording.audio[: recording.num_samples]
    assert set(recordings) == {"i16", "i24", "i32"}
    assert np.max(np.abs(recordings["i16"])) > 0.1  # not the near-silence of float-bit decoding
    np.testing.assert_allclose(recordings["i32"], recordings["i16"], atol=1e-4)
    np.testing.assert_allclose(recordings["i24"], recordings["i16"], atol=1e-4)


def test_convert_refuses_a_one_hz_header_fast_and_leaves_no_manifest(tmp_path):
    csv = write_manifest_layout(tmp_path / "src", {"one_hz": wav_bytes(sine(16_000, 30_000), 1)})
    started = time.perf_counter()
    result = CliRunner().invoke(cli, ["convert", "--layout", "manifest", str(csv), str(tmp_path / "out"), "--quiet"])
    assert time.perf_counter() - started < 5  # was 91 s and 3.6 GB
    one_line_refusal(result, tmp_path / "src" / "one_hz.wav", "1 Hz", "--allow-sample-rate")
    assert not (tmp_path / "out" / "manifest.json").exists()
    # The override reaches the converter, which then stops at the duration cap (8.3 h > 4 h).
    result = CliRunner().invoke(cli, ["convert", "--layout", "manifest", str(csv), str(tmp_path / "out"), "--quiet",
                                      "--allow-sample-rate"])
    one_line_refusal(result, tmp_path / "src" / "one_hz.wav", "--max-duration-s")


@pytest.fixture(scope="module")
def shipped_model():
    path = default_model_dir()
    if not path.is_dir():
        pytest.skip(f"shipped model not found at {path}")
    return ExportedModel(path)


def test_predict_gives_int32_the_predictions_of_int16(tmp_path, shipped_model):
    x = voice_like(16_000, 2.0)
    (tmp_path / "i16.wav").write_bytes(wav_bytes(x, 16_000, "int", 16))
    (tmp_path / "i32.wav").write_bytes(wav_bytes(x, 16_000, "int", 32))
    silence = tmp_path / "silence.wav"
    silence.write_bytes(wav_bytes(np.zeros_like(x), 16_000, "int", 16))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", str(tmp_path / "i16.wav"), str(tmp_path / "i32.wav"), str(silence),
                                      "--model", str(default_model_dir()), "--out", str(out), "--format", "avec",
                                      "--quiet"])
    assert result.exit_code == 0, result.output
    names = shipped_model.label_names
    i16, i32, quiet = (read_avec_predictions(out / f"{n}.wav.csv", names)[names].to_numpy() for n in ("i16", "i32", "silence"))
    assert i16.shape == (20, len(names)) and np.all(np.isfinite(i32))
    np.testing.assert_allclose(i32, i16, atol=1e-3)
    assert np.max(np.abs(i16 - quiet)) > 1e-2  # the check above could fail: silence predicts otherwise


def test_predict_refuses_a_one_hz_header_with_the_flag_to_override(tmp_path):
    path = tmp_path / "one_hz.wav"
    path.write_bytes(wav_bytes(sine(16_000, 30_000), 1))
    result = CliRunner().invoke(cli, ["predict", str(path), "--model", str(default_model_dir()),
                                      "--out", str(tmp_path / "out"), "--quiet"])
    assert result.exit_code == 1
    one_line_refusal(result, path, "1 Hz", "--allow-sample-rate")
    assert not (tmp_path / "out" / "one_hz.wav.csv").exists()
    # The flags reach the decoder: a real 800 Hz file (2 s) predicts with --allow-sample-rate, and
    # --max-duration-s lowers the cap.
    low = tmp_path / "low_rate.wav"
    low.write_bytes(wav_bytes(sine(800, 1600, 100.0), 800))
    args = ["predict", str(low), "--model", str(default_model_dir()), "--out", str(tmp_path / "out"), "--quiet"]
    one_line_refusal(CliRunner().invoke(cli, args), low, "800 Hz", "--allow-sample-rate")
    result = CliRunner().invoke(cli, args + ["--allow-sample-rate"])
    assert result.exit_code == 0, result.output
    assert len((tmp_path / "out" / "low_rate.wav.csv").read_text().splitlines()) == 1 + 20  # header + 2 s of frames
    one_line_refusal(CliRunner().invoke(cli, args + ["--allow-sample-rate", "--max-duration-s", "1.5", "--overwrite"]),
                     low,
                     "2 s of audio", "--max-duration-s")
