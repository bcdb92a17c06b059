"""Unsupervised alignment (paper eq. 1-3) shown on real embedding spaces, beside supervised Procrustes.

    python -m benchmarks.alignment_text                       # trains (or reuses) the two models, aligns
    python -m benchmarks.alignment_text --cache /tmp/emorec_w2v_halves --retrain

Two skip-gram Word2Vec models (300 dims, one worker thread, different seeds) are trained on disjoint
halves of `../shared/data/text_en`: the corpus's text files in sorted order go alternately to half A
and half B (3.10 M and 3.08 M tokens, every sub-corpus in both halves). The alignment vocabulary is
each model's 10,000 most frequent words, preprocessed with MUSE's renorm-center-renorm as
`emorec semantic align` does.

Evaluation: the 1,500 most frequent words that both vocabularies hold (frequency over the whole
corpus) are translated A -> B by CSLS retrieval over all 10,000 B words; a hit is the same word.
- unsupervised: `align` with the default `AlignmentConfig` (no dictionary at all);
- supervised: Procrustes on the other shared words of the two vocabularies (the 1,500 excluded).
`align_seconds_10k_300d` is the wall-clock time of that default `align` call.

Word2Vec models are cached as `.npy` + word list (never pickle) under `--cache`, so reruns only align.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_CORPUS = REPO_ROOT.parent / "shared" / "data" / "text_en"


def corpus_halves(corpus_dir: Path):
    """(files of half A, files of half B): alternate files of the sorted list, so that both halves
    sample every sub-corpus and their texts are disjoint."""
    from emorec.semantic.word2vec import corpus_files

    files = corpus_files(corpus_dir)
    return files[0::2], files[1::2]


def read_sentences(files):
    from emorec.semantic.word2vec import read_text_file

    return [sentence for path in files for sentence in read_text_file(path)]


def trained_vectors(files, cache_dir: Path, name: str, *, vector_size: int, window: int, min_count: int,
                    epochs: int, seed: int, retrain: bool):
    """(words, vectors `[n, vector_size]`, counts), rows by decreasing frequency; trained once and
    then read from `cache_dir/<name>-<settings>.{npy,words.txt}`."""
    from emorec.semantic.word2vec import train_word2vec

    stem = cache_dir / f"{name}-d{vector_size}-w{window}-m{min_count}-e{epochs}-s{seed}"
    vectors_path, words_path = stem.with_suffix(".npy"), stem.with_suffix(".words.txt")
    if not retrain and vectors_path.is_file() and words_path.is_file():
        lines = words_path.read_text(encoding="utf-8").splitlines()
        words = [line.split("\t")[0] for line in lines]
        counts = np.array([int(line.split("\t")[1]) for line in lines], dtype=np.int64)
        return words, np.load(vectors_path, allow_pickle=False), counts
    sentences = read_sentences(files)
    start = time.perf_counter()
    keyed_vectors = train_word2vec(sentences, vector_size=vector_size, window=window, min_count=min_count,
                                   epochs=epochs, seed=seed, workers=1)
    print(f"word2vec {name}: {sum(map(len, sentences))} tokens, {len(keyed_vectors)} words, "
          f"{time.perf_counter() - start:.0f} s", flush=True)
    words = list(keyed_vectors.index_to_key)
    counts = np.array([keyed_vectors.get_vecattr(w, "count") for w in words], dtype=np.int64)
    cache_dir.mkdir(parents=True, exist_ok=True)
    np.save(vectors_path, np.asarray(keyed_vectors.vectors, dtype=np.float32))
    words_path.write_text("".join(f"{w}\t{c}\n" for w, c in zip(words, counts)), encoding="utf-8")
    return words, np.asarray(keyed_vectors.vectors, dtype=np.float32), counts


def cpu_description() -> dict:
    from emorec.training.hardware import read_cpuinfo, usable_cpu_count

    info = {"machine": platform.machine(), "logical_cpus": os.cpu_count()}
    cpuinfo = read_cpuinfo()
    if not cpuinfo:
        return info
    if "model name" in cpuinfo:
        info["model"] = cpuinfo["model name"]
    if "flags" in cpuinfo:
        info["flags"] = cpuinfo["flags"].split()  # all of them, in /proc/cpuinfo's order
    info["usable_cpus"] = usable_cpu_count()
    return info


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--cache", type=Path, default=Path("/tmp/emorec_w2v_halves"),
                        help="Where the trained Word2Vec vectors are kept between runs (outside the repo).")
    parser.add_argument("--retrain", action="store_true", help="Train the Word2Vec models even if cached.")
    parser.add_argument("--vector-size", type=int, default=300)
    parser.add_argument("--window", type=int, default=5)
    parser.add_argument("--min-count", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seeds", type=int, nargs=2, default=(1, 2), help="Word2Vec seeds of half A and half B.")
    parser.add_argument("--vocabulary", type=int, default=10000)
    parser.add_argument("--test-words", type=int, default=1500)
    parser.add_argument("--align-seed", type=int, default=0)
    parser.add_argument("--train-only", action="store_true", help="Train and cache the models, then stop.")
    parser.add_argument("--output", type=Path, default=REPO_ROOT / "benchmarks" / "results" / "alignment_text.json")
    args = parser.parse_args(argv)

    half_a, half_b = corpus_halves(args.corpus)
    settings = dict(vector_size=args.vector_size, window=args.window, min_count=args.min_count, epochs=args.epochs)
    words_a, vectors_a, counts_a = trained_vectors(half_a, args.cache, "half_a", seed=args.seeds[0],
                                                   retrain=args.retrain, **settings)
    words_b, vectors_b, counts_b = trained_vectors(half_b, args.cache, "half_b", seed=args.seeds[1],
                                                   retrain=args.retrain, **settings)
    if args.train_only:
        return {}
    result = evaluate_pair(words_a, vectors_a, counts_a, words_b, vectors_b, counts_b,
                           vocabulary=args.vocabulary, test_words=args.test_words, align_seed=args.align_seed)
    result.update({
        "command": " ".join(["python -m benchmarks.alignment_text", *(sys.argv[1:] if argv is None else argv)]),
        "word2vec": {**settings, "sg": 1, "negative": 5, "workers": 1, "seeds": list(args.seeds),
                     "half_a": {"files": len(half_a), "words": len(words_a)},
                     "half_b": {"files": len(half_b), "words": len(words_b)}},
        "alignment_seed": args.align_seed,
        "cpu": cpu_description(),
        "load_average_1_5_15_min_after": list(os.getloadavg()),
    })
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    summary = {k: v for k, v in result.items() if k not in ("cpu", "word2vec")}
    print(json.dumps(summary, indent=2))
    return result


def evaluate_pair(words_a, vectors_a, counts_a, words_b, vectors_b, counts_b, *, vocabulary: int,
                  test_words: int, align_seed: int = 0, config=None, progress: bool = True) -> dict:
    """Unsupervised and supervised alignment of A's `vocabulary` most frequent words onto B's,
    both scored by CSLS P@1/P@5 on the `test_words` most frequent shared words."""
    from emorec.semantic.alignment import AlignmentConfig, align, center_and_normalise, precision_at_k, supervised_align

    words_a, words_b = list(words_a[:vocabulary]), list(words_b[:vocabulary])
    source = center_and_normalise(vectors_a[:vocabulary])
    target = center_and_normalise(vectors_b[:vocabulary])
    row_a = {w: i for i, w in enumerate(words_a)}
    row_b = {w: i for i, w in enumerate(words_b)}
    # Shared words ranked by their frequency in the whole corpus (both halves' counts).
    shared = sorted((w for w in words_a if w in row_b), key=lambda w: -(int(counts_a[row_a[w]]) + int(counts_b[row_b[w]])))
    pairs = [(row_a[w], row_b[w]) for w in shared]
    test_pairs, dictionary_pairs = pairs[:test_words], pairs[test_words:]

    config = config or AlignmentConfig(seed=align_seed)
    start = time.perf_counter()
    W_unsupervised = align(source, target, config, progress=progress)
    align_seconds = time.perf_counter() - start
    W_supervised = supervised_align(source, target, dictionary_pairs)
    identity = np.eye(source.shape[1], dtype=np.float32)
    return {
        "unsupervised_p_at_1": precision_at_k(source, target, W_unsupervised, test_pairs, k=1, csls_k=config.csls_k),
        "unsupervised_p_at_5": precision_at_k(source, target, W_unsupervised, test_pairs, k=5, csls_k=config.csls_k),
        "supervised_p_at_1": precision_at_k(source, target, W_supervised, test_pairs, k=1, csls_k=config.csls_k),
        "supervised_p_at_5": precision_at_k(source, target, W_supervised, test_pairs, k=5, csls_k=config.csls_k),
        "identity_p_at_1": precision_at_k(source, target, identity, test_pairs, k=1, csls_k=config.csls_k),
        "chance_p_at_1": 1.0 / len(target),
        "align_seconds_10k_300d": align_seconds,
        "vocabulary": [len(source), len(target)],
        "test_words": len(test_pairs),
        "supervised_dictionary_pairs": len(dictionary_pairs),
        "alignment_config": dataclasses.asdict(config),
    }


if __name__ == "__main__":
    main()
