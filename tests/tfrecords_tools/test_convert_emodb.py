"""EmoDB layout on the real corpus (skipped when ../shared/data/emodb is absent)."""
import csv
import math

import numpy as np
import pytest
import scipy.io.wavfile as wavfile
import soxr
import tensorflow as tf
import yaml

from emorec.data.manifest import read_manifest, shard_paths
from emorec.data.schema import example_to_recording
from emorec.text import tokenize
from tfrecords_tools import convert_dataset
from tfrecords_tools.categorical import DEFAULT_LABEL_MAP
from tfrecords_tools.layouts.emodb import DEFAULT_SPEAKERS

FEMALE = {"08", "09", "13", "14", "16"}


@pytest.fixture(scope="module")
def emodb_converted(emodb_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("emodb")
    report = convert_dataset("emodb", emodb_dir, out, progress=False)
    return emodb_dir, out, report


def label_rows(emodb_dir):
    with open(emodb_dir / "labels.csv") as handle:
        return list(csv.DictReader(handle))


def records(out, partition):
    for path in shard_paths(out, partition):
        for raw in tf.data.TFRecordDataset(str(path)):
            yield example_to_recording(raw.numpy())


def test_all_535_files_convert_into_24_8_minutes(emodb_converted):
    emodb_dir, out, report = emodb_converted
    manifest = read_manifest(out)
    rows = label_rows(emodb_dir)
    assert report.recordings == len(rows) == 535
    total_min = sum(p["duration_s"] for p in manifest["partitions"].values()) / 60
    assert abs(total_min - 24.8) / 24.8 < 0.005
    source_min = sum(float(r["duration_s"]) for r in rows) / 60
    assert abs(total_min - source_min) < 0.01
    for partition, speakers in DEFAULT_SPEAKERS.items():
        expected = [r for r in rows if r["speaker"] in speakers]
        entry = manifest["partitions"][partition]
        assert entry["recordings"] == len(expected)
        assert abs(entry["duration_s"] - sum(float(r["duration_s"]) for r in expected)) < 0.05
    assert manifest["derived_targets"] is True and "derived" in manifest["notes"][0]
    assert manifest["label_names"] == ["arousal", "valence", "dominance"]
    assert manifest["recordings_without_words"] == ["13a01Wb"]


def test_default_split_is_speaker_independent_and_gender_balanced():
    groups = [set(s) for s in DEFAULT_SPEAKERS.values()]
    assert not (groups[0] & groups[1] or groups[0] & groups[2] or groups[1] & groups[2])
    for speakers in groups:
        assert len(speakers & FEMALE) == len(speakers - FEMALE)


def test_an_example_reads_back_equal_to_its_source(emodb_converted):
    emodb_dir, out, _ = emodb_converted
    recording = next(r for r in records(out, "train") if r.name == "03a01Fa")
    rate, pcm = wavfile.read(emodb_dir / "wav" / "03a01Fa.wav")
    expected = np.clip(soxr.resample(pcm.astype(np.float32) / 32768, rate, 22050, quality="HQ"), -1, 1)
    assert (recording.partition, recording.speaker) == ("train", "emodb-03")  # corpus-qualified
    assert recording.num_samples == len(expected)
    np.testing.assert_allclose(recording.audio[: len(expected)], expected, atol=1e-6)
    assert recording.num_frames == math.ceil(len(expected) / 2205)
    table = yaml.safe_load(DEFAULT_LABEL_MAP.read_text())["categories"]["happiness"]
    target = [2 * table[d] - 1 for d in ("arousal", "valence", "dominance")]
    np.testing.assert_allclose(recording.labels, np.tile(target, (recording.num_frames, 1)), atol=1e-6)
    assert recording.label_mask.all()
    with open(emodb_dir / "word_timings.csv") as handle:
        rows = [r for r in csv.DictReader(handle) if r["file"] == "03a01Fa.wav"]
    assert recording.words == [tokenize(r["word"])[0] for r in rows]
    np.testing.assert_allclose(recording.word_start_s, [float(r["start_s"]) for r in rows], atol=1e-5)
    np.testing.assert_allclose(recording.word_end_s, [float(r["end_s"]) for r in rows], atol=1e-5)


def test_sessions_join_a_speakers_utterances_with_labels_changing_inside(emodb_dir, tmp_path):
    options = dict(train_speakers=["03"], devel_speakers=["08"], test_speakers=[], sessions=4, progress=False)
    report = convert_dataset("emodb", emodb_dir, tmp_path / "a", seed=1, **options)
    rows = label_rows(emodb_dir)
    assert report.partitions["train"]["recordings"] == math.ceil(sum(r["speaker"] == "03" for r in rows) / 4)
    sessions = list(records(tmp_path / "a", "train"))
    allowed = {tuple(round(2 * v[d] - 1, 4) for d in ("arousal", "valence", "dominance"))
               for v in yaml.safe_load(DEFAULT_LABEL_MAP.read_text())["categories"].values()}
    changes = 0
    for session in sessions:
        assert session.name.startswith("03_session") and session.speaker == "emodb-03"
        assert {tuple(round(float(x), 4) for x in row) for row in session.labels} <= allowed
        changes += int(np.sum(np.any(np.diff(session.labels, axis=0) != 0, axis=1)))
        assert np.all(np.diff(session.word_start_s) >= 0)
        assert session.word_end_s[-1] <= session.num_samples / 22050 + 1e-3
    assert changes > 0  # labels change inside sessions, as in SEWA
    # The manifest says which utterances form each session, each utterance in exactly one session.
    joined = read_manifest(tmp_path / "a")["joined_recordings"]
    assert set(joined) == {s.name for s in records(tmp_path / "a", "train")} | \
        {s.name for s in records(tmp_path / "a", "devel")}
    listed = [f for files in joined.values() for f in files]
    assert sorted(listed) == sorted(f"wav/{r['file']}" for r in rows if r["speaker"] in ("03", "08"))
    assert all(1 <= len(files) <= 4 for files in joined.values())
    again = convert_dataset("emodb", emodb_dir, tmp_path / "b", seed=1, **options)
    other = convert_dataset("emodb", emodb_dir, tmp_path / "c", seed=2, **options)
    first = [s.words for s in sessions]
    assert first == [s.words for s in records(tmp_path / "b", "train")]
    assert first != [s.words for s in records(tmp_path / "c", "train")]
    assert again.partitions == report.partitions and other.recordings == report.recordings


def test_each_utterance_carries_its_corpus_and_category(emodb_converted):
    emodb_dir, out, _ = emodb_converted
    emotion = {row["file"][:-4]: row["emotion"] for row in label_rows(emodb_dir)}
    test = list(records(out, "test"))
    assert test and all(r.corpus == "emodb" and r.category == emotion[r.name] for r in test)
