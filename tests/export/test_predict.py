"""`predict_file` / `predict_array` / `emorec predict`: resampling, mixing down, CSV/PNG, bad inputs."""
from __future__ import annotations

import math

import numpy as np
import pytest
from click.testing import CliRunner
from scipy.io import wavfile

from emorec.cli import cli
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.errors import InputFileError
from emorec.export.saved_model import read_metadata
from emorec.evaluation.report import read_avec_predictions
from emorec.export.predict import (
    default_model_dir,
    predict_array,
    predict_file,
)

from .conftest import LABEL_NAMES, speech_like


def write_wav(path, signal: np.ndarray, rate: int) -> None:
    wavfile.write(path, rate, (np.clip(signal, -1, 1) * 32767).astype(np.int16))


def test_stereo_44k_and_mono_16k_give_the_same_curves(tmp_path, loaded):
    duration_s = 3.0
    mono_16k = speech_like(duration_s, 16_000, seed=5)
    hi = speech_like(duration_s, 44_100, seed=5)
    # Stereo: the same signal on both channels at slightly different gains (mean = the signal).
    write_wav(tmp_path / "hi.wav", np.stack([hi * 0.9, hi * 1.1], axis=1), 44_100)
    write_wav(tmp_path / "lo.wav", mono_16k, 16_000)
    hi_table = predict_file(tmp_path / "hi.wav", loaded)
    lo_table = predict_file(tmp_path / "lo.wav", loaded)
    assert len(hi_table) == len(lo_table) == math.ceil(duration_s * 10)
    for name in LABEL_NAMES:
        a, b = hi_table[name].to_numpy(), lo_table[name].to_numpy()
        assert np.std(a) > 1e-3, "curves must vary for the comparison to mean something"
        assert np.corrcoef(a, b)[0, 1] > 0.98
        assert np.max(np.abs(a - b)) < 0.15 * (np.max(a) - np.min(a))
    # Against a different recording the curves differ clearly (the check above can fail).
    other = predict_array(speech_like(duration_s, 16_000, seed=6) * 0.3, 16_000, loaded)
    assert np.max(np.abs(other["arousal"].to_numpy() - lo_table["arousal"].to_numpy())) > 1e-3


def test_predict_array_mixes_down_like_a_file(tmp_path, loaded):
    signal = speech_like(2.05, 22_050, seed=2)
    stereo = np.stack([signal, signal], axis=1)
    table = predict_array(stereo, 22_050, loaded, name="clip")
    assert list(table.columns) == ["name", "time_s", *LABEL_NAMES]
    np.testing.assert_allclose(table["time_s"], np.arange(21) * 0.1)
    whole = loaded.predict_waveform(signal, chunk_s=None)
    for name in LABEL_NAMES:
        np.testing.assert_allclose(table[name], whole[name], atol=1e-5)
    with pytest.raises(InputFileError, match="zero samples"):
        predict_array(np.zeros(0, np.float32), 16_000, loaded)
    with pytest.raises(InputFileError, match="more channels than samples"):
        predict_array(np.zeros((2, 16_000), np.float32), 16_000, loaded)


def test_cli_predict_reports_bad_files_and_processes_the_rest(tmp_path, exported):
    good = tmp_path / "good.wav"
    write_wav(good, speech_like(1.23, 16_000), 16_000)
    empty = tmp_path / "empty.wav"
    write_wav(empty, np.zeros(0, np.float32), 16_000)  # a valid header, zero samples
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"this is not audio at all\n" * 40)
    missing = tmp_path / "missing.wav"
    out = tmp_path / "out"
    result = CliRunner().invoke(
        cli, ["predict", str(missing), str(good), str(empty), str(garbage),
              "--model", str(exported.parent), "--out", str(out), "--plot"])
    assert result.exit_code == 1
    error_lines = result.stderr.strip().splitlines()
    for bad in (missing, empty, garbage):
        assert sum(str(bad) in line for line in error_lines) == 1, result.stderr
    assert all(line.startswith("error: ") for line in error_lines)
    assert "good.wav: 13 frames" in result.stdout
    table = read_avec_predictions(out / "good.csv", LABEL_NAMES)
    assert len(table) == 13 and set(table["name"]) == {"good"}
    np.testing.assert_allclose(table["time_s"], np.arange(13) * 0.1)
    first_line = (out / "good.csv").read_text().splitlines()[0]
    assert first_line.startswith("'good';0.00;") and first_line.count(";") == 1 + len(LABEL_NAMES)
    assert (out / "good.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["good.csv", "good.png"]


def test_cli_predict_without_model_gives_clear_error(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, speech_like(0.5, 16_000), 16_000)
    result = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "exported model not found" in str(result.exception)
    assert default_model_dir().parts[-2:] == ("saved_models", "emodb_paralinguistic")


def test_cli_export_from_run_folder(tmp_path, keras_model):
    import json

    from .conftest import tiny_model

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    keras_model.save(run_dir / "model_a.keras")
    tiny_model(seed=9).save(run_dir / "last.keras")  # newer, but not the run's best model
    (run_dir / "run.json").write_text(json.dumps({"label_names": ["valence", "arousal"],
                                                  "best_model": "model_a.keras"}))
    result = CliRunner().invoke(cli, ["export", "--run-dir", str(run_dir), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "m" / "1" / "saved_model.pb").is_file()
    assert read_metadata(tmp_path / "m" / "1")["label_names"] == ["valence", "arousal"]
    signal = speech_like(0.75, 22_050)  # 7.5 frames: the last one partial
    table = predict_array(signal, 22_050, tmp_path / "m")
    np.testing.assert_allclose(
        table["arousal"], np.asarray(keras_model({"audio": np.pad(signal, (0, 8 * FRAME_LENGTH_SAMPLES - len(signal)))
                                                  .reshape(1, 8, FRAME_LENGTH_SAMPLES)})["arousal"])[0],
        atol=1e-5)


def test_real_speech_44k_stereo_and_16k_mono(tmp_path, emodb_dir, loaded):
    """The same EmoDB utterance as its 16 kHz mono original and a 44.1 kHz stereo copy."""
    import soxr

    original = emodb_dir / "wav" / "03a01Fa.wav"
    rate, samples = wavfile.read(original)
    assert rate == 16_000 and samples.ndim == 1
    signal = samples.astype(np.float32) / 32768
    hi = soxr.resample(signal, 16_000, 44_100, quality="VHQ")
    write_wav(tmp_path / "hi.wav", np.stack([hi, hi], axis=1), 44_100)
    a = predict_file(tmp_path / "hi.wav", loaded)
    b = predict_file(original, loaded)
    assert abs(len(a) - len(b)) == 0
    for name in LABEL_NAMES:
        x, y = a[name].to_numpy(), b[name].to_numpy()
        assert np.std(y) > 1e-3
        assert np.corrcoef(x, y)[0, 1] > 0.99
        assert np.max(np.abs(x - y)) < 0.1 * (np.max(y) - np.min(y))


def test_two_files_with_one_name_do_not_overwrite_each_other(tmp_path, exported):
    from emorec.export.predict import predict_files

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "talk.wav", tmp_path / "b" / "talk.wav"
    write_wav(first, speech_like(0.5, 16_000), 16_000)
    write_wav(second, speech_like(0.9, 16_000), 16_000)
    report = predict_files([first, second], exported.parent, out_dir=tmp_path / "out")
    assert list(report.tables) == [str(first)]
    assert "same file name as" in report.errors[str(second)] and str(first) in report.errors[str(second)]
    assert len(read_avec_predictions(tmp_path / "out" / "talk.csv", LABEL_NAMES)) == 5  # the first file's
