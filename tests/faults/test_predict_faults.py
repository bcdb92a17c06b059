"""`emorec predict` on hostile input: absurd samples, nan/inf options, file names that are not
UTF-8 or hold a line break, two runs into one folder, symlinks at output paths. Each fails the one
file (or the run) with one line, and never leaves a partial or complete-looking wrong output."""
from __future__ import annotations

import errno
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emorec.data.locking import LOCK_FILENAME, output_lock
from tests.faults.conftest import one_line_error, run_cli
from tests.faults.wav_bytes import sine, wav_bytes

SECONDS = 0.5  # 5 frames at 0.1 s


@pytest.fixture(scope="module")
def model_dir(exported):
    """The model folder of the session's tiny export (tests/conftest.py)."""
    return exported.parent


def speech_wav(path: Path, seconds: float = SECONDS, rate_hz: int = 16_000) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(wav_bytes(sine(rate_hz, int(seconds * rate_hz), 220.0, 0.3), rate_hz, "int", 16))
    return path


def predict(model_dir: Path, *args):
    return run_cli("predict", *args, "--model", model_dir, "--quiet")


def leftovers(folder: Path) -> list:
    """Hidden files left in an output folder: temporaries or the lock."""
    return sorted(name for name in os.listdir(folder) if name.startswith("."))


# --- samples -------------------------------------------------------------------------------------
def _bad(value: float, channels: int = 1) -> np.ndarray:
    signal = np.tile(sine(22_050, 11_025)[:, None], (1, channels))
    signal[100:110] = value
    return signal.squeeze()


@pytest.mark.parametrize("signal, problem", [
    (_bad(np.nan), "NaN or infinite samples"),
    (_bad(np.inf), "NaN or infinite samples"),
    (_bad(1e30), "samples reach 1e+30, far outside float PCM's [-1, 1]"),
    # Finite, but the mix-down of two such channels overflows float32 to inf.
    (_bad(3e38, channels=2), "samples reach 3e+38, far outside float PCM's [-1, 1]"),
], ids=["nan", "inf", "1e30", "stereo 3e38"])
def test_a_file_of_non_finite_or_absurd_samples_fails_alone(model_dir, tmp_path, signal, problem):
    bad = tmp_path / "in" / "bad.wav"
    good = speech_wav(tmp_path / "in" / "good.wav")
    bad.write_bytes(wav_bytes(signal, 22_050, "float", 32))
    out = tmp_path / "out"
    result = predict(model_dir, bad, good, "--out", out, "--summary")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    named = [line for line in result.stderr.splitlines() if str(bad) in line]
    assert len(named) == 1 and problem in named[0], result.stderr
    assert sorted(os.listdir(out)) == ["good.wav.csv", "summary.csv"]  # no predictions for the bad file
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    assert list(summary["file"]) == [str(bad), str(good)]
    assert problem in summary["error"][0] and summary[["arousal", "valence"]].iloc[0].isna().all()
    assert pd.isna(summary["error"][1]) and np.isfinite(summary["arousal"][1])


# --- options -------------------------------------------------------------------------------------
@pytest.mark.parametrize("option, value", [
    *((option, value) for option in ("--chunk-s", "--max-duration-s") for value in ("nan", "inf", "-inf", "0", "-1")),
    *(("--batch-s", value) for value in ("nan", "inf", "-1")),
])
def test_float_options_refuse_nan_inf_and_non_positive_naming_the_option(model_dir, tmp_path, option, value):
    wav = speech_wav(tmp_path / "a.wav")
    result = predict(model_dir, wav, "--out", tmp_path / "out", f"{option}={value}")
    assert result.returncode == 2
    assert f"Error: Invalid value for '{option}'" in one_line_error(result)
    assert not (tmp_path / "out").exists()


def test_convert_shares_the_refusal_of_a_nan_duration_limit(tmp_path):
    result = run_cli("convert", "--layout", "manifest", tmp_path / "source", tmp_path / "converted",
                     "--max-duration-s", "nan")
    assert result.returncode == 2
    assert "Error: Invalid value for '--max-duration-s': 'nan' is not a finite number." in one_line_error(result)


# --- file names ----------------------------------------------------------------------------------
def test_a_file_name_that_is_not_utf8_is_predicted_and_written_escaped(model_dir, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    odd = Path(os.fsdecode(os.fsencode(folder) + b"/take\xff.wav"))  # '\udcff' in Python
    try:
        speech_wav(odd)
    except (OSError, UnicodeError):
        pytest.skip("this file system refuses names that are not UTF-8")
    good = speech_wav(folder / "good.wav")
    out = tmp_path / "out"
    result = predict(model_dir, odd, good, "--out", out, "--summary")
    assert result.returncode == 0, result.stderr
    escaped = str(folder) + "/take\\xff.wav"  # the byte as the text \xff
    rows = pd.read_csv(out / f"{odd.name}.csv")
    assert list(rows["file"]) == [escaped] * 5
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["file"]) == [escaped, str(good)] and summary["arousal"].notna().all()
    assert sorted(os.listdir(out)) == sorted([f"{odd.name}.csv", "good.wav.csv", "summary.csv"])
    again = predict(model_dir, odd, good, "--out", out, "--summary", "--overwrite")
    assert again.returncode == 0, again.stderr


@pytest.mark.parametrize("name", ["take\n1.wav", "take\r1.wav", 'take\n1, "final".wav'],
                         ids=["newline", "carriage return", "newline comma quotes"])
def test_a_line_break_in_a_file_name_stays_inside_one_quoted_field(model_dir, tmp_path, name):
    wav = speech_wav(tmp_path / "in" / name, seconds=1.0)  # 10 frames
    out = tmp_path / "out"
    result = predict(model_dir, wav, "--out", out, "--summary")
    assert result.returncode == 0, result.stderr
    rows = pd.read_csv(out / f"{name}.csv")
    assert list(rows["file"]) == [str(wav)] * 10
    np.testing.assert_allclose(rows["start_s"], np.arange(10) / 10)
    summary = pd.read_csv(out / "summary.csv")
    assert list(summary["file"]) == [str(wav)]


def test_a_failed_write_leaves_no_file_under_the_output_name(tmp_path):
    from emorec.export.predict import publish_file

    target = tmp_path / "out" / "x.wav.csv"

    def half_then_fail(temporary: Path) -> None:
        temporary.write_text("file,start_s,end_s\n/x.wav,0.0")
        raise OSError(errno.ENOSPC, "No space left on device", str(temporary))

    with pytest.raises(OSError, match="No space left"):
        publish_file(target, half_then_fail, overwrite=False)
    assert os.listdir(target.parent) == []  # neither x.wav.csv nor a temporary


# --- one writer per folder -----------------------------------------------------------------------
def test_a_second_run_into_a_folder_in_use_is_refused(model_dir, tmp_path):
    wav = speech_wav(tmp_path / "a.wav")
    out = tmp_path / "out"
    with output_lock(out, "emorec predict first.wav --out out"):
        result = predict(model_dir, wav, "--out", out)
        assert os.listdir(out) == [LOCK_FILENAME]  # nothing written beside the first run's lock
    assert "in use by 'emorec predict first.wav --out out'" in one_line_error(result)


def test_the_lock_is_held_until_the_last_output_is_written(model_dir, tmp_path, monkeypatch):
    import emorec.export.predict as predict_module

    wavs = [speech_wav(tmp_path / "in" / name) for name in ("a.wav", "b.wav")]
    out = tmp_path / "out"
    locked_at_write = {}
    publish = predict_module.publish_file

    def watching(path, write, overwrite):
        locked_at_write[path.name] = (out / LOCK_FILENAME).exists()
        return publish(path, write, overwrite)

    monkeypatch.setattr(predict_module, "publish_file", watching)
    result = predict(model_dir, *wavs, "--out", out, "--summary")
    assert result.returncode == 0, result.stderr
    assert locked_at_write == {"a.wav.csv": True, "b.wav.csv": True, "summary.csv": True}
    assert leftovers(out) == []  # released


def test_an_output_that_appears_during_the_run_is_not_overwritten(model_dir, tmp_path, monkeypatch):
    import emorec.export.predict as predict_module

    a, b = (speech_wav(tmp_path / "in" / name) for name in ("a.wav", "b.wav"))
    out = tmp_path / "out"
    load = predict_module._load_checked

    def load_while_another_program_writes(path, limits):
        if Path(path).name == "b.wav":
            (out / "b.wav.csv").write_text("another program's\n")
        return load(path, limits)

    monkeypatch.setattr(predict_module, "_load_checked", load_while_another_program_writes)
    result = predict(model_dir, a, b, "--out", out, "--summary")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert (out / "b.wav.csv").read_text() == "another program's\n"
    summary = pd.read_csv(out / "summary.csv", keep_default_na=False, na_values=[""])
    assert list(summary["file"]) == [str(a), str(b)]  # complete: the failed file has its row
    assert pd.isna(summary["error"][0]) and f"{out / 'b.wav.csv'}: exists" in summary["error"][1]
    assert leftovers(out) == []


# --- symlinks ------------------------------------------------------------------------------------
@pytest.mark.parametrize("output", ["a.wav.csv", "summary.csv"])
def test_a_dangling_symlink_at_an_output_is_never_written_through(model_dir, tmp_path, output):
    wav = speech_wav(tmp_path / "in" / "a.wav")
    out, outside = tmp_path / "out", tmp_path / "outside" / "target.csv"
    out.mkdir()
    outside.parent.mkdir()
    (out / output).symlink_to(outside)
    refused = predict(model_dir, wav, "--out", out, "--summary")
    line = one_line_error(refused)
    assert str(out / output) in line and "--overwrite" in line
    assert (out / output).is_symlink() and not outside.exists()
    replaced = predict(model_dir, wav, "--out", out, "--summary", "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert not outside.exists() and not (out / output).is_symlink()
    assert len(pd.read_csv(out / output)) == (5 if output == "a.wav.csv" else 1)


def test_a_symlinked_folder_inside_out_is_refused(model_dir, tmp_path):
    wavs = [speech_wav(tmp_path / "in" / speaker / "a.wav") for speaker in ("spk1", "spk2")]
    out, outside = tmp_path / "out", tmp_path / "outside"
    out.mkdir()
    outside.mkdir()
    (out / "spk1").symlink_to(outside, target_is_directory=True)
    line = one_line_error(predict(model_dir, *wavs, "--out", out, "--overwrite"))
    assert f"{out / 'spk1'}: is a symbolic link inside the output folder" in line
    assert os.listdir(outside) == [] and sorted(os.listdir(out)) == ["spk1"]
