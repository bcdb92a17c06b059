"""`convert_dataset`'s first step on its own: the shard plan, made from listings and headers."""
import numpy as np
import pytest
import scipy.io.wavfile as wavfile

from emorec.data.audio import AudioLimits
from emorec.errors import InputFileError
from tfrecords_tools.convert import PlannedShard, plan_conversion, plan_shard_files
from tfrecords_tools.layouts import get_layout
from tfrecords_tools.sources import SourceItem


def item(name, partition):
    return SourceItem(name=name, partition=partition, speaker="s", files=[f"{name}.wav"])


def test_shards_follow_the_partitions_in_listing_order_and_the_target_size():
    items = [item("a", "train"), item("b", "test"), item("c", "train"), item("d", "train")]
    shards = plan_shard_files(items, [0.6e6, 0.1e6, 0.6e6, 0.3e6], target_shard_mb=1.0)
    assert shards == [
        PlannedShard("train", "train-00000-of-00002.tfrecord", (0,)),
        PlannedShard("train", "train-00001-of-00002.tfrecord", (2, 3)),
        PlannedShard("test", "test-00000-of-00001.tfrecord", (1,)),
    ]


def test_no_items_plan_no_shards():
    assert plan_shard_files([], [], target_shard_mb=1.0) == []


def _source(root):
    """A manifest-layout source: two 1 s recordings at 16 kHz (train, test) and one with a broken
    WAV header (train)."""
    root.mkdir(parents=True)
    rows = ["audio,labels,partition"]
    for name, partition in (("a", "train"), ("b", "test"), ("broken", "train")):
        wavfile.write(root / f"{name}.wav", 16_000, np.zeros(16_000, np.int16))
        (root / f"{name}.csv").write_text("time_s,arousal\n0.0,0.1\n1.0,0.2\n")
        rows.append(f"{name}.wav,{name}.csv,{partition}")
    (root / "broken.wav").write_bytes(b"RIFF" + bytes(40))
    (root / "manifest.csv").write_text("\n".join(rows) + "\n")
    return root / "manifest.csv"


def test_plan_reads_headers_only_and_skips_or_refuses_a_bad_file(tmp_path):
    source = _source(tmp_path / "src")
    spec = get_layout("manifest")
    limits = AudioLimits(60.0, False)
    plan = plan_conversion(spec, source, spec.resolve({}), limits, on_error="skip")
    assert [i.name for i in plan.items] == ["a", "b"] and plan.label_names == ["arousal"]
    assert plan.sizes_bytes == pytest.approx([22_050 * 4, 22_050 * 4])  # 1 s of float32 at 22.05 kHz
    assert [entry["file"] for entry in plan.skipped] == [str(tmp_path / "src" / "broken.wav")]
    assert plan.partitions == ["train", "test"]
    assert [plan.item_names(shard) for shard in plan.shards] == [["a"], ["b"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # nothing written
    with pytest.raises(InputFileError, match="broken.wav"):
        plan_conversion(spec, source, spec.resolve({}), limits, on_error="fail")
