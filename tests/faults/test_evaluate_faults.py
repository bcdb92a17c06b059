"""`emorec evaluate` on converted folders that someone else made or that were damaged since: every
per-recording file stays inside the output folder, and shards are verified as `train` reads them."""
from __future__ import annotations

import hashlib
import json
import shutil

import pytest
import tensorflow as tf

from emorec.config import save_config
from emorec.data.schema import example_to_recording

from .conftest import one_line_error, run_cli, tiny_config

TEST_SHARD = "test-00000-of-00001.tfrecord"


@pytest.fixture
def run_and_data(trained_run_copy):
    """(run folder, converted folder): a copy of the shared tiny run (evaluate writes its
    post-processing into the run), and its data of 2 test recordings."""
    data, run_dir = trained_run_copy
    return run_dir, data


def _records(path):
    return [bytes(r) for r in tf.data.TFRecordDataset(str(path)).as_numpy_iterator()]


def _rename_test_recordings(data, names):
    """Rewrite the test shard with its recordings renamed to `names`, and record the new shard's
    checksum in the manifest, as a converter that does not check names would have written it."""
    shard = data / TEST_SHARD
    records = []
    for serialized, name in zip(_records(shard), names):
        example = tf.train.Example.FromString(serialized)
        example.features.feature["name"].bytes_list.value[0] = name.encode()
        records.append(example.SerializeToString())
    with tf.io.TFRecordWriter(str(shard)) as writer:
        for record in records:
            writer.write(record)
    manifest = json.loads((data / "manifest.json").read_text())
    manifest["partitions"]["test"]["shard_sha256"][TEST_SHARD] = hashlib.sha256(shard.read_bytes()).hexdigest()
    (data / "manifest.json").write_text(json.dumps(manifest))


def _evaluate(run, data, out):
    return run_cli("evaluate", "--run-dir", run, "--data", data, "--partition", "test", "--out", out)


def _files_under(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


def test_a_name_that_climbs_out_writes_nothing_outside_the_output_folder(run_and_data, tmp_path):
    run, data = run_and_data
    copy = tmp_path / "deep" / "er" / "data"
    shutil.copytree(data, copy)
    _rename_test_recordings(copy, ["test_000", "../../../../x"])
    out = tmp_path / "deep" / "er" / "eval"
    before = _files_under(tmp_path)
    line = one_line_error(_evaluate(run, copy, out))
    assert f"{copy}: recording name '../../../../x' has a '..' part" in line, line
    assert _files_under(tmp_path) == before  # no x.csv, no x.png, no half an evaluation


def test_names_with_subfolders_get_subfolders_of_the_output(run_and_data, tmp_path):
    run, data = run_and_data
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    _rename_test_recordings(copy, ["spk1/a", "spk2/a"])
    out = tmp_path / "eval"
    result = _evaluate(run, copy, out)
    assert result.returncode == 0, result.stderr
    files = _files_under(out)
    assert {"predictions_raw/spk1/a.csv", "predictions_raw/spk2/a.csv", "plots/spk1/a.png"} <= set(files), files
    assert (out / "predictions_raw/spk1/a.csv").read_text().startswith("'spk1/a';0.00;")


def _append_a_train_record(copy, shard_name, scratch):
    """Append the first training record, framed as TFRecord, to `copy/shard_name`: it reads without error."""
    train_record = _records(copy / "train-00000-of-00001.tfrecord")[0]
    assert example_to_recording(train_record).partition == "train"
    with tf.io.TFRecordWriter(str(scratch / "one.tfrecord")) as writer:
        writer.write(train_record)
    with (copy / shard_name).open("ab") as shard:
        shard.write((scratch / "one.tfrecord").read_bytes())


def test_a_record_appended_to_a_test_shard_is_refused_not_scored(run_and_data, tmp_path):
    run, data = run_and_data
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    _append_a_train_record(copy, TEST_SHARD, tmp_path)
    out = tmp_path / "eval"
    line = one_line_error(_evaluate(run, copy, out))
    assert f"{copy}: corrupt data ({TEST_SHARD}: checksum differs from the one recorded at conversion; " \
           f"{TEST_SHARD}: 3 records, the manifest says 2)" in line, line
    assert "emorec info --verify" in line
    assert not out.exists()


def test_a_flipped_byte_in_a_test_shard_is_one_line_naming_it(run_and_data, tmp_path):
    run, data = run_and_data
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    shard = copy / TEST_SHARD
    content = bytearray(shard.read_bytes())
    content[len(content) // 2] ^= 0xFF
    shard.write_bytes(bytes(content))
    out = tmp_path / "eval"
    line = one_line_error(_evaluate(run, copy, out))
    assert f"{copy}: corrupt data ({TEST_SHARD}: checksum differs" in line and f"{TEST_SHARD}: unreadable after" in line
    assert not out.exists()


def test_an_intact_folder_is_still_scored(run_and_data, tmp_path):
    run, data = run_and_data
    result = _evaluate(run, data, tmp_path / "eval")
    assert result.returncode == 0, result.stderr
    assert json.loads((tmp_path / "eval" / "scores.json").read_text())["recordings"] == 2


def test_train_refuses_a_record_appended_to_a_train_shard(run_and_data, tmp_path):
    _, data = run_and_data
    copy = tmp_path / "data"
    shutil.copytree(data, copy)
    _append_a_train_record(copy, "train-00000-of-00001.tfrecord", tmp_path)
    save_config(tiny_config(epochs=1), tmp_path / "config.yaml")
    line = one_line_error(run_cli("train", "--config", tmp_path / "config.yaml", "--data", copy,
                                  "--run-dir", tmp_path / "run"))
    assert f"{copy}: corrupt data (train-00000-of-00001.tfrecord: checksum differs" in line, line
    assert not (tmp_path / "run" / "run.json").exists()
