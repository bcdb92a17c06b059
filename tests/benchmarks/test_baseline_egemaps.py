"""benchmarks/baseline_egemaps.py: standardisation without peeking, no test labels read, and the script
end to end on a tiny generated converted folder (that part needs the `bench` extra)."""
import json

import numpy as np
import pytest

from benchmarks import baseline_egemaps as baseline


def test_per_speaker_standardisation_uses_only_that_speakers_rows():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(12, 4)) * [1, 2, 3, 4] + [5, -5, 0, 10]
    speakers = np.array(["a", "b", "c"] * 4)
    out = baseline.standardise_per_speaker(features, speakers)
    a = speakers == "a"
    np.testing.assert_allclose(out[a], (features[a] - features[a].mean(0)) / features[a].std(0))
    for speaker in "abc":
        np.testing.assert_allclose(out[speakers == speaker].mean(0), 0, atol=1e-12)
        np.testing.assert_allclose(out[speakers == speaker].std(0), 1)
    # Another speaker's rows, however wild, change nothing for speaker a.
    changed = features.copy()
    changed[speakers == "b"] = changed[speakers == "b"] * 1000 + 1e6
    changed[np.flatnonzero(speakers == "c")[0]] = np.nan
    np.testing.assert_array_equal(baseline.standardise_per_speaker(changed, speakers)[a], out[a])


def test_per_speaker_standardisation_refuses_recordings_without_a_speaker():
    with pytest.raises(ValueError, match="no speaker id"):
        baseline.standardise_per_speaker(np.ones((3, 2)), ["a", "", "a"])


def test_training_statistics_never_read_devel_or_test_rows():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(10, 3)) * 3 + 2
    train = np.array([True] * 6 + [False] * 4)
    out = baseline.standardise_with_rows(features, train)
    mean, sd = features[train].mean(0), features[train].std(0)
    np.testing.assert_allclose(out, (features - mean) / sd)
    # NaN or huge values outside the training rows would poison any statistic that read them.
    poisoned = features.copy()
    poisoned[6] = np.nan
    poisoned[7:] *= 1e6
    poisoned_out = baseline.standardise_with_rows(poisoned, train)
    np.testing.assert_array_equal(poisoned_out[train], out[train])
    np.testing.assert_allclose(poisoned_out[7:], (poisoned[7:] - mean) / sd)


def synthetic_corpus(seed=0):
    """3 partitions x 2 speakers x 8 recordings, 6 features (2 informative, speaker offsets on all),
    recordings of 3 to 5 frames with the last frame masked."""
    rng = np.random.default_rng(seed)
    names, partitions, speakers, features, labels, masks = [], [], [], [], [], []
    for partition in ("train", "devel", "test"):
        for s in range(2):
            offset = rng.normal(size=6) * 3
            for i in range(8):
                target = rng.uniform(-1, 1, size=2)
                frames = int(rng.integers(3, 6))
                features.append(np.r_[target * 2, rng.normal(size=4)] + offset + rng.normal(size=6) * 0.1)
                labels.append(np.tile(target, (frames, 1)))
                masks.append(np.r_[np.ones(frames - 1), 0.0])
                names.append(f"{partition}{s}_{i}")
                partitions.append(partition)
                speakers.append(f"{partition}{s}")
    return baseline.Corpus(
        names=np.array(names), partitions=np.array(partitions), speakers=np.array(speakers),
        features=np.array(features), label_names=["arousal", "valence"],
        frame_labels=np.concatenate(labels).astype(np.float32),
        frame_mask=np.concatenate(masks).astype(np.float32),
        frame_offsets=np.r_[0, np.cumsum([len(m) for m in masks])].astype(np.int64),
        corpora=np.array(["synthetic"] * len(names)), categories=np.array([""] * len(names)),
    )


@pytest.mark.parametrize("speaker_statistics", [False, True])
def test_protocol_reads_no_test_labels(speaker_statistics):
    pytest.importorskip("sklearn", reason="scikit-learn is in the `bench` extra")
    corpus = synthetic_corpus()
    systems = baseline.run_protocol(corpus, speaker_statistics=speaker_statistics)
    assert [s["refit_on_devel"] for s in systems] == [False, True]
    if speaker_statistics:  # the speaker offsets swamp the signal unless removed
        assert systems[1]["test_ccc"]["mean"] > 0.5
    test_frames = np.concatenate([np.arange(corpus.frame_offsets[i], corpus.frame_offsets[i + 1])
                                  for i in np.flatnonzero(corpus.rows("test"))])
    corpus.frame_labels[test_frames] = -corpus.frame_labels[test_frames][::-1]
    again = baseline.run_protocol(corpus, speaker_statistics=speaker_statistics)
    for before, after in zip(systems, again):
        assert before["complexity"] == after["complexity"]
        np.testing.assert_array_equal(before["test_predictions"], after["test_predictions"])


def test_train_statistics_path_ignores_test_features():
    pytest.importorskip("sklearn", reason="scikit-learn is in the `bench` extra")
    corpus = synthetic_corpus()
    systems = baseline.run_protocol(corpus, speaker_statistics=False)
    test = np.flatnonzero(corpus.rows("test"))
    corpus.features[test[0]] = corpus.features[test[0]] * 100 + 50
    again = baseline.run_protocol(corpus, speaker_statistics=False)
    for before, after in zip(systems, again):
        assert before["complexity"] == after["complexity"]
        np.testing.assert_array_equal(before["test_predictions"][1:], after["test_predictions"][1:])
        assert not np.allclose(before["test_predictions"][0], after["test_predictions"][0])


def test_frame_pooled_ccc_fills_each_recordings_frames_and_skips_masked_ones():
    corpus = synthetic_corpus()
    rows = corpus.rows("test")
    exact = corpus.recording_targets()[rows]
    assert baseline.frame_pooled_ccc(corpus, rows, exact)["mean"] == pytest.approx(1.0)
    # Garbage in the masked frames' labels must not count.
    masked = np.flatnonzero(corpus.frame_mask == 0)
    corpus.frame_labels[masked] = 100.0
    assert baseline.frame_pooled_ccc(corpus, rows, exact)["mean"] == pytest.approx(1.0)


def test_a_missing_default_folder_names_the_convert_command(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert baseline.main([]) != 0
    assert baseline.CONVERT_COMMAND in capsys.readouterr().err


def test_end_to_end_on_a_tiny_converted_folder(tmp_path, monkeypatch, capsys):
    pytest.importorskip("opensmile", reason="openSMILE is in the `bench` extra")
    pytest.importorskip("sklearn", reason="scikit-learn is in the `bench` extra")
    from emorec.experiments.demo import synthetic_recordings
    from tfrecords_tools.writer import write_recordings

    data = write_recordings(synthetic_recordings(recordings={"train": 6, "devel": 4, "test": 4}, duration_s=(1.5, 2.5),
                                                seed=5), tmp_path / "data")
    out = tmp_path / "baseline.json"
    assert baseline.main(["--data", str(data), "--json", str(out)]) == 0
    assert "per-speaker standardisation" in capsys.readouterr().out
    systems = json.loads(out.read_text())["systems"]
    assert [(s["speaker_statistics"], s["refit_on_devel"]) for s in systems] == [
        (False, False), (False, True), (True, False), (True, True)]
    for system in systems:
        assert system["kind"] == "baseline" and system["boundaries"] == "none"
        assert set(system["test_ccc"]) == set(system["complexity"]) == {"arousal", "valence"}
        for key in ("name", "seeds", "test_ccc_sd", "test_ccc_mean", "per_utterance_test_ccc_mean", "command"):
            assert key in system
    assert "transductive" in systems[2]["note"]
    # The rerun reads the cache and extracts nothing.
    assert (data / baseline.CACHE_FILENAME).is_file()
    monkeypatch.setattr(baseline, "extract_corpus", lambda _: pytest.fail("features extracted again"))
    assert baseline.main(["--data", str(data), "--json", str(out)]) == 0
    assert json.loads(out.read_text())["systems"] == systems
