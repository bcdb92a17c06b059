"""Issue 13, row 3 and the converter's lesser points: `convert` never deletes or overwrites a file
it did not write unless --overwrite."""
from __future__ import annotations

import os

import pytest

from emorec.data.manifest import read_manifest

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
