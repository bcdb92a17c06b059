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
