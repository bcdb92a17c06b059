"""Issue 13, lesser points about converted data: a truncated shard is found by `emorec info
--verify` and named when training reads it."""
from __future__ import annotations

import shutil

from emorec.config import save_config
from emorec.training.run_folder import run_finished

from .conftest import one_line_error, run_cli, tiny_config


def _truncated_copy(tiny_data, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(tiny_data, folder)
    shard = folder / "train-00000-of-00001.tfrecord"
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])  # a copy cut short
    return folder, shard


def test_info_verify_finds_a_truncated_shard_that_plain_info_misses(tiny_data, tmp_path):
    result = run_cli("info", "--verify", tiny_data)
    assert result.returncode == 0, result.stderr
    assert "verified: 1 shards read to the end" in result.stdout

    folder, shard = _truncated_copy(tiny_data, tmp_path)
    assert run_cli("info", folder).returncode == 0  # the manifest alone still looks complete
    result = run_cli("info", "--verify", folder)
    line = one_line_error(result)
    assert result.returncode == 1
    assert f"{shard.name}: checksum differs from the one recorded at conversion" in line, line
    assert f"{shard.name}: unreadable after record" in line, line


def test_training_on_a_truncated_shard_names_it_in_one_line(tiny_data, tmp_path):
    folder, shard = _truncated_copy(tiny_data, tmp_path)
    save_config(tiny_config(epochs=1, steps_per_epoch=None), tmp_path / "config.yaml")
    run_dir = tmp_path / "run"
    result = run_cli("train", "--config", tmp_path / "config.yaml", "--data", folder, "--run-dir", run_dir)
    line = one_line_error(result)
    assert result.returncode == 1
    assert f"{folder}: corrupt data ({shard.name}: checksum differs" in line and "info --verify" in line, line
    assert not run_finished(run_dir)
