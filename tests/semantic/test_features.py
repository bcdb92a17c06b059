"""Frame-level semantic features: word-to-frame assignment, zeros exactly where no word, the
dataset writer on real (tiny) TFRecords, and the same code path for given and segmenter boundaries."""
from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES, MANIFEST_FILENAME, SAMPLE_RATE_HZ
from emorec.data.schema import Recording, recording_to_example
from emorec.data.semantic_features import parse_semantic_example, read_semantic_features
from emorec.semantic.features import (
    ALIGNMENT_FILENAME, SPEECH2VEC_DIRNAME, WORD2VEC_FILENAME, add_semantic_features, frame_word_index,
    semantic_frame_features, text_frame_features)
from emorec.semantic.segmenter import segment_words
from emorec.semantic.segments import Utterance
from emorec.semantic.speech2vec import Speech2VecConfig, save_speech2vec, train_speech2vec
from emorec.semantic.word2vec import save_keyed_vectors, train_word2vec

DIM = 6


def reference_word_index(starts, ends, num_frames):
    """Brute force: the word with the largest overlap (over 1 microsecond) with frame [i/10, (i+1)/10)."""
    out = []
    for i in range(num_frames):
        best, best_overlap = -1, 1e-6
        for w, (s, e) in enumerate(zip(starts, ends)):
            overlap = min(e, (i + 1) / 10) - max(s, i / 10)
            if overlap > best_overlap:
                best, best_overlap = w, overlap
        out.append(best)
    return np.array(out)


def test_frame_word_index_matches_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(20):
        edges = np.sort(rng.uniform(0, 3, size=8))
        starts, ends = edges[0::2], edges[1::2]
        np.testing.assert_array_equal(frame_word_index(starts, ends, 35), reference_word_index(starts, ends, 35))


def tone_audio(spans_s, num_frames, seed=0):
    rng = np.random.default_rng(seed)
    audio = 1e-4 * rng.standard_normal(num_frames * FRAME_LENGTH_SAMPLES)
    for k, (s, e) in enumerate(spans_s):
        a, b = int(s * SAMPLE_RATE_HZ), int(e * SAMPLE_RATE_HZ)
        audio[a:b] += 0.3 * np.sin(2 * np.pi * (200 + 150 * k) * np.arange(b - a) / SAMPLE_RATE_HZ)
    return audio.astype(np.float32)


SPANS = [(0.32, 0.61), (0.75, 1.12), (1.9, 2.26)]
WORDS = ["der", "lappen", "liegt"]


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory):
    folder = tmp_path_factory.mktemp("artefacts")
    utterances = [Utterance("u", "s", WORDS, [tone_audio([(0, e - s)], 5, k)[: int((e - s) * SAMPLE_RATE_HZ)]
                                              for k, (s, e) in enumerate(SPANS)])] * 2
    # An untrained (epochs=0) encoder is still a deterministic function of the segment.
    encoder, vectors, _ = train_speech2vec(utterances, Speech2VecConfig(dim=DIM, encoder_units=4, decoder_units=4,
                                                                        window=1, max_frames=20, epochs=0))
    save_speech2vec(folder / SPEECH2VEC_DIRNAME, encoder, vectors)
    keyed = train_word2vec([WORDS * 3], vector_size=DIM, min_count=1, epochs=1)
    save_keyed_vectors(keyed, folder / WORD2VEC_FILENAME)
    W, _ = np.linalg.qr(np.random.default_rng(0).standard_normal((DIM, DIM)))
    np.save(folder / ALIGNMENT_FILENAME, W.astype(np.float32))
    return folder, encoder, keyed, W.astype(np.float32)


def test_speech_features_are_zero_exactly_where_no_word(artefacts):
    _, encoder, _, W = artefacts
    num_frames = 30
    audio = tone_audio(SPANS, num_frames)
    raw = semantic_frame_features(audio, num_frames, SPANS, encoder, None)
    aligned = semantic_frame_features(audio, num_frames, SPANS, encoder, W)
    index = reference_word_index(*zip(*SPANS), num_frames)
    covered = index >= 0
    assert covered.sum() == 4 + 5 + 4  # frames 3-6, 7-11, 19-22
    assert np.all(aligned[~covered] == 0)
    assert np.all(np.any(aligned[covered] != 0, axis=1))
    embeddings = encoder.embed_segments([audio[round(s * SAMPLE_RATE_HZ):round(e * SAMPLE_RATE_HZ)] for s, e in SPANS])
    np.testing.assert_allclose(raw[covered], embeddings[index[covered]], atol=1e-5)
    np.testing.assert_allclose(aligned, raw @ W.T, atol=1e-5)


def test_segmenter_boundaries_use_the_same_path(artefacts):
    _, encoder, _, W = artefacts
    audio = tone_audio(SPANS, 30)
    spans = segment_words(audio)
    assert len(spans) == 3
    from_audio = semantic_frame_features(audio, 30, None, encoder, W)
    np.testing.assert_array_equal(from_audio, semantic_frame_features(audio, 30, spans, encoder, W))
    covered = reference_word_index(*zip(*spans), 30) >= 0
    assert np.all(from_audio[~covered] == 0) and np.all(np.any(from_audio[covered] != 0, axis=1))
    assert np.all(semantic_frame_features(np.zeros(30 * FRAME_LENGTH_SAMPLES, np.float32), 30, None, encoder, W) == 0)


def test_text_features_look_up_words_and_zero_oov(artefacts):
    _, _, keyed, _ = artefacts
    words = ["der", "zebra", "liegt"]
    features = text_frame_features(words, *zip(*SPANS), 30, keyed)
    index = reference_word_index(*zip(*SPANS), 30)
    for i, w in enumerate(index):
        expected = np.zeros(DIM) if w < 0 or words[w] == "zebra" else keyed[words[w]]
        np.testing.assert_array_equal(features[i], expected)


def write_converted(folder, recordings_by_partition):
    manifest = {"schema_version": 1, "sample_rate_hz": SAMPLE_RATE_HZ, "frame_rate_hz": 10,
                "label_names": ["arousal"], "partitions": {}, "complete": True}
    for partition, recordings in recordings_by_partition.items():
        shard = f"{partition}-00000-of-00001.tfrecord"
        with tf.io.TFRecordWriter(str(folder / shard)) as writer:
            for rec in recordings:
                writer.write(recording_to_example(rec).SerializeToString())
        manifest["partitions"][partition] = {"shards": [shard], "recordings": len(recordings)}
    (folder / MANIFEST_FILENAME).write_text(json.dumps(manifest))


def make_recording(name, partition, spans, words, num_frames, seed):
    audio = tone_audio(spans, num_frames, seed)
    num_samples = num_frames * FRAME_LENGTH_SAMPLES - 100
    audio[num_samples:] = 0
    return Recording(name, partition, "s1", num_samples, audio, ["arousal"], np.zeros((num_frames, 1), np.float32),
                     np.ones(num_frames, np.float32), list(words), [s for s, _ in spans], [e for _, e in spans])


@pytest.mark.parametrize("source,boundaries", [("word2vec", "given"), ("aligned_speech2vec", "given"),
                                               ("aligned_speech2vec", "segmenter"), ("speech2vec", "given")])
def test_converted_folder_gains_features_for_every_frame(tmp_path, artefacts, source, boundaries):
    folder, *_ = artefacts
    recordings = {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1),
                            make_recording("b", "train", SPANS[:1], WORDS[:1], 12, 2)],
                  "test": [make_recording("c", "test", [], [], 8, 3)]}
    write_converted(tmp_path, recordings)
    out = add_semantic_features(tmp_path, source, boundaries, folder)
    assert out == tmp_path / "semantic" / f"{source}-{boundaries}"
    meta = json.loads((out / "semantic.json").read_text())
    assert meta["source"] == source and meta["boundaries"] == boundaries and meta["dim"] == DIM
    assert meta["complete"] and meta["partitions"]["train"]["recordings"] == 2
    features = read_semantic_features(out)
    assert sorted(features) == ["a", "b", "c"]
    parsed = {}
    for partition, info in meta["partitions"].items():
        for shard in info["shards"]:
            for serialized in tf.data.TFRecordDataset(str(out / shard)):
                example = parse_semantic_example(serialized, DIM)
                parsed[example["name"].numpy().decode()] = (example["features"].numpy(), example["word_mask"].numpy())
    for rec in [r for rs in recordings.values() for r in rs]:
        values, mask = parsed[rec.name]
        np.testing.assert_array_equal(values, features[rec.name])
        assert values.shape == (rec.num_frames, DIM)
        if boundaries == "given":
            expected_mask = reference_word_index(rec.word_start_s, rec.word_end_s, rec.num_frames) >= 0
        else:
            spans = segment_words(rec.audio[: rec.num_samples])
            expected_mask = reference_word_index([s for s, _ in spans], [e for _, e in spans], rec.num_frames) >= 0
        np.testing.assert_array_equal(mask, expected_mask.astype(np.float32))
        assert np.all(values[~expected_mask] == 0)
        assert np.all(np.any(values[expected_mask] != 0, axis=1))


def test_impossible_settings_fail_before_writing(tmp_path, artefacts):
    from emorec.errors import ConfigError

    folder, *_ = artefacts
    write_converted(tmp_path, {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1)]})
    with pytest.raises(ConfigError, match="need boundaries 'given'"):
        add_semantic_features(tmp_path, "word2vec", "segmenter", folder)
    with pytest.raises(ConfigError, match="source"):
        add_semantic_features(tmp_path, "bert", "given", folder)
    assert not (tmp_path / "semantic").exists()


def shard_counts(folder):
    return {p.name: sum(1 for _ in tf.data.TFRecordDataset(str(p))) for p in sorted(folder.glob("*.tfrecord"))}


def test_failure_mid_write_leaves_nothing_that_looks_complete(tmp_path, artefacts, monkeypatch):
    import emorec.semantic.features as features_module

    folder, *_ = artefacts
    recordings = {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1),
                            make_recording("b", "train", SPANS[:1], WORDS[:1], 12, 2)],
                  "test": [make_recording("c", "test", SPANS[1:], WORDS[1:], 25, 3)]}
    write_converted(tmp_path, recordings)
    source_counts = {f"{p}-00000-of-00001.tfrecord": len(r) for p, r in recordings.items()}
    real = features_module.recording_features
    calls = []

    def fail_on_second(rec, *args, **kwargs):
        calls.append(rec.name)
        if len(calls) == 2:
            raise RuntimeError("encoder crashed")
        return real(rec, *args, **kwargs)

    out = tmp_path / "semantic" / "word2vec-given"
    # A first run that fails: no metadata claiming completeness, no shard under its final name.
    monkeypatch.setattr(features_module, "recording_features", fail_on_second)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        add_semantic_features(tmp_path, "word2vec", "given", folder)
    assert json.loads((out / "semantic.json").read_text())["complete"] is False
    assert shard_counts(out) == {} and not list(out.glob("*.partial"))
    with pytest.raises(Exception, match="not completely written"):
        read_semantic_features(out)

    # A complete run, then a failing rerun: the old metadata stops claiming completeness at once,
    # and every shard under a final name is whole (the old one kept, the new one never published).
    monkeypatch.setattr(features_module, "recording_features", real)
    add_semantic_features(tmp_path, "word2vec", "given", folder)
    assert json.loads((out / "semantic.json").read_text())["complete"] is True
    assert shard_counts(out) == source_counts
    calls.clear()
    monkeypatch.setattr(features_module, "recording_features", fail_on_second)
    with pytest.raises(RuntimeError, match="encoder crashed"):
        add_semantic_features(tmp_path, "word2vec", "given", folder)
    assert json.loads((out / "semantic.json").read_text())["complete"] is False
    assert shard_counts(out) == source_counts and not list(out.glob("*.partial"))


def test_writing_one_partition_keeps_the_others(tmp_path, artefacts):
    folder, *_ = artefacts
    recordings = {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1),
                            make_recording("b", "train", SPANS[:1], WORDS[:1], 12, 2)],
                  "test": [make_recording("c", "test", SPANS[1:], WORDS[1:], 25, 3)]}
    write_converted(tmp_path, recordings)
    out = add_semantic_features(tmp_path, "word2vec", "given", folder, partitions=["train"])
    assert list(json.loads((out / "semantic.json").read_text())["partitions"]) == ["train"]
    add_semantic_features(tmp_path, "word2vec", "given", folder, partitions=["test"])
    meta = json.loads((out / "semantic.json").read_text())
    assert meta["complete"] is True and meta["dim"] == DIM
    assert {p: (i["shards"], i["shard_recordings"], i["recordings"]) for p, i in meta["partitions"].items()} == {
        "train": (["train-00000-of-00001.tfrecord"], [2], 2), "test": (["test-00000-of-00001.tfrecord"], [1], 1)}
    assert sorted(read_semantic_features(out)) == ["a", "b", "c"]

    # Another setting into the same folder must not keep partitions made with different vectors.
    add_semantic_features(tmp_path, "speech2vec", "given", folder, partitions=["test"], output_dir=out)
    meta = json.loads((out / "semantic.json").read_text())
    assert meta["source"] == "speech2vec" and list(meta["partitions"]) == ["test"]
    # A shard that disappeared is not listed again either.
    add_semantic_features(tmp_path, "speech2vec", "given", folder, partitions=["train"], output_dir=out)
    (out / "train-00000-of-00001.tfrecord").unlink()
    add_semantic_features(tmp_path, "speech2vec", "given", folder, partitions=["test"], output_dir=out)
    assert list(json.loads((out / "semantic.json").read_text())["partitions"]) == ["test"]


def test_progress_counts_recordings(tmp_path, artefacts, capsys):
    folder, *_ = artefacts
    write_converted(tmp_path, {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1),
                                         make_recording("b", "train", SPANS[:1], WORDS[:1], 12, 2)],
                               "test": [make_recording("c", "test", [], [], 8, 3)]})
    add_semantic_features(tmp_path, "word2vec", "given", folder, progress=True)
    lines = capsys.readouterr().err.splitlines()
    assert [line.split(" [")[0] for line in lines] == [f"semantic features word2vec-given: {n}/3 recording"
                                                      for n in (1, 2, 3)], lines


def test_the_features_verb_takes_its_segmenter_from_the_config(tmp_path, artefacts):
    """`emorec semantic features --config/--set`: `semantic.segmenter` decides the words. The last
    word is 25 dB below the others: speech within the default 30 dB threshold, silence within 20 dB."""
    from click.testing import CliRunner

    from emorec.cli import cli

    folder, *_ = artefacts
    recording = make_recording("a", "train", SPANS, WORDS, 30, 1)
    quiet_start, quiet_end = (int(t * SAMPLE_RATE_HZ) for t in SPANS[2])
    recording.audio[quiet_start:quiet_end] *= 10 ** (-25 / 20)
    write_converted(tmp_path, {"train": [recording]})
    config = tmp_path / "experiment.yaml"
    config.write_text("semantic:\n  segmenter:\n    threshold_db: 20\n", encoding="utf-8")

    def run(name, *options):
        out = tmp_path / name
        result = CliRunner().invoke(cli, ["semantic", "features", str(tmp_path), "--source", "speech2vec",
                                          "--boundaries", "segmenter", "--artefacts", str(folder), "--out", str(out),
                                          "--json", *options])
        assert result.exit_code == 0, result.output
        report = json.loads(result.output[result.output.index("{"):])
        (serialized,) = tf.data.TFRecordDataset(str(out / "train-00000-of-00001.tfrecord"))
        return report["segmenter"]["threshold_db"], parse_semantic_example(serialized, DIM)["word_mask"].numpy()

    loud_frames, quiet_frames = [4, 5, 8, 9, 10], [20, 21]  # frames inside SPANS' words
    threshold, mask = run("defaults")
    assert threshold == 30.0 and np.all(mask[loud_frames] == 1) and np.all(mask[quiet_frames] == 1)
    threshold, mask = run("file", "--config", str(config))
    assert threshold == 20.0 and np.all(mask[loud_frames] == 1) and np.all(mask[19:23] == 0)
    # --set over the file, as on the other semantic verbs.
    threshold, mask = run("set", "--config", str(config), "--set", "semantic.segmenter.threshold_db=30")
    assert threshold == 30.0 and np.all(mask[quiet_frames] == 1)
    # Without --json, a summary for a person.
    result = CliRunner().invoke(cli, ["semantic", "features", str(tmp_path), "--source", "speech2vec", "--boundaries",
                                      "segmenter", "--artefacts", str(folder), "--out", str(tmp_path / "summary")])
    assert result.exit_code == 0 and "{" not in result.output, result.output
    assert "train: 1 recordings, " in result.output and "(speech2vec, segmenter boundaries)" in result.output
    assert f"wrote {tmp_path / 'summary'}" in result.output


def test_a_bad_segmenter_value_on_the_features_verb_names_the_key(tmp_path, artefacts):
    from click.testing import CliRunner

    from emorec.cli import cli
    from emorec.errors import ConfigError

    folder, *_ = artefacts
    write_converted(tmp_path, {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1)]})
    result = CliRunner().invoke(cli, ["semantic", "features", str(tmp_path), "--source", "speech2vec", "--boundaries",
                                      "segmenter", "--artefacts", str(folder), "--set", "semantic.segmenter.hop_s=0.05"])
    assert isinstance(result.exception, ConfigError) and result.exception.key == "semantic.segmenter.hop_s"
    assert not (tmp_path / "semantic").exists()


def segmenter_experiment(path, yaml_text: str):
    """An experiment config file (and its config) whose model reads speech2vec features of
    segmenter boundaries; yaml_text adds sections."""
    from emorec.config import load_config

    path.write_text("model:\n  semantic_features: {source: speech2vec, boundaries: segmenter, dim: %d}\n%s"
                    % (DIM, yaml_text), encoding="utf-8")
    return path, load_config(path)


def test_features_segmented_otherwise_than_the_config_are_refused(tmp_path, artefacts):
    """Other segmenter settings find other words: features written with them must not silently
    train or be scored under a config that says otherwise."""
    from emorec.data.semantic_features import resolve_semantic_features
    from emorec.errors import ConfigError

    folder, *_ = artefacts
    write_converted(tmp_path, {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1)]})
    written_path, written = segmenter_experiment(tmp_path / "written.yaml",
                                                 "semantic:\n  segmenter: {threshold_db: 20, max_word_s: 0.8}\n")
    out = add_semantic_features(tmp_path, "speech2vec", "segmenter", folder, segmenter_config=written.semantic.segmenter)

    _, defaults = segmenter_experiment(tmp_path / "defaults.yaml", "")
    with pytest.raises(ConfigError) as error:
        resolve_semantic_features(tmp_path, defaults.model.semantic_features, segmenter=defaults.semantic.segmenter,
                                  config_source="config 'defaults'")
    message = str(error.value)
    assert error.value.key == "semantic.segmenter" and "\n" not in message
    assert str(out) in message
    assert "threshold_db: config 30.0, features 20.0" in message and "max_word_s: config 0.6, features 0.8" in message
    assert "min_word_s" not in message  # only the settings that differ
    assert "emorec semantic features" in message and "--boundaries segmenter" in message and "--config" in message
    assert "set semantic.segmenter" in message

    # The config the features were written with is accepted, and named as the one to rewrite them with.
    assert resolve_semantic_features(tmp_path, written.model.semantic_features,
                                     segmenter=written.semantic.segmenter) == (out, DIM)
    with pytest.raises(ConfigError, match=f"--config {written_path}"):
        resolve_semantic_features(tmp_path, written.model.semantic_features, segmenter=defaults.semantic.segmenter,
                                  config_source=str(written_path))


def test_features_without_recorded_segmenter_settings_are_refused(tmp_path, artefacts):
    """As a folder without its source or dim: settings that are not recorded cannot be checked."""
    from emorec.data.semantic_features import resolve_semantic_features
    from emorec.errors import ConfigError

    folder, *_ = artefacts
    write_converted(tmp_path, {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1)]})
    out = add_semantic_features(tmp_path, "speech2vec", "segmenter", folder)
    meta = json.loads((out / "semantic.json").read_text())
    del meta["segmenter"]
    (out / "semantic.json").write_text(json.dumps(meta))
    _, config = segmenter_experiment(tmp_path / "experiment.yaml", "")
    with pytest.raises(ConfigError, match="record no segmenter settings"):
        resolve_semantic_features(tmp_path, config.model.semantic_features, segmenter=config.semantic.segmenter)


def test_given_boundaries_have_no_segmenter_settings_to_check(tmp_path, artefacts):
    from emorec.config import SegmenterConfig, SemanticFeaturesConfig
    from emorec.data.semantic_features import resolve_semantic_features

    folder, *_ = artefacts
    write_converted(tmp_path, {"train": [make_recording("a", "train", SPANS, WORDS, 30, 1)]})
    out = add_semantic_features(tmp_path, "speech2vec", "given", folder, segmenter_config=SegmenterConfig())
    given = SemanticFeaturesConfig(source="speech2vec", boundaries="given", dim=DIM)
    assert resolve_semantic_features(tmp_path, given, segmenter=SegmenterConfig(threshold_db=20)) == (out, DIM)
