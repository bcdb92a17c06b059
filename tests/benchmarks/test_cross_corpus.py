"""benchmarks/cross_corpus.py: the held-out figures, and a baseline that reads no label of the
corpus it is tested on."""
from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("sklearn", reason="scikit-learn is in the `bench` extra")

from benchmarks import cross_corpus  # noqa: E402
from benchmarks.baseline_egemaps import Corpus  # noqa: E402

CATEGORY_TARGETS = {"anger": (0.7, -0.7), "happiness": (0.5, 0.9), "neutral": (-0.6, 0.0), "sadness": (-0.4, -0.9)}


def test_held_out_scores_against_hand_counts():
    categories = np.array(["anger", "happiness", "neutral", "sadness", "calm"])
    targets = np.array([CATEGORY_TARGETS[c] if c in CATEGORY_TARGETS else (0, 0) for c in categories], float)
    # Arousal ranks anger, happiness over neutral, sadness except one pair (happiness 0.1 < neutral 0.2):
    # 3 of the 4 positive-negative pairs in order, AUC 0.75. Valence ranks all 4 pairs right: AUC 1.
    predictions = np.array([[0.9, -0.5], [0.1, 0.8], [0.2, 0.3], [-0.5, -0.6], [5.0, 5.0]])
    scores = cross_corpus.held_out_scores(categories, targets, predictions)
    assert scores["auc_arousal"] == 0.75 and scores["auc_valence"] == 1.0
    gold, predicted = targets[:, 0], predictions[:, 0]
    expected = 2 * np.cov(gold, predicted, bias=True)[0, 1] / (gold.var() + predicted.var() + (gold.mean() - predicted.mean()) ** 2)
    assert scores["ccc_arousal"] == pytest.approx(expected, abs=1e-4)


def synthetic(seed: int = 0) -> Corpus:
    """Four corpora whose features carry arousal and valence plus a per-corpus offset."""
    rng = np.random.default_rng(seed)
    names, partitions, corpora, categories, features, labels = [], [], [], [], [], []
    for corpus_index, corpus in enumerate(cross_corpus.CORPORA):
        offset = rng.normal(size=6) * 4
        for i in range(48):
            category = list(CATEGORY_TARGETS)[i % 4]
            target = np.array([*CATEGORY_TARGETS[category], 0.0])
            features.append(np.r_[target[:2] * 2, rng.normal(size=4)] + offset + rng.normal(size=6) * 0.2)
            labels.append(np.tile(target, (3, 1)))
            names.append(f"{corpus}/{i}")
            partitions.append(("train", "train", "devel", "test")[(i // 4) % 4])  # every category in each
            corpora.append(corpus)
            categories.append(category)
    return Corpus(names=np.array(names), partitions=np.array(partitions), speakers=np.array(names),
                  features=np.array(features), label_names=["arousal", "valence", "dominance"],
                  frame_labels=np.concatenate(labels).astype(np.float32), frame_mask=np.ones(len(names) * 3, np.float32),
                  frame_offsets=np.arange(len(names) + 1, dtype=np.int64) * 3,
                  corpora=np.array(corpora), categories=np.array(categories))


def test_per_corpus_statistics_remove_corpus_offsets_and_the_held_out_labels_are_never_read():
    corpus = synthetic()
    training = cross_corpus.baseline_system(corpus, "training")
    per_corpus = cross_corpus.baseline_system(corpus, "corpus")
    assert set(per_corpus["held_out"]) == set(cross_corpus.CORPORA)
    assert per_corpus["mean"]["auc_valence"] > 0.95 and per_corpus["mean"]["ccc_arousal"] > 0.8
    assert per_corpus["mean"]["ccc_arousal"] > training["mean"]["ccc_arousal"]
    # Scrambling the held-out corpus's labels changes its scores, never its predictions.
    scrambled = synthetic()
    ased = np.flatnonzero(scrambled.corpora == "ased")
    spans = [slice(scrambled.frame_offsets[i], scrambled.frame_offsets[i + 1]) for i in ased]
    rng = np.random.default_rng(1)
    for span in spans:
        scrambled.frame_labels[span] = rng.uniform(-1, 1, 3)
    np.testing.assert_array_equal(cross_corpus.baseline_predictions(scrambled, "ased", "corpus"),
                                  cross_corpus.baseline_predictions(corpus, "ased", "corpus"))


def test_the_committed_table_is_the_one_its_results_file_generates():
    import json
    from pathlib import Path

    results = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
    result = json.loads((results / "cross_corpus.json").read_text(encoding="utf-8"))
    assert result["corpora"] == list(cross_corpus.CORPORA)
    for system in result["systems"]:
        assert {"name", "kind", "seeds", "chosen", "command", "held_out"} <= set(system)
        assert set(system["held_out"]) == set(cross_corpus.CORPORA)
        assert all(set(scores) == set(cross_corpus.METRICS) for scores in system["held_out"].values())
        assert system["mean"] == cross_corpus.mean_over_corpora(system["held_out"])
    assert (results / "cross_corpus.md").read_text(encoding="utf-8") == cross_corpus.format_table(result)


TINY_RECIPE = """name: tiny
data: {sequence_frames: 10, hop_frames: 10, batch_size: 4, shuffle_buffer: 8}
model: {cnn: {filters: [4, 4, 4], dropout: 0.0}, lstm_units: 4, lstm_dropout: 0.0}
training: {epochs: 1, steps_per_epoch: 1, precision: float32}
"""


def four_tiny_corpora(root, write_wav):
    """Each corpus in its own layout: two training speakers and its layout's default devel speakers."""
    emotions = {"anger": "05", "happiness": "03", "neutral": "01", "sadness": "04"}
    rows = ["file,speaker,emotion"]
    for speaker in ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16"):
        for k, emotion in enumerate(emotions):
            write_wav(root / "emodb" / "wav" / f"{speaker}a0{k}.wav", seed=k)
            rows.append(f"{speaker}a0{k}.wav,{speaker},{emotion}")
    (root / "emodb" / "labels.csv").write_text("\n".join(rows) + "\n")
    for actor in ("01", "02", "21", "22", "23", "24"):
        for k, code in enumerate(emotions.values()):
            write_wav(root / "corpora" / "ravdess" / f"Actor_{actor}" / f"03-01-{code}-01-01-01-{actor}.wav", seed=k)
    lines = ["file_id\temotion\traw_text\tnormalized_text\tspeaker_id\tgender\tage"]
    for speaker in ("EB0", "IC0", "SM0", "KD0", "TP0"):
        for k, emotion in enumerate(("anger", "happiness", "neutral", "sadness")):
            write_wav(root / "corpora" / "nemo" / "samples" / f"{speaker}_{emotion}_1.wav", seed=k)
            lines.append(f"{speaker}_{emotion}_1.wav\t{emotion}\tTak.\ttak\t  {speaker}\tmale\t30")
    (root / "corpora" / "nemo" / "data.tsv").write_text("\n".join(lines) + "\n")
    for speaker in ("01", "02", "58", "61", "62", "65"):
        for k, (folder, letter) in enumerate((("01Neutral", "n1"), ("03Happy", "h3"), ("04Sad", "s4"), ("05Angry", "a5"))):
            write_wav(root / "corpora" / "ased" / folder / f"{letter}-01-01-01-{speaker}.wav", seed=k)
    return root / "emodb", root / "corpora"


@pytest.mark.slow
def test_a_model_recipe_trains_per_fold_and_is_scored_on_every_file_of_the_held_out_corpus(tmp_path, write_wav):
    emodb, corpora = four_tiny_corpora(tmp_path, write_wav)
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(TINY_RECIPE)
    sources = cross_corpus.corpus_sources(emodb, corpora)
    system = cross_corpus.model_system(recipe, tmp_path / "work", sources, [1], sessions=2, train_minutes=0)
    assert system["kind"] == "model" and system["seeds"] == [1]
    assert set(system["held_out"]) == set(cross_corpus.CORPORA)
    assert all(np.isfinite(list(scores.values())).all() for scores in system["held_out"].values())
    for name in cross_corpus.CORPORA:  # the held-out corpus is all test, one recording per file
        categories, targets, predictions = cross_corpus.file_outputs(
            tmp_path / "work" / "runs" / "tiny" / name / "seed1", tmp_path / "work" / "folds" / name / "converted", "test")
        assert len(categories) == {"emodb": 40, "ravdess": 24, "nemo": 20, "ased": 24}[name]
        assert set(categories) == {"anger", "happiness", "neutral", "sadness"}
    # Devel (the training corpora's held-out speakers) is scored per file too: no sessions, each
    # recording one file with its category.
    devel, _, _ = cross_corpus.file_outputs(tmp_path / "work" / "runs" / "tiny" / "ased" / "seed1",
                                            tmp_path / "work" / "folds" / "ased" / "converted", "devel")
    assert len(devel) == 8 + 8 + 8 and set(devel) == {"anger", "happiness", "neutral", "sadness"}
    trained = (tmp_path / "work" / "runs" / "tiny" / "ased" / "seed1" / "run.json").stat().st_mtime_ns
    again = cross_corpus.model_system(recipe, tmp_path / "work", sources, [1], sessions=2, train_minutes=0)
    assert again["held_out"] == system["held_out"]  # finished runs are reused, not retrained
    assert (tmp_path / "work" / "runs" / "tiny" / "ased" / "seed1" / "run.json").stat().st_mtime_ns == trained
    systems = cross_corpus.merged([{"name": "baseline", "kind": "baseline"}, {**system, "devel_mean_ccc": 0.9}],
                                  [{**again, "name": "model: other", "devel_mean_ccc": 0.1}])
    assert [s["chosen"] for s in systems if s["kind"] == "model"] == [True, False]  # chosen on devel alone
