"""Issue 13, row 3 and the converter's lesser points: `convert` never deletes or overwrites a file
it did not write unless --overwrite."""
from __future__ import annotations

import os

import pytest

from emorec.data.manifest import read_manifest
from emorec.errors import InputFileError
from tfrecords_tools import convert_dataset

from .conftest import one_line_error, run_cli, shard_record_counts


def test_foreign_shards_in_the_output_are_left_alone_without_overwrite(manifest_sources, tmp_path):
    source_a, _ = manifest_sources
    output = tmp_path / "converted"
    output.mkdir()
    # Named like the shards this conversion plans (one would be overwritten) and like another
    # plan's (it would be deleted as a stale shard).
    foreign = {"train-00000-of-00001.tfrecord": b"someone else's data", "train-00003-of-00007.tfrecord": b"mine"}
    for name, content in foreign.items():
        (output / name).write_bytes(content)
    result = run_cli("convert", "--layout", "manifest", "--quiet", source_a, output)
    line = one_line_error(result)
    assert result.returncode == 1
    assert f"{output}: holds files that no emorec conversion wrote here (train-00000-of-00001.tfrecord, " \
           "train-00003-of-00007.tfrecord); pass --overwrite" in line, line
    assert {name: (output / name).read_bytes() for name in foreign} == foreign
    assert not (output / "manifest.json").exists()

    result = run_cli("convert", "--layout", "manifest", "--quiet", "--overwrite", source_a, output)
    assert result.returncode == 0, result.stderr
    assert sum(shard_record_counts(output).values()) == read_manifest(output)["partitions"]["train"]["recordings"] == 3


def test_shards_of_a_conversion_whose_manifest_was_deleted_are_not_taken_as_ours(manifest_sources, tmp_path):
    source_a, _ = manifest_sources
    output = tmp_path / "converted"
    assert run_cli("convert", "--layout", "manifest", "--quiet", source_a, output).returncode == 0
    result = run_cli("convert", "--layout", "manifest", "--quiet", "--target-shard-mb", "0.1", source_a, output)
    assert "--overwrite" in one_line_error(result)  # other options: refused as before
    (output / "manifest.json").unlink()  # as an interrupted run leaves it, progress gone too
    result = run_cli("convert", "--layout", "manifest", "--quiet", source_a, output)
    assert "no emorec conversion wrote" in one_line_error(result)  # unlisted shards are not provably ours


def test_a_file_given_as_the_output_folder_is_one_line(manifest_sources, tmp_path):
    source_a, _ = manifest_sources
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a folder")
    result = run_cli("convert", "--layout", "manifest", "--quiet", source_a, a_file / "converted")
    line = one_line_error(result)
    assert result.returncode == 1
    assert f"{a_file / 'converted'}: Not a directory; a file stands where a folder is needed" in line, line
    assert a_file.read_text() == "not a folder"


def test_read_only_output_folder_is_one_line(manifest_sources, tmp_path):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders; the file-as-folder test covers the same handler")
    source_a, _ = manifest_sources
    output = tmp_path / "read_only"
    output.mkdir()
    output.chmod(0o555)
    try:
        result = run_cli("convert", "--layout", "manifest", "--quiet", source_a, output)
    finally:
        output.chmod(0o755)
    line = one_line_error(result)
    assert "no permission to write there" in line, line
    assert not (output / "manifest.json").exists()


# --- dataset readers: rows that used to be accepted silently ------------------------------------

def _emodb(folder, label_rows, timing_rows):
    """A two-speaker EmoDB-layout folder of 1 s WAVs (16 kHz) with the given CSV rows."""
    import numpy as np
    from scipy.io import wavfile

    (folder / "wav").mkdir(parents=True)
    for row in label_rows:
        wavfile.write(folder / "wav" / row.split(",")[0], 16_000, (np.sin(np.arange(16_000) / 9) * 9000).astype(np.int16))
    (folder / "labels.csv").write_text("file,speaker,emotion\n" + "\n".join(label_rows) + "\n")
    (folder / "word_timings.csv").write_text("file,word,start_s,end_s\n" + "\n".join(timing_rows) + "\n")
    return folder


EMODB_SPEAKERS = ("--train-speakers", "03", "--devel-speakers", "11", "--test-speakers", "")


def test_duplicated_emodb_label_row_is_refused_naming_the_row(tmp_path):
    source = _emodb(tmp_path / "emodb", ["03a01Fa.wav,03,happiness", "11a01Fa.wav,11,anger", "03a01Fa.wav,03,happiness"],
                    ["03a01Fa.wav,Der,0.1,0.3"])
    result = run_cli("convert", "--layout", "emodb", "--quiet", *EMODB_SPEAKERS, source, tmp_path / "out")
    line = one_line_error(result)
    assert f"{source / 'labels.csv'}: line 4: 03a01Fa.wav is listed again (first on line 2)" in line, line
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_nan_word_timing_honours_on_error_skip(tmp_path):
    source = _emodb(tmp_path / "emodb", ["03a01Fa.wav,03,happiness", "11a01Fa.wav,11,anger"],
                    ["03a01Fa.wav,Der,nan,0.3", "11a01Fa.wav,Der,0.1,0.3"])
    result = run_cli("convert", "--layout", "emodb", "--quiet", *EMODB_SPEAKERS, source, tmp_path / "failed")
    assert "column 'start_s': value is nan" in one_line_error(result)
    assert not (tmp_path / "failed" / "manifest.json").exists()
    result = run_cli("convert", "--layout", "emodb", "--quiet", "--on-error", "skip", *EMODB_SPEAKERS, source,
                     tmp_path / "out")
    assert result.returncode == 0, result.stderr
    manifest = read_manifest(tmp_path / "out")
    assert [entry["file"] for entry in manifest["skipped"]] == [str(source / "word_timings.csv")]
    assert sum(entry["recordings"] for entry in manifest["partitions"].values()) == 1


@pytest.mark.parametrize("start_s, end_s, problem", [
    ("0.5", "0.2", "word 'Der' of 03a01Fa.wav ends (0.2 s) before it starts (0.5 s)"),
    ("0.5", "7.0", "word 'Der' of 03a01Fa.wav ends at 7 s, past the audio's 1.00 s"),
], ids=["end before start", "end past the audio"])
def test_impossible_word_times_are_refused_or_skipped(tmp_path, start_s, end_s, problem):
    source = _emodb(tmp_path / "emodb", ["03a01Fa.wav,03,happiness", "11a01Fa.wav,11,anger"],
                    [f"03a01Fa.wav,Der,{start_s},{end_s}"])
    result = run_cli("convert", "--layout", "emodb", "--quiet", *EMODB_SPEAKERS, source, tmp_path / "out")
    line = one_line_error(result)
    assert f"{source / 'word_timings.csv'}: {problem}" in line, line
    assert not (tmp_path / "out" / "manifest.json").exists()
    result = run_cli("convert", "--layout", "emodb", "--quiet", "--on-error", "skip", *EMODB_SPEAKERS, source,
                     tmp_path / "skipped")
    assert result.returncode == 0 and read_manifest(tmp_path / "skipped")["skipped"][0]["reason"].startswith(problem)


def test_absurd_label_magnitude_is_refused_naming_file_and_row(manifest_sources, tmp_path):
    import shutil

    source = tmp_path / "src"
    shutil.copytree(manifest_sources[0].parent, source)
    label_file = sorted((source / "labels").glob("*.csv"))[0]
    lines = label_file.read_text().splitlines()
    fields = lines[3].split(",")
    lines[3] = ",".join([fields[0], "1e30", *fields[2:]])
    label_file.write_text("\n".join(lines) + "\n")
    result = run_cli("convert", "--layout", "manifest", "--quiet", source / "manifest.csv", tmp_path / "out")
    line = one_line_error(result)
    assert f"{label_file}: label row 3 (time 0.2 s), dimension 1: 1e+30 is not a plausible label" in line, line
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_manifest_paths_outside_the_dataset_folder_need_a_flag(manifest_sources, tmp_path):
    import shutil

    source = tmp_path / "src"
    shutil.copytree(manifest_sources[0].parent, source)
    csv_path = source / "manifest.csv"
    text = csv_path.read_text()
    first_audio = text.splitlines()[1].split(",")[0]
    outside = tmp_path / "elsewhere.wav"
    shutil.copy(source / first_audio, outside)
    csv_path.write_text(text.replace(first_audio, f"../{outside.name}", 1))
    result = run_cli("convert", "--layout", "manifest", "--quiet", csv_path, tmp_path / "out")
    line = one_line_error(result)
    assert f"{csv_path}: line 2, column 'audio': ../elsewhere.wav lies outside the dataset folder" in line, line
    assert "--allow-outside-paths" in line and not (tmp_path / "out" / "manifest.json").exists()
    result = run_cli("convert", "--layout", "manifest", "--quiet", "--allow-outside-paths", csv_path, tmp_path / "out")
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("row, problem", [
    ("-0.20;0.40;'Hello'", "word 'Hello' starts at -0.2 s, before the audio"),
    ("0.50;4.00;'Hello'", "word 'Hello' ends at 4 s, past the audio's 1.20 s"),
])
def test_sewa_word_timings_outside_the_audio_are_refused(tmp_path, row, problem):
    # The SEWA reader checked only end < start; words outside the audio landed on no frame, silently.
    from tests.tfrecords_tools.test_convert_sewa import small_dataset

    root = small_dataset(tmp_path / "src")
    (root / "word_timings").mkdir()
    timings = root / "word_timings" / "Train_01.csv"
    timings.write_text(row + "\n")
    with pytest.raises(InputFileError) as info:
        convert_dataset("sewa", root, tmp_path / "out", progress=False, word_timing="given")
    assert f"{timings}: {problem}" == str(info.value)
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_a_full_disk_while_writing_a_shard_is_an_os_error_naming_it(tmp_path):
    # /dev/full fails every write with ENOSPC, as a full disk does; TensorFlow reports that as a
    # ResourceExhaustedError, which the CLI would print as a traceback instead of its one line.
    import errno
    from pathlib import Path

    from emorec.data.shards import ShardWriter

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this system")
    path = tmp_path / "train-00000-of-00001.tfrecord"
    (tmp_path / (path.name + ".partial")).symlink_to("/dev/full")
    writer = ShardWriter(path)
    with pytest.raises(OSError) as info:
        for _ in range(20):
            writer.write(b"x" * 100_000)
        writer.close()
    assert info.value.errno == errno.ENOSPC and info.value.filename == str(writer.partial)
    writer.abort()
    assert not path.exists() and not writer.partial.exists()
