"""`predict_file` / `predict_files` / `predict_array` / `emorec predict`: resampling, mixing down,
batching, output names and layouts, refused overwrites, progress, bad inputs."""
from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from scipy.io import wavfile

from emorec.cli import cli
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.errors import InputFileError, OutputExistsError
from emorec.export.saved_model import read_metadata
from emorec.evaluation.report import read_avec_predictions
from emorec.export.predict import (
    default_model_dir,
    output_paths,
    predict_array,
    predict_file,
    predict_files,
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
    signal = speech_like(2.05, 22_050, seed=2)  # 45 202 samples: 21 frames, the last one partial
    stereo = np.stack([signal, signal], axis=1)
    table = predict_array(stereo, 22_050, loaded, name="clip")
    assert list(table.columns) == list(LABEL_NAMES)
    assert table.index.names == ["file", "start", "end"]
    assert set(table.index.get_level_values("file")) == {"clip"}
    starts = table.index.get_level_values("start")
    ends = table.index.get_level_values("end")
    assert list(starts) == [pd.Timedelta(milliseconds=100 * i) for i in range(21)]
    assert list(ends[:-1]) == [pd.Timedelta(milliseconds=100 * (i + 1)) for i in range(20)]
    assert abs(ends[-1] - pd.Timedelta(seconds=45_202 / 22_050)) < pd.Timedelta(microseconds=1)
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
    error_lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(error_lines) == 3, result.stderr
    for bad in (missing, empty, garbage):
        assert sum(str(bad) in line for line in error_lines) == 1, result.stderr
    # Progress: a bar over the 4 files; not a terminal, so whole lines, no carriage returns.
    assert "\r" not in result.stderr
    assert any(line.startswith("predict") and "4/4" in line for line in result.stderr.splitlines()), result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert summary.startswith("predicted 1 file(s), 3 failed: 1.2 s of audio in ") and "x real time" in summary
    # One CSV with a header, named by the input's file name (suffix kept).
    lines = (out / "good.wav.csv").read_text().splitlines()
    assert lines[0] == "file,start_s,end_s," + ",".join(LABEL_NAMES)
    assert len(lines) == 1 + 13
    rows = pd.read_csv(out / "good.wav.csv")
    assert set(rows["file"]) == {str(good)}  # the absolute path
    np.testing.assert_allclose(rows["start_s"], np.arange(13) * 0.1)
    np.testing.assert_allclose(rows["end_s"], [*(np.arange(1, 13) * 0.1), 1.23], atol=1e-4)
    assert (out / "good.wav.png").read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in out.iterdir()) == ["good.wav.csv", "good.wav.png"]


def test_cli_predict_avec_format_is_the_headerless_label_layout(tmp_path, exported):
    good = tmp_path / "good.wav"
    write_wav(good, speech_like(1.23, 16_000), 16_000)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", str(good), "--model", str(exported.parent), "--out", str(out),
                                      "--format", "avec", "--quiet"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""  # --quiet: no progress
    first_line = (out / "good.wav.csv").read_text().splitlines()[0]
    assert first_line.startswith("'good';0.00;") and first_line.count(";") == 1 + len(LABEL_NAMES)
    table = read_avec_predictions(out / "good.wav.csv", LABEL_NAMES)
    assert len(table) == 13 and set(table["name"]) == {"good"}
    np.testing.assert_allclose(table["time_s"], np.arange(13) * 0.1)


def test_cli_predict_without_model_gives_clear_error(tmp_path):
    wav = tmp_path / "a.wav"
    write_wav(wav, speech_like(0.5, 16_000), 16_000)
    result = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(tmp_path / "nope")])
    assert result.exit_code != 0
    assert "exported model not found" in str(result.exception)
    assert default_model_dir().parts[-2:] == ("saved_models", "emodb_paralinguistic")


@pytest.mark.slow
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


def test_output_names_keep_folders_and_suffixes(tmp_path):
    names = output_paths([tmp_path / "a" / "talk.wav", tmp_path / "b" / "talk.wav", tmp_path / "a" / "talk.mp3",
                          tmp_path / "a" / "deep" / "talk.flac"], "OUT")
    assert [str(path) for path in names.values()] == [
        os.path.join("OUT", "a", "talk.wav.csv"), os.path.join("OUT", "b", "talk.wav.csv"),
        os.path.join("OUT", "a", "talk.mp3.csv"), os.path.join("OUT", "a", "deep", "talk.flac.csv")]
    # One file, or files of one folder: just the file names.
    assert list(output_paths(["x/y/talk.wav"], "OUT").values()) == [Path("OUT/talk.wav.csv")]


def test_same_names_in_two_folders_and_two_formats_get_their_own_outputs(tmp_path, exported):
    import soundfile

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first, second = tmp_path / "a" / "talk.wav", tmp_path / "b" / "talk.wav"
    write_wav(first, speech_like(0.5, 16_000), 16_000)
    write_wav(second, speech_like(0.9, 16_000), 16_000)
    flac = tmp_path / "a" / "talk.flac"
    soundfile.write(flac, speech_like(1.4, 16_000, seed=3), 16_000)
    report = predict_files([first, second, flac], exported.parent, out_dir=tmp_path / "out")
    assert report.errors == {}
    assert {len(pd.read_csv(tmp_path / "out" / name)) for name in ("a/talk.wav.csv", "b/talk.wav.csv",
                                                                    "a/talk.flac.csv")} == {5, 9, 14}
    assert report.outputs[str(flac)] == [tmp_path / "out" / "a" / "talk.flac.csv"]


def test_existing_output_is_refused_before_any_work(tmp_path, exported, monkeypatch, capsys):
    from emorec.cli import main

    wavs = [tmp_path / "in" / "one.wav", tmp_path / "in" / "two.wav"]
    wavs[0].parent.mkdir()
    for wav in wavs:
        write_wav(wav, speech_like(0.5, 16_000), 16_000)
    out = tmp_path / "out"
    out.mkdir()
    (out / "two.wav.csv").write_text("mine")
    # A model folder that does not exist: loading it would fail, so the refusal must come first.
    args = ["emorec", "predict", *map(str, wavs), "--model", str(tmp_path / "no_model"), "--out", str(out)]
    monkeypatch.setattr(sys, "argv", args)
    with pytest.raises(SystemExit) as exit_info:
        main()
    assert exit_info.value.code != 0
    stderr = capsys.readouterr().err.strip().splitlines()
    assert len(stderr) == 1 and str(out / "two.wav.csv") in stderr[0] and "--overwrite" in stderr[0]
    assert sorted(p.name for p in out.iterdir()) == ["two.wav.csv"]  # nothing predicted, nothing written
    with pytest.raises(OutputExistsError, match="two.wav.csv"):
        predict_files(wavs, exported.parent, out_dir=out)
    with pytest.raises(OutputExistsError, match="two.wav.csv"):
        predict_file(wavs[1], exported.parent, out_dir=out)
    # --overwrite replaces it on purpose.
    report = predict_files(wavs, exported.parent, out_dir=out, overwrite=True)
    assert report.errors == {}
    assert (out / "two.wav.csv").read_text().startswith("file,start_s,end_s,")


def test_many_files_batched_equal_one_file_at_a_time(tmp_path, exported, loaded, monkeypatch):
    """Short files share padded `serving_default` calls, long ones stream; the numbers are those
    of one file at a time, and results come back in input order, indexed by the full path."""
    rng = np.random.default_rng(11)
    durations_s = [0.31, 2.6, 0.95, 1.77, 0.5, 3.4, 1.2, 0.73, 2.05, 1.0, 0.22, 1.5]
    paths = []
    for index, duration_s in enumerate(durations_s):
        path = tmp_path / f"spk{index % 3}" / f"clip{index}.wav"
        path.parent.mkdir(exist_ok=True)
        rate = int(rng.choice([16_000, 22_050, 44_100]))
        write_wav(path, speech_like(duration_s, rate, seed=index), rate)
        paths.append(path)
    calls = []
    batch = loaded.predict_batch
    monkeypatch.setattr(loaded, "predict_batch", lambda waveforms: calls.append(len(waveforms)) or batch(waveforms))
    # chunk 2.0 s: the 2.05, 2.6 and 3.4 s files stream in 2 chunks; batches of at most 4 s padded audio.
    report = predict_files(paths, loaded, chunk_s=2.0, batch_audio_s=4.0, workers=2)
    assert report.errors == {}
    assert sum(calls) == 9 and max(calls) > 1 and len(calls) > 1, calls  # batched, in several calls
    assert list(report.tables) == [str(path) for path in paths]
    for path in paths:
        alone = predict_file(path, loaded, chunk_s=2.0)
        table = report.tables[str(path)]
        assert set(table.index.get_level_values("file")) == {str(path)}
        assert table.index.equals(alone.index)
        assert np.std(alone["arousal"].to_numpy()) > 1e-4
        np.testing.assert_allclose(table.to_numpy(), alone.to_numpy(), atol=1e-4, rtol=0)
    assert report.audio_s == pytest.approx(sum(durations_s), abs=0.01)


def test_csv_quotes_a_path_with_commas(tmp_path):
    from emorec.export.predict import write_predictions

    file = str(tmp_path / 'take 1, "final".wav')
    index = pd.MultiIndex.from_arrays([[file, file], pd.to_timedelta([0, 100], unit="ms"),
                                       pd.to_timedelta([100, 150], unit="ms")], names=["file", "start", "end"])
    table = pd.DataFrame({"arousal": [0.25, -0.5], "valence": [1.0, 0.125]}, index=index)
    rows = pd.read_csv(write_predictions(tmp_path / "x.csv", table))
    assert list(rows.columns) == ["file", "start_s", "end_s", "arousal", "valence"]
    assert list(rows["file"]) == [file, file]
    assert rows[["start_s", "end_s", "arousal", "valence"]].to_numpy().tolist() == [[0.0, 0.1, 0.25, 1.0],
                                                                                   [0.1, 0.15, -0.5, 0.125]]


def test_summary_holds_each_files_mean_and_names_the_files_that_failed(tmp_path, exported):
    short, long = tmp_path / "a.wav", tmp_path / "b.wav"
    write_wav(short, speech_like(1.23, 16_000), 16_000)
    write_wav(long, speech_like(3.5, 22_050), 22_050)
    garbage = tmp_path / "garbage.wav"
    garbage.write_bytes(b"not audio\n" * 40)
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", str(long), str(garbage), str(short), "--model", str(exported.parent),
                                      "--out", str(out), "--summary"])
    assert result.exit_code == 1  # a file failed: the command says so
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    assert list(summary.columns) == ["file", "duration_s", *LABEL_NAMES, "error"]
    assert list(summary["file"]) == [str(long), str(garbage), str(short)]  # the order given
    for path, duration in ((long, 3.5), (short, 1.23)):
        row = summary[summary["file"] == str(path)].iloc[0]
        frames = pd.read_csv(out / f"{path.name}.csv")  # the file's own curves, averaged here
        np.testing.assert_allclose(row[list(LABEL_NAMES)].to_numpy(float), frames[list(LABEL_NAMES)].mean().to_numpy(), atol=2e-6)
        assert row["duration_s"] == pytest.approx(duration, abs=1e-3) and pd.isna(row["error"])
    failed = summary[summary["file"] == str(garbage)].iloc[0]
    assert failed[list(LABEL_NAMES)].isna().all() and str(garbage) in failed["error"]
    # Like the per-file outputs, an existing summary is not replaced without --overwrite.
    again = CliRunner().invoke(cli, ["predict", str(short), "--model", str(exported.parent), "--out", str(out),
                                     "--summary"])
    assert again.exit_code != 0 and isinstance(again.exception, OutputExistsError)


def test_summary_needs_an_output_folder(exported):
    with pytest.raises(ValueError, match="pass out_dir"):
        predict_files([], exported.parent, summary=True)
