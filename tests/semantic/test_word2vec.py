"""Word2Vec: corpus reading (plain and Brown word/TAG text), seeded training, OOV handling."""
from __future__ import annotations

import numpy as np

from emorec.semantic.word2vec import (
    FolderCorpus, is_tagged_text, load_keyed_vectors, read_text_file, save_keyed_vectors, strip_tags,
    train_word2vec, word_vector)


def test_brown_tags_are_stripped_and_plain_text_split_by_paragraph(tmp_path):
    (tmp_path / "brown").mkdir()
    (tmp_path / "brown" / "ca01").write_text(
        "\n\n\tThe/at jury/nn said/vbd ``/`` no/at ''/'' ./.\n\n\tIt/pps rained/vbd ./.\n")
    (tmp_path / "plain.txt").write_text("Der Lappen liegt\nauf dem Eisschrank.\n\nStraße, <laughter> Öl!\n")
    (tmp_path / "README").write_text("this file describes the corpus and is not text")
    assert is_tagged_text((tmp_path / "brown" / "ca01").read_text())
    assert not is_tagged_text((tmp_path / "plain.txt").read_text())
    assert strip_tags("The/at jury/nn ./.") == "The jury ."
    sentences = list(FolderCorpus(tmp_path))
    assert sentences == [["the", "jury", "said", "no"], ["it", "rained"],
                         ["der", "lappen", "liegt", "auf", "dem", "eisschrank"], ["straße", "<laughter>", "öl"]]


def topic_corpus(seed: int = 0, sentences: int = 600):
    """Sentences drawn from one of two disjoint topic vocabularies, plus shared function words."""
    rng = np.random.default_rng(seed)
    topics = [["cat", "dog", "pet", "fur", "paw", "tail"], ["stock", "market", "price", "bank", "trade", "fund"]]
    function = ["the", "a", "of", "and"]
    corpus = []
    for _ in range(sentences):
        topic = topics[rng.integers(2)]
        corpus.append([str(rng.choice(topic if rng.random() < 0.7 else function)) for _ in range(8)])
    return corpus, topics


def test_training_is_seeded_and_learns_topics(tmp_path):
    corpus, topics = topic_corpus()
    kwargs = dict(vector_size=16, window=3, min_count=1, epochs=20, seed=0)
    first = train_word2vec(corpus, **kwargs)
    second = train_word2vec(corpus, **kwargs)
    np.testing.assert_array_equal(first.vectors, second.vectors)
    for topic in topics:
        for word in topic:
            neighbours = [w for w, _ in first.most_similar(word, topn=3)]
            assert set(neighbours) <= set(topic), (word, neighbours)
    path = save_keyed_vectors(first, tmp_path / "w2v.kv")
    loaded = load_keyed_vectors(path)
    np.testing.assert_array_equal(loaded["cat"], first["cat"])


def test_out_of_vocabulary_words_get_zeros_every_time():
    corpus, _ = topic_corpus(sentences=50)
    kv = train_word2vec(corpus, vector_size=8, min_count=1, epochs=1)
    assert np.all(word_vector(kv, "zebra") == 0)
    assert word_vector(kv, "zebra").shape == (8,)
    assert "zebra" not in kv.key_to_index


def test_real_brown_file_reads_without_tags(shared_data):
    sentences = list(read_text_file(shared_data / "text_en" / "brown" / "ca01"))
    tokens = [t for s in sentences for t in s]
    assert len(tokens) > 1000
    assert sentences[0][:4] == ["the", "fulton", "county", "grand"]
    assert not any("/" in t for t in tokens)
