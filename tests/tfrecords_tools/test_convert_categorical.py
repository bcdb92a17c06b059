"""The layouts of corpora labelled by category (ravdess, nemo, ased, folders) on small generated
files in each corpus's own layout, converted for real; then the real corpora's listings, skipped
when they are absent (they are fetched, not shipped: see ../shared/data/README.md)."""
from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pytest
import yaml

from emorec.config import RESOURCES_DIR
from emorec.data.manifest import read_manifest
from emorec.errors import DatasetError, InputFileError
from tfrecords_tools import convert_dataset, get_layout

REPO_ROOT = Path(__file__).resolve().parents[2]


def expected_target(category):
    """The map file's row for `category`, rescaled to [-1, 1] as the file's `rescale` says."""
    table = yaml.safe_load((RESOURCES_DIR / "category_vad_map.yaml").read_text(encoding="utf-8"))
    assert table["rescale"] == "minus_one_to_one"
    row = table["categories"][category]
    return [2 * row["arousal"] - 1, 2 * row["valence"] - 1, 2 * row["dominance"] - 1]


def test_ravdess_reads_actor_folders_and_file_name_fields(tmp_path, write_wav, recordings):
    source = tmp_path / "ravdess"
    # happy strong statement 2 by actor 01; fearful normal statement 1 by 02; a song file (left out).
    write_wav(source / "Actor_01" / "03-01-03-02-02-01-01.wav", 48_000)
    write_wav(source / "Actor_02" / "03-01-06-01-01-02-02.wav", 48_000, seed=1)
    write_wav(source / "Actor_03" / "03-01-08-01-01-01-03.wav", 48_000, seed=2)
    write_wav(source / "Actor_01" / "03-02-03-01-01-01-01.wav", 48_000, seed=3)
    report = convert_dataset("ravdess", source, tmp_path / "out", progress=False, train_speakers="01",
                             devel_speakers="02", test_speakers=["03"])
    assert report.recordings == 3
    found = recordings(tmp_path / "out")
    happy, fearful = found["03-01-03-02-02-01-01"], found["03-01-06-01-01-02-02"]
    assert (happy.partition, happy.speaker, happy.corpus, happy.category) == ("train", "ravdess-01", "ravdess",
                                                                            "happiness")
    assert (fearful.partition, fearful.speaker) == ("devel", "ravdess-02")
    assert found["03-01-08-01-01-01-03"].partition == "test"
    np.testing.assert_allclose(happy.labels, np.tile(expected_target("happiness"), (len(happy.labels), 1)), atol=1e-6)
    np.testing.assert_allclose(fearful.labels[0], expected_target("fear"), atol=1e-6)
    np.testing.assert_allclose(found["03-01-08-01-01-01-03"].labels[0], expected_target("surprise"), atol=1e-6)
    assert happy.words == ["dogs", "are", "sitting", "by", "the", "door"]
    assert fearful.words == ["kids", "are", "talking", "by", "the", "door"]
    assert happy.word_start_s[0] == 0 and happy.word_end_s[-1] == pytest.approx(0.45, abs=1e-4)
    manifest = read_manifest(tmp_path / "out")
    assert manifest["derived_targets"] is True
    assert any("intensity" in note and "not used" in note for note in manifest["notes"])
    # The packaged map is recorded as null, not by the install's path: a conversion made from another
    # checkout or install of the same emorec has the same options.
    assert manifest["options"]["layout_options"]["label_map"] is None
    assert any("packaged label map category_vad_map.yaml" in note for note in manifest["notes"])


def test_nemo_reads_its_table_and_strips_speaker_ids(tmp_path, write_wav, recordings):
    source = tmp_path / "nemo"
    rows = [("SM0_anger_1.wav", "anger", "Kupiłem nową szafę.", "        SM0"),
            ("IC0_surprised_2.wav", "surprised", "Ucho wykrywa dźwięki.", "        IC0"),
            ("KD0_sadness_3.wav", "sadness", "Interesuje mnie historia Polski.", "        KD0")]
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    for seed, (file_id, emotion, text, speaker) in enumerate(rows):
        write_wav(source / "samples" / file_id, 24_000, seed=seed)
        lines.append(f"{file_id}\t{emotion}\t{text}\t{text.lower()}\t{speaker}\tmale\t23")
    (source / "data.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    convert_dataset("nemo", source, tmp_path / "out", progress=False, train_speakers="SM0", devel_speakers="IC0",
                    test_speakers="KD0")
    found = recordings(tmp_path / "out")
    assert {name: (r.partition, r.speaker) for name, r in found.items()} == {
        "SM0_anger_1": ("train", "nemo-SM0"), "IC0_surprised_2": ("devel", "nemo-IC0"),
        "KD0_sadness_3": ("test", "nemo-KD0")}
    np.testing.assert_allclose(found["IC0_surprised_2"].labels[0], expected_target("surprise"), atol=1e-6)
    assert (found["IC0_surprised_2"].corpus, found["IC0_surprised_2"].category) == ("nemo", "surprise")
    assert found["SM0_anger_1"].words == ["kupiłem", "nową", "szafę"]


def test_ased_reads_emotion_folders_and_takes_the_speaker_from_the_last_field(tmp_path, write_wav, recordings):
    source = tmp_path / "ased"
    write_wav(source / "01Neutral" / "n1-26-01-01-09.wav")
    write_wav(source / "05Angry" / "a5-03-01-02-09.wav", seed=1)  # speaker 09 again, other gender code
    write_wav(source / "04Sad" / "S4-27-02-02-50.wav", seed=2)  # the release's one capital letter
    convert_dataset("ased", source, tmp_path / "out", progress=False, train_speakers="09", devel_speakers=[],
                    test_speakers="50")
    found = recordings(tmp_path / "out")
    assert {r.speaker for r in found.values() if r.partition == "train"} == {"ased-09"}
    assert found["S4-27-02-02-50"].partition == "test"
    np.testing.assert_allclose(found["a5-03-01-02-09"].labels[0], expected_target("anger"), atol=1e-6)
    np.testing.assert_allclose(found["S4-27-02-02-50"].labels[0], expected_target("sadness"), atol=1e-6)
    assert found["n1-26-01-01-09"].words == []  # ASED gives no transcripts


def test_ased_refuses_a_file_in_the_wrong_emotion_folder(tmp_path, write_wav):
    write_wav(tmp_path / "ased" / "03Happy" / "a5-03-01-02-09.wav")
    with pytest.raises(InputFileError, match="not an ASED file name of folder 03Happy"):
        convert_dataset("ased", tmp_path / "ased", tmp_path / "out", progress=False, devel_speakers=[],
                        test_speakers=[])


def test_folders_takes_categories_from_subfolders_and_speakers_from_a_pattern(tmp_path, write_wav, recordings):
    source = tmp_path / "mine"
    write_wav(source / "happy" / "anna_take1.wav")
    write_wav(source / "angry" / "bob-2.wav", seed=1)
    write_wav(source / "calm" / "anna_take2.wav", seed=2)
    convert_dataset("folders", source, tmp_path / "out", progress=False, test_speakers="bob")
    found = recordings(tmp_path / "out")
    assert {name: (r.partition, r.speaker) for name, r in found.items()} == {
        "happy/anna_take1": ("train", "folders-anna"), "angry/bob-2": ("test", "folders-bob"),
        "calm/anna_take2": ("train", "folders-anna")}
    np.testing.assert_allclose(found["calm/anna_take2"].labels[0], expected_target("calm"), atol=1e-6)
    convert_dataset("folders", source, tmp_path / "by_take", progress=False, speaker_pattern=r"(\d)$")
    assert {r.speaker for r in recordings(tmp_path / "by_take").values()} == {"folders-1", "folders-2"}


def test_folders_refuses_a_category_the_map_does_not_have(tmp_path, write_wav):
    write_wav(tmp_path / "mine" / "grumpy" / "anna_1.wav")
    with pytest.raises(DatasetError, match="category 'grumpy' is not in the packaged label map"):
        convert_dataset("folders", tmp_path / "mine", tmp_path / "out", progress=False)


def test_a_listed_speaker_the_corpus_lacks_is_refused(tmp_path, write_wav):
    write_wav(tmp_path / "ravdess" / "Actor_01" / "03-01-03-02-02-01-01.wav")
    with pytest.raises(DatasetError, match="test speaker '23' is not in the corpus"):
        convert_dataset("ravdess", tmp_path / "ravdess", tmp_path / "out", progress=False, devel_speakers=[])


def test_every_category_of_every_layout_is_a_row_of_the_shared_map():
    rows = set(yaml.safe_load((RESOURCES_DIR / "category_vad_map.yaml").read_text(encoding="utf-8"))["categories"])
    for name in ("emodb", "ravdess", "nemo", "ased", "folders"):
        layout = get_layout(name)
        assert layout.derived_targets and layout.categories, name
        assert set(layout.categories.values()) <= rows, name


# --- The real corpora: listings only (decoding them is the benchmark's job) ------------------------

REAL = {  # layout: (folder name, files, categories)
    "ravdess": ("ravdess", 1440, {"neutral": 96, "calm": 192, "happiness": 192, "sadness": 192, "anger": 192,
                                  "fear": 192, "disgust": 192, "surprise": 192}),
    "nemo": ("nemo", 4481, {"anger": 749, "fear": 736, "happiness": 749, "neutral": 809, "sadness": 769,
                            "surprise": 669}),
    "ased": ("ased", 2474, {"neutral": 522, "fear": 510, "happiness": 486, "sadness": 470, "anger": 486}),
}


@pytest.mark.corpus
@pytest.mark.parametrize("layout", sorted(REAL))
def test_real_corpus_listing(layout):
    folder, files, categories = REAL[layout]
    candidates = [REPO_ROOT.parent / "shared" / "data" / folder, REPO_ROOT.parent / "corpora" / folder]
    source = next((path for path in candidates if path.is_dir()), None)
    if source is None:
        pytest.skip(f"{layout} not available at {' or '.join(map(str, candidates))} (fetch it as ../shared/data/README.md says)")
    spec = get_layout(layout)
    items = spec.list_items(source, spec.resolve({}))
    assert len(items) == files
    assert collections.Counter(item.category for item in items) == categories
    held_out = {item.speaker for item in items if item.partition != "train"}
    assert len(held_out) == 4 and all(item.speaker.startswith(f"{layout}-") for item in items)


def test_sessions_join_a_speakers_utterances_with_their_own_targets_and_words(tmp_path, write_wav, recordings):
    source = tmp_path / "ravdess"
    files = ["03-01-03-01-01-01-01", "03-01-04-01-02-01-01", "03-01-05-01-01-02-01"]  # happy, sad, angry
    for seed, stem in enumerate(files):
        write_wav(source / "Actor_01" / f"{stem}.wav", 48_000, seconds=0.45, seed=seed)
    convert_dataset("ravdess", source, tmp_path / "out", progress=False, train_speakers="01", devel_speakers=[],
                    test_speakers=[], sessions=2, seed=0)
    found = recordings(tmp_path / "out")
    assert sorted(found) == ["01_session00", "01_session01"]
    first = found["01_session00"]
    assert (first.speaker, first.corpus, first.category) == ("ravdess-01", "ravdess", "")  # mixed categories
    assert first.num_frames == 10  # two utterances of 0.45 s, each padded to 5 frames
    joined = read_manifest(tmp_path / "out")["joined_recordings"]
    order = [Path(path).stem for path in joined["01_session00"]]
    assert len(order) == 2 and set(order) < set(files)
    category = {"03-01-03-01-01-01-01": "happiness", "03-01-04-01-02-01-01": "sadness",
                "03-01-05-01-01-02-01": "anger"}
    np.testing.assert_allclose(first.labels[:5], np.tile(expected_target(category[order[0]]), (5, 1)), atol=1e-6)
    np.testing.assert_allclose(first.labels[5:], np.tile(expected_target(category[order[1]]), (5, 1)), atol=1e-6)
    assert len(first.words) == 12 and first.word_start_s[6] == pytest.approx(0.5)  # second sentence from frame 5
    assert found["01_session01"].num_frames == 5  # the last session holds the one left


def test_session_partitions_leave_devel_one_recording_per_utterance(tmp_path, write_wav, recordings):
    source = tmp_path / "ravdess"
    files = ["03-01-03-01-01-01-{a}", "03-01-04-01-02-01-{a}", "03-01-05-01-01-02-{a}"]  # happy, sad, angry
    for actor in ("01", "02"):
        for seed, stem in enumerate(files):
            write_wav(source / f"Actor_{actor}" / f"{stem.format(a=actor)}.wav", 48_000, seconds=0.45, seed=seed)
    convert_dataset("ravdess", source, tmp_path / "out", progress=False, train_speakers="01", devel_speakers="02",
                    test_speakers=[], sessions=3, session_partitions="train")
    found = recordings(tmp_path / "out")
    assert {name: found[name].partition for name in found} == {
        "01_session00": "train", "03-01-03-01-01-01-02": "devel", "03-01-04-01-02-01-02": "devel",
        "03-01-05-01-01-02-02": "devel"}
    assert found["03-01-04-01-02-01-02"].category == "sadness"  # scored per file, with its category
    with pytest.raises(DatasetError, match="--session-partitions: 'dev' is not a partition"):
        convert_dataset("ravdess", source, tmp_path / "bad", progress=False, train_speakers="01",
                        devel_speakers="02", test_speakers=[], sessions=3, session_partitions="train,dev")


def test_train_minutes_caps_training_audio_in_turn_over_speakers_and_categories(tmp_path, write_wav, recordings):
    source = tmp_path / "ravdess"
    for actor in ("01", "02"):
        for emotion in ("03", "05"):  # happy, angry
            for statement in ("01", "02"):
                for repetition in ("01", "02"):
                    # 4 groups (actor x emotion) of 4 files of 4.5 s: 72 s in all
                    write_wav(source / f"Actor_{actor}" / f"03-01-{emotion}-01-{statement}-{repetition}-{actor}.wav",
                              seconds=4.5)
    write_wav(source / "Actor_03" / "03-01-03-01-01-01-03.wav", seconds=4.5)
    convert_dataset("ravdess", source, tmp_path / "out", progress=False, devel_speakers=[], test_speakers="03",
                    train_minutes=1)
    found = recordings(tmp_path / "out")
    train = [r for r in found.values() if r.partition == "train"]
    assert len(train) == 14  # 14 x 4.5 s = 63 s: the first file past 60 s ends the choice
    counts = collections.Counter((r.speaker, r.category) for r in train)
    assert sorted(counts.values()) == [3, 3, 4, 4]  # taken in turn: no group more than one ahead
    assert sum(r.partition == "test" for r in found.values()) == 1  # held-out speakers are never capped
