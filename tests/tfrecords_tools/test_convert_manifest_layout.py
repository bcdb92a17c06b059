"""The `manifest` layout: a user's CSV of audio, label and word files."""
import numpy as np
import pytest
import scipy.io.wavfile as wavfile
import tensorflow as tf

from emorec.data.manifest import read_manifest, shard_paths
from emorec.data.schema import example_to_recording
from emorec.errors import InputFileError
from tfrecords_tools import convert_dataset


def make(root, dims=("arousal", "valence")):
    root.mkdir(parents=True, exist_ok=True)
    rows = ["audio,labels,words,partition,speaker"]
    for name, partition, rate in [("a", "train", 16000), ("b", "test", 8000)]:
        wavfile.write(root / f"{name}.wav", rate, (np.sin(np.arange(rate * 2) / 10) * 8000).astype(np.int16))
        times = np.arange(0, 2.0001, 0.04)  # 25 Hz labels: interpolated onto the 10 Hz frames
        lines = ["time_s," + ",".join(dims)] + [f"{t:.2f}," + ",".join(f"{(k + 1) * t:.4f}" for k in range(len(dims))) for t in times]
        (root / f"{name}_labels.csv").write_text("\n".join(lines) + "\n")
        (root / f"{name}_words.csv").write_text("word,start_s,end_s\nHallo,0.1,0.4\nWelt,0.5,0.9\n")
        rows.append(f"{name}.wav,{name}_labels.csv,{name}_words.csv,{partition},spk_{name}")
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root


def test_manifest_layout_converts_and_interpolates(tmp_path):
    root = make(tmp_path / "src")
    report = convert_dataset("manifest", root / "manifest.csv", tmp_path / "out", progress=False)
    manifest = read_manifest(tmp_path / "out")
    assert report.recordings == 2 and manifest["label_names"] == ["arousal", "valence"]
    path = shard_paths(tmp_path / "out", "train")[0]
    recording = example_to_recording(next(iter(tf.data.TFRecordDataset(str(path)))).numpy())
    assert recording.speaker == "spk_a" and recording.num_frames == 20
    grid = np.arange(20) / 10
    np.testing.assert_allclose(recording.labels, np.stack([grid, 2 * grid], axis=1), atol=1e-4)
    assert recording.words == ["hallo", "welt"] and recording.word_start_s == pytest.approx([0.1, 0.5])


def test_label_files_must_share_dimensions(tmp_path):
    root = make(tmp_path / "src")
    (root / "b_labels.csv").write_text("time_s,arousal\n0.0,1\n2.0,1\n")
    with pytest.raises(InputFileError, match="label dimensions"):
        convert_dataset("manifest", root, tmp_path / "out", progress=False)
    assert not (tmp_path / "out" / "manifest.json").exists()
