"""The `corpora` layout: several corpora, each read by its own layout, in one converted dataset."""
from __future__ import annotations

import pytest

from emorec.data.manifest import read_manifest
from emorec.errors import ConfigError, DatasetError
from tfrecords_tools import convert_dataset, format_info


@pytest.fixture
def three_corpora(tmp_path, write_wav):
    """Generated RAVDESS (actors 01, 02), ASED (speakers 09, 50) and a category-folder corpus."""
    write_wav(tmp_path / "rav" / "Actor_01" / "03-01-03-01-01-01-01.wav")
    write_wav(tmp_path / "rav" / "Actor_02" / "03-01-05-01-02-01-02.wav", seed=1)
    write_wav(tmp_path / "rav" / "Actor_02" / "03-01-01-01-02-01-02.wav", seed=2)
    write_wav(tmp_path / "ased" / "01Neutral" / "n1-26-01-01-09.wav", seed=3)
    write_wav(tmp_path / "ased" / "05Angry" / "a5-03-01-02-50.wav", seed=4)
    write_wav(tmp_path / "mine" / "happy" / "anna_1.wav", seed=5)
    return tmp_path


def write_list(folder, text):
    (folder / "corpora.yaml").write_text(text, encoding="utf-8")
    return folder / "corpora.yaml"


LIST = """corpora:
  - layout: ravdess
    source: rav
    options: {train_speakers: ["01"], devel_speakers: ["02"], test_speakers: []}
  - layout: folders
    source: mine
    name: own
  - layout: ased
    source: $ASED_HOME
    partition: test
"""


def test_corpora_are_named_qualified_and_partitioned_per_part(three_corpora, monkeypatch, recordings):
    monkeypatch.setenv("ASED_HOME", str(three_corpora / "ased"))
    report = convert_dataset("corpora", write_list(three_corpora, LIST), three_corpora / "out", progress=False)
    assert report.recordings == 6
    found = recordings(three_corpora / "out")
    summary = {name: (r.partition, r.speaker, r.corpus, r.category) for name, r in found.items()}
    assert summary == {
        "ravdess/03-01-03-01-01-01-01": ("train", "ravdess-01", "ravdess", "happiness"),
        "ravdess/03-01-05-01-02-01-02": ("devel", "ravdess-02", "ravdess", "anger"),
        "ravdess/03-01-01-01-02-01-02": ("devel", "ravdess-02", "ravdess", "neutral"),
        "own/happy/anna_1": ("train", "own-anna", "own", "happiness"),
        "ased/n1-26-01-01-09": ("test", "ased-09", "ased", "neutral"),
        "ased/a5-03-01-02-50": ("test", "ased-50", "ased", "anger"),
    }
    manifest = read_manifest(three_corpora / "out")
    corpora = manifest["corpora"]
    assert list(corpora) == ["ased", "own", "ravdess"]
    assert corpora["ravdess"]["partitions"]["devel"]["recordings"] == 2
    assert corpora["ravdess"]["partitions"]["devel"]["speakers"] == 1
    assert corpora["ravdess"]["partitions"]["devel"]["duration_s"] == pytest.approx(0.9, abs=1e-3)
    assert corpora["ased"]["categories"] == {"anger": 1, "neutral": 1}
    info = format_info(manifest, "out")
    assert "ravdess    train 1 / 0.0 / 1; devel 2 / 0.0 / 1; happiness 1, anger 1, neutral 1" not in info  # sorted:
    assert "ravdess    train 1 / 0.0 / 1; devel 2 / 0.0 / 1; anger 1, happiness 1, neutral 1" in info
    assert "ased       test 2 / 0.0 / 2; anger 1, neutral 1" in info


def test_a_changed_corpora_file_is_a_changed_conversion(three_corpora, monkeypatch):
    monkeypatch.setenv("ASED_HOME", str(three_corpora / "ased"))
    path = write_list(three_corpora, LIST)
    convert_dataset("corpora", path, three_corpora / "out", progress=False)
    assert convert_dataset("corpora", path, three_corpora / "out", progress=False).up_to_date
    write_list(three_corpora, LIST.replace("partition: test", "partition: devel"))
    with pytest.raises(DatasetError, match="with other options; pass --overwrite"):
        convert_dataset("corpora", path, three_corpora / "out", progress=False)


@pytest.mark.parametrize("text, message", [
    ("corpora: []\n", "must be a list"),
    ("corpora:\n  - {layout: ravdess}\n", "needs layout and source"),
    ("corpora:\n  - {layout: ravdess, source: rav, colour: red}\n", "needs layout and source"),
    ("corpora:\n  - {layout: ravdess, source: rav, partition: later}\n", "must be one of train, devel, test"),
    ("corpora:\n  - {layout: ravdess, source: rav}\n  - {layout: ravdess, source: rav}\n", "is used twice"),
    ("corpora:\n  - {layout: ravdess, source: rav, options: {frames: 2}}\n", "has no option(s) frames"),
])
def test_a_bad_corpora_file_is_one_error_naming_it(three_corpora, text, message):
    with pytest.raises((ConfigError, DatasetError)) as error:
        convert_dataset("corpora", write_list(three_corpora, text), three_corpora / "out", progress=False)
    assert message in str(error.value)
    assert not (three_corpora / "out" / "manifest.json").exists()


def test_corpora_with_other_label_dimensions_are_refused(three_corpora, write_wav):
    sewa = three_corpora / "sewa" / "audio"
    write_wav(sewa / "Train_01.wav")
    text = "corpora:\n  - {layout: ravdess, source: rav, partition: train}\n  - {layout: sewa, source: sewa}\n"
    with pytest.raises(DatasetError, match="a dataset holds one set of label dimensions"):
        convert_dataset("corpora", write_list(three_corpora, text), three_corpora / "out", progress=False)
