"""The converter's hostile inputs: recording names that would place files outside an output
folder, and finished shards damaged before a re-run (resumed or "up to date")."""
from __future__ import annotations

import csv
import hashlib

import pytest

from emorec.data.manifest import read_manifest
from emorec.data.schema import recording_name_problem, recording_path
from emorec.data.verify import verify_converted
from emorec.errors import DatasetError, InputFileError
from tfrecords_tools import convert_dataset

from .conftest import one_line_error, run_cli

# --- recording names -----------------------------------------------------------------------------

SAFE_NAMES = ["Train_01", "03a01Fa", "spk1/a", "spk1/session 2/a.b", "..a", "a..", "x" * 240]
UNSAFE_NAMES = {
    "": "is empty",
    "../../../../../x": "has a '..' part",
    "spk1/../../x": "has a '..' part",
    "./x": "has a '.' part",
    "a//b": "has a '' part",
    "a/": "has a '' part",
    "/etc/x": "is an absolute path",
    "..\\..\\x": "holds a backslash",
    "a\x00b": "holds a control character",
    "a\nb": "holds a control character",
    "x" * 241: "has a part longer than 240 bytes",
}


@pytest.mark.parametrize("name", SAFE_NAMES)
def test_safe_names_map_to_a_file_inside_the_folder(tmp_path, name):
    assert recording_name_problem(name) is None
    path = recording_path(tmp_path / "out", name, ".csv", "data")
    assert path == tmp_path / "out" / (name + ".csv")


@pytest.mark.parametrize("name, why", UNSAFE_NAMES.items(), ids=[repr(n)[:20] for n in UNSAFE_NAMES])
def test_unsafe_names_are_refused_naming_the_source(tmp_path, name, why):
    assert recording_name_problem(name).startswith(f"recording name {name!r} {why}; a name must be a relative path")
    with pytest.raises(DatasetError) as info:
        recording_path(tmp_path / "out", name, ".csv", tmp_path / "data")
    message = str(info.value)
    assert message.startswith(f"{tmp_path / 'data'}: recording name {name!r} {why}") and "convert the dataset again" in message


def test_a_symbolic_link_below_the_folder_cannot_lead_a_name_outside(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "spk1").symlink_to(outside)
    with pytest.raises(DatasetError) as info:
        recording_path(tmp_path / "out", "spk1/a", ".csv", "data")
    assert str(info.value).startswith(f"{tmp_path / 'out' / 'spk1' / 'a.csv'}: a symbolic link leads it outside")


def _with_names(manifest_csv, names):
    """The manifest-layout CSV rewritten with a `name` column holding `names`, row by row."""
    with manifest_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    for row, name in zip(rows, names):
        row["name"] = name
    with manifest_csv.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    return manifest_csv


def test_convert_refuses_a_name_that_climbs_out_of_folders(manifest_sources, tmp_path):
    import shutil

    shutil.copytree(manifest_sources[0].parent, tmp_path / "src")
    csv_path = _with_names(tmp_path / "src" / "manifest.csv", ["ok", "../../../../../x", "fine"])
    result = run_cli("convert", "--layout", "manifest", "--quiet", csv_path, tmp_path / "out")
    line = one_line_error(result)
    assert f"{csv_path}: line 3: recording name '../../../../../x' has a '..' part" in line, line
    assert not (tmp_path / "out" / "manifest.json").exists()


def test_convert_keeps_names_with_subfolders(manifest_sources, tmp_path):
    import shutil

    shutil.copytree(manifest_sources[0].parent, tmp_path / "src")
    csv_path = _with_names(tmp_path / "src" / "manifest.csv", ["spk1/a", "spk1/b", "spk2/a"])
    report = convert_dataset("manifest", csv_path, tmp_path / "out", progress=False)
    assert report.recordings == 3
    assert verify_converted(tmp_path / "out", read_manifest(tmp_path / "out")) == []


def test_every_layout_refuses_unsafe_names_before_converting(tmp_path):
    # EmoDB --sessions names a recording after the speaker column of labels.csv.
    from tests.faults.test_convert_faults import _emodb

    source = _emodb(tmp_path / "emodb", ["03a01Fa.wav,../03,happiness", "11a01Fa.wav,11,anger"], [])
    with pytest.raises(InputFileError) as info:
        convert_dataset("emodb", source, tmp_path / "out", progress=False, train_speakers=["../03"],
                        devel_speakers=["11"], test_speakers=[], sessions=1)
    assert str(info.value).startswith(f"{source}: recording name '../03_session00' has a '..' part")
    assert not list((tmp_path / "out").glob("*.tfrecord"))


# --- resuming over damaged shards ----------------------------------------------------------------

def _flip_a_byte(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def _append(path):
    path.write_bytes(path.read_bytes() + path.read_bytes()[:64])


def _sha256(path):
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("damage", [_flip_a_byte, _append], ids=["flipped byte", "appended bytes"])
def test_a_resumed_conversion_rewrites_a_damaged_finished_shard(tmp_path, damage):
    from tests.tfrecords_tools.test_convert_sewa import small_dataset, write_recording

    root = small_dataset(tmp_path / "src")
    write_recording(root, "Test_01", duration_s=1.0, labels=False, transcript=["0.1;'broken'"])
    out = tmp_path / "out"
    with pytest.raises(InputFileError):
        convert_dataset("sewa", root, out, progress=False, target_shard_mb=0.05)
    damaged = out / "train-00000-of-00002.tfrecord"
    damage(damaged)
    (root / "transcriptions/Test_01.csv").write_text("0.1;0.6;'fixed now'\n")

    resumed = convert_dataset("sewa", root, out, progress=False, target_shard_mb=0.05)
    fresh_out = tmp_path / "fresh"
    convert_dataset("sewa", root, fresh_out, progress=False, target_shard_mb=0.05)
    assert resumed.shards_reused == 2 and resumed.shards_written == 2
    assert damaged.read_bytes() == (fresh_out / damaged.name).read_bytes()
    manifest = read_manifest(out)
    assert manifest["partitions"]["train"]["shard_sha256"][damaged.name] == _sha256(damaged)
    assert verify_converted(out, manifest) == []


def test_an_up_to_date_conversion_over_a_damaged_shard_is_converted_again(manifest_sources, tmp_path):
    out = tmp_path / "out"
    convert_dataset("manifest", manifest_sources[0], out, progress=False)
    shard = out / "train-00000-of-00001.tfrecord"
    intact = shard.read_bytes()
    assert convert_dataset("manifest", manifest_sources[0], out, progress=False).up_to_date
    _flip_a_byte(shard)

    again = convert_dataset("manifest", manifest_sources[0], out, progress=False)
    assert not again.up_to_date and again.shards_written == 1
    assert shard.read_bytes() == intact
    assert verify_converted(out, read_manifest(out)) == []
