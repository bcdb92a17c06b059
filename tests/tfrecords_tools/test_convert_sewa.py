"""SEWA layout: generated datasets in exactly the AVEC 2017 format, converted and read back."""
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.io.wavfile as wavfile
import soxr
import tensorflow as tf
from click.testing import CliRunner

from emorec.cli import cli
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.data.manifest import read_manifest, shard_paths
from emorec.data.schema import example_to_recording
from emorec.errors import DatasetError, InputFileError
from tfrecords_tools import convert_dataset

CARRIER_HZ = 1000.0


def envelope(num_frames):
    """Frame i's amplitude, which is also its arousal label: it lets a test see frames line up."""
    return 0.2 + 0.6 * (np.arange(num_frames) % 7) / 6


def write_recording(root, name, rate_hz=16000, duration_s=3.05, channels=1, label_frames=None, labels=True,
                    transcript=None):
    """Audio, labels, turns and a transcription for one recording, in the SEWA formats."""
    for folder in ("audio", "labels", "turns", "transcriptions"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    n = int(round(duration_s * rate_hz))
    t = np.arange(n) / rate_hz
    frames = math.ceil(duration_s * 10 - 1e-9)
    amplitude = envelope(frames + 1)[np.minimum((t * 10).astype(int), frames)]
    x = amplitude * np.sin(2 * np.pi * CARRIER_HZ * t)
    pcm = (x * 32767).astype(np.int16)
    wavfile.write(root / "audio" / f"{name}.wav", rate_hz, np.stack([pcm] * channels, axis=1) if channels > 1 else pcm)
    rows = label_frames if label_frames is not None else frames
    if labels:
        a = envelope(rows)
        lines = [f"'{name}';{i / 10:.6f};{a[i]:.6f};{-a[i]:.6f};{i / 100:.6f}" for i in range(rows)]
        (root / "labels" / f"{name}.csv").write_text("\n".join(lines) + "\n")
    (root / "turns" / f"{name}.csv").write_text("0.10;1.50\n1.80;2.90\n")
    transcript = transcript if transcript is not None else ["0.50;1.70;'Hello there <laughter>'", "1.90;2.80;'ok fine'"]
    (root / "transcriptions" / f"{name}.csv").write_text("\n".join(transcript) + "\n")


def make_dataset(root):
    write_recording(root, "Train_01")
    write_recording(root, "Train_02", rate_hz=44100, channels=2, duration_s=2.42)
    write_recording(root, "Devel_01", rate_hz=11025, duration_s=2.0, label_frames=15)  # labels 0.5 s short
    write_recording(root, "Test_01", rate_hz=48000, duration_s=1.5, labels=False)  # AVEC: test labels withheld
    return root


@pytest.fixture(scope="module")
def converted(tmp_path_factory):
    root = make_dataset(tmp_path_factory.mktemp("sewa"))
    out = tmp_path_factory.mktemp("out")
    report = convert_dataset("sewa", root, out, progress=False)
    return root, out, report


def read_all(out, partition):
    records = []
    for path in shard_paths(out, partition):
        records += [example_to_recording(r.numpy()) for r in tf.data.TFRecordDataset(str(path))]
    return records


def test_generated_sewa_converts_with_counts(converted):
    _, out, report = converted
    manifest = read_manifest(out)
    assert report.recordings == 4
    assert {p: manifest["partitions"][p]["recordings"] for p in manifest["partitions"]} == {"train": 2, "devel": 1, "test": 1}
    assert manifest["label_names"] == ["arousal", "valence", "liking"]
    assert manifest["derived_targets"] is False and manifest["complete"] is True
    assert manifest["label_length_policy_counts"] == {"exact": 2, "padded": 1, "unlabelled": 1}
    assert manifest["partitions"]["train"]["words"] == 2 * 5
    np.testing.assert_allclose(manifest["partitions"]["train"]["duration_s"], 3.05 + 2.42, atol=1e-3)


def test_every_field_of_an_example_matches_the_source(converted):
    root, out, _ = converted
    recording = next(r for r in read_all(out, "train") if r.name == "Train_01")
    rate, pcm = wavfile.read(root / "audio" / "Train_01.wav")  # an independent decoder
    expected_audio = soxr.resample(pcm.astype(np.float32) / 32768, rate, 22050, quality="HQ")
    assert (recording.partition, recording.speaker) == ("train", "Train_01")
    assert recording.num_samples == len(expected_audio)
    assert recording.num_frames == math.ceil(len(expected_audio) / FRAME_LENGTH_SAMPLES) == 31
    np.testing.assert_allclose(recording.audio[: recording.num_samples], expected_audio, atol=1e-6)
    assert not recording.audio[recording.num_samples :].any()
    rows = [line.split(";") for line in (root / "labels" / "Train_01.csv").read_text().split()]
    np.testing.assert_allclose(recording.labels, np.array([[float(c) for c in r[2:]] for r in rows]), atol=1e-6)
    assert recording.label_mask.tolist() == [1.0] * 31
    assert list(recording.label_names) == ["arousal", "valence", "liking"]
    # "Hello there <laughter>" over 0.5-1.7 s split 5:5:8 by length, "ok fine" over 1.9-2.8 s split 2:4
    assert recording.words == ["hello", "there", "<laughter>", "ok", "fine"]
    edges = [0.5, 0.5 + 1.2 * 5 / 18, 0.5 + 1.2 * 10 / 18, 1.7]
    np.testing.assert_allclose(recording.word_start_s, edges[:3] + [1.9, 1.9 + 0.9 / 3], atol=1e-6)
    np.testing.assert_allclose(recording.word_end_s, edges[1:] + [1.9 + 0.9 / 3, 2.8], atol=1e-6)


@pytest.mark.parametrize("partition", ["train", "devel"])
def test_frames_line_up_with_labels(converted, partition):
    """Each frame's audio amplitude was generated from that frame's arousal label."""
    _, out, _ = converted
    for recording in read_all(out, partition):
        frames = recording.audio.reshape(recording.num_frames, FRAME_LENGTH_SAMPLES)
        core = frames[:, int(0.2 * FRAME_LENGTH_SAMPLES) : int(0.8 * FRAME_LENGTH_SAMPLES)]
        amplitude = np.sqrt(2 * np.mean(core**2, axis=1))
        real = recording.label_mask > 0
        full = np.arange(recording.num_frames) < recording.num_samples // FRAME_LENGTH_SAMPLES
        np.testing.assert_allclose(amplitude[real & full], recording.labels[real & full, 0], atol=0.01)
        np.testing.assert_allclose(amplitude[full], envelope(recording.num_frames)[full], atol=0.01)


def test_short_labels_are_masked_and_missing_test_labels_are_unlabelled(converted):
    _, out, _ = converted
    devel = read_all(out, "devel")[0]
    assert devel.num_frames == 20 and devel.label_mask.tolist() == [1.0] * 15 + [0.0] * 5
    test = read_all(out, "test")[0]
    assert not test.label_mask.any() and not test.labels.any() and test.num_frames == 15


def test_rerun_with_same_options_is_up_to_date_and_other_options_need_overwrite(converted):
    root, out, _ = converted
    again = convert_dataset("sewa", root, out, progress=False)
    assert again.up_to_date and again.recordings == 4
    with pytest.raises(DatasetError, match="--overwrite"):
        convert_dataset("sewa", root, out, progress=False, label_length_policy="pad_edge")


# --- bad input -------------------------------------------------------------------------------------
def damage(root, kind):
    """Damage Train_02 in one way; return (the file the error must name, words of the problem)."""
    audio, labels, transcript = root / "audio/Train_02.wav", root / "labels/Train_02.csv", root / "transcriptions/Train_02.csv"
    if kind == "corrupt_audio":
        audio.write_bytes(b"RIFF" + np.random.default_rng(1).bytes(3000))
        return audio, "cannot decode"
    if kind == "empty_audio":
        audio.write_bytes(b"")
        return audio, "empty"
    if kind == "non_audio":
        audio.write_text("name;time\nnot audio\n")
        return audio, "cannot decode"
    if kind == "nan_label":
        lines = labels.read_text().splitlines()
        lines[3] = "'Train_02';0.300000;nan;0.1;0.2"
        labels.write_text("\n".join(lines))
        return labels, "line 4, column 'arousal': value is nan"
    if kind == "text_label":
        lines = labels.read_text().splitlines()
        lines[5] = "'Train_02';0.500000;0.3;high;0.2"
        labels.write_text("\n".join(lines))
        return labels, "line 6, column 'valence': 'high' is not a number"
    if kind == "bad_transcript":
        transcript.write_text("0.50;1.70;'ok'\n1.90;'no end time'\n")
        return transcript, "line 2: expected 3"
    if kind == "missing_labels":
        labels.unlink()
        return labels, "missing partner file"
    if kind == "missing_transcript":
        transcript.unlink()
        return transcript, "missing partner file"
    if kind == "short_labels_policy_error":
        labels.write_text("\n".join(labels.read_text().splitlines()[:10]))
        return labels, "frames have no label"
    raise ValueError(kind)


KINDS = ["corrupt_audio", "empty_audio", "non_audio", "nan_label", "text_label", "bad_transcript",
         "missing_labels", "missing_transcript", "short_labels_policy_error"]


def small_dataset(root):
    write_recording(root, "Train_01", duration_s=1.2)
    write_recording(root, "Train_02", rate_hz=44100, duration_s=1.3)
    write_recording(root, "Devel_01", duration_s=1.0)
    return root


def assert_not_complete_looking(out):
    assert not (out / "manifest.json").exists()
    assert not list(out.glob("*.partial"))
    with pytest.raises(DatasetError):
        read_manifest(out)


@pytest.mark.parametrize("kind", KINDS)
def test_bad_input_fails_naming_the_file_and_leaves_nothing_complete(tmp_path, kind):
    root = small_dataset(tmp_path / "src")
    path, problem = damage(root, kind)
    policy = "error" if kind == "short_labels_policy_error" else "mask"
    with pytest.raises(InputFileError) as info:
        convert_dataset("sewa", root, tmp_path / "out", progress=False, label_length_policy=policy)
    assert Path(info.value.path) == path
    assert problem in str(info.value)
    assert "\n" not in str(info.value)
    assert_not_complete_looking(tmp_path / "out")


@pytest.mark.parametrize("kind", ["corrupt_audio", "nan_label", "missing_transcript"])
def test_skip_leaves_the_bad_file_out_and_lists_it(tmp_path, kind):
    root = small_dataset(tmp_path / "src")
    path, problem = damage(root, kind)
    report = convert_dataset("sewa", root, tmp_path / "out", progress=False, on_error="skip")
    manifest = read_manifest(tmp_path / "out")
    assert report.recordings == 2 and manifest["partitions"]["train"]["recordings"] == 1
    assert len(manifest["skipped"]) == 1 and Path(manifest["skipped"][0]["file"]) == path
    assert problem in manifest["skipped"][0]["reason"]
    assert report.skipped == manifest["skipped"]


def test_a_failed_run_then_a_fixed_run_reuses_finished_shards(tmp_path):
    root = small_dataset(tmp_path / "src")
    write_recording(root, "Test_01", duration_s=1.0, labels=False, transcript=["0.1;'broken'"])
    out = tmp_path / "out"
    with pytest.raises(InputFileError):
        convert_dataset("sewa", root, out, progress=False, target_shard_mb=0.05)
    assert_not_complete_looking(out)
    assert len(list(out.glob("train-*.tfrecord"))) == 2  # one recording per shard at this size
    (root / "transcriptions/Test_01.csv").write_text("0.1;0.6;'fixed now'\n")
    resumed = convert_dataset("sewa", root, out, progress=False, target_shard_mb=0.05)
    assert resumed.shards_reused == 3 and resumed.shards_written == 1
    fresh = convert_dataset("sewa", root, tmp_path / "fresh", progress=False, target_shard_mb=0.05)
    assert json.dumps(read_manifest(out)["partitions"], sort_keys=True) == json.dumps(
        read_manifest(tmp_path / "fresh")["partitions"], sort_keys=True)
    assert fresh.shards_written == 4
    assert [p.name for p in shard_paths(out, "train")] == ["train-00000-of-00002.tfrecord", "train-00001-of-00002.tfrecord"]


@pytest.mark.e2e
def test_cli_reports_one_line_error_and_info_prints_partitions(tmp_path, converted):
    root = small_dataset(tmp_path / "src")
    path, _ = damage(root, "text_label")
    result = subprocess.run(
        [sys.executable, "-c", "from emorec.cli import main; main()", "convert", "--layout", "sewa", "--quiet",
         str(root), str(tmp_path / "out")],
        capture_output=True, text=True, env={"TF_CPP_MIN_LOG_LEVEL": "3", "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and str(path) in last and "is not a number" in last
    _, out, _ = converted
    info = CliRunner().invoke(cli, ["info", str(out)])
    assert info.exit_code == 0, info.output
    lines = {}
    for line in info.output.splitlines():  # the table row comes before the label-statistics row
        if line.split():
            lines.setdefault(line.split()[0], line.split())
    assert lines["train"][1] == "2" and lines["devel"][1] == "1" and lines["test"][1] == "1"


@pytest.mark.parametrize("mode", ["given", "pocketsphinx"])
def test_other_word_timing_modes(tmp_path, mode):
    root = tmp_path / "src"
    write_recording(root, "Train_01", duration_s=3.05)
    if mode == "given":
        (root / "word_timings").mkdir()
        (root / "word_timings" / "Train_01.csv").write_text("0.50;0.90;'Hello'\n0.95;1.40;'there'\n1.90;2.10;'ok'\n")
    else:
        pytest.importorskip("pocketsphinx")
    convert_dataset("sewa", root, tmp_path / "out", progress=False, word_timing=mode)
    recording = read_all(tmp_path / "out", "train")[0]
    if mode == "given":
        assert recording.words == ["hello", "there", "ok"]
        np.testing.assert_allclose(recording.word_start_s, [0.5, 0.95, 1.9], atol=1e-6)
        np.testing.assert_allclose(recording.word_end_s, [0.9, 1.4, 2.1], atol=1e-6)
    else:  # forced alignment keeps every token inside its sentence's span
        assert recording.words == ["hello", "there", "<laughter>", "ok", "fine"]
        spans = [(0.5, 1.7)] * 3 + [(1.9, 2.8)] * 2
        for (lo, hi), start, end in zip(spans, recording.word_start_s, recording.word_end_s):
            assert lo - 1e-6 <= start <= end <= hi + 1e-6
