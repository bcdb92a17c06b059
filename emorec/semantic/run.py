"""The `emorec semantic ...` workflows as functions: read inputs, train, save, return a report.

Each returns a JSON-serialisable dict that says what was trained on and what it scored.
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Dict, Optional, Sequence

import numpy as np

from emorec.config import AlignmentConfig, SegmenterConfig, Speech2VecConfig, Word2VecConfig
from emorec.constants import MANIFEST_FILENAME
from emorec.errors import InputFileError, PathLike


def run_word2vec(source: PathLike, output: PathLike, config: Optional[Word2VecConfig] = None, *,
                 partitions: Sequence[str] = ("train",), neighbours: Sequence[str] = (), topn: int = 8) -> Dict:
    """Train Word2Vec on a folder of text files or on a converted dataset's transcripts (a folder
    with manifest.json) and save the vectors to `output` (word2vec binary format).
    config: the `semantic.word2vec` section (default: its defaults)."""
    from emorec.semantic.word2vec import dataset_transcripts, save_keyed_vectors, train_word2vec

    source = Path(source)
    converted = (source / MANIFEST_FILENAME).is_file()
    texts = dataset_transcripts(source, partitions) if converted else source
    config = config or Word2VecConfig()
    keyed = train_word2vec(texts, config)
    save_keyed_vectors(keyed, output)
    report = {"source": str(source), "kind": "converted transcripts" if converted else "text folder",
              "vocabulary": len(keyed), "vector_size": keyed.vector_size, "output": str(output),
              "settings": dataclasses.asdict(config), "neighbours": {}}
    for word in neighbours:
        if word in keyed.key_to_index:
            report["neighbours"][word] = [w for w, _ in keyed.most_similar(word, topn=topn)]
        else:
            report["neighbours"][word] = None
    return report


def run_speech2vec(source: PathLike, output_dir: PathLike, config: Optional[Speech2VecConfig] = None, *,
                   partitions: Sequence[str] = ("train",), held_out_speakers: Sequence[str] = (),
                   progress: bool = True) -> Dict:
    """Train Speech2Vec on the word segments of `source` (converted dataset, word_timings.csv
    folder or TIMIT-style folder), minus the held-out speakers; save encoder and word vectors into
    `output_dir`; report held-out word-type retrieval against chance. config: the
    `semantic.speech2vec` section (default: its defaults). progress: a bar (or a line per epoch off
    a terminal) with ETA on stderr."""
    from emorec.semantic.evaluation import split_by_speaker, type_retrieval_accuracy
    from emorec.semantic.segments import load_utterances
    from emorec.semantic.speech2vec import save_speech2vec, train_speech2vec

    config = config or Speech2VecConfig()
    utterances = load_utterances(source, partitions)
    train, held = split_by_speaker(utterances, held_out_speakers)
    if not train:
        raise InputFileError(source, "no training utterances left after holding out speakers")
    encoder, vectors, history = train_speech2vec(train, config, progress=progress)
    save_speech2vec(output_dir, encoder, vectors, history)
    report = {"source": str(source), "output": str(output_dir), "train_utterances": len(train),
              "train_segments": sum(len(u.words) for u in train), "types": len(vectors),
              "final_loss": history["loss"][-1] if history["loss"] else None,
              "held_out_speakers": list(held_out_speakers)}
    if held:
        words = [w for u in held for w in u.words]
        embeddings = encoder.embed_segments([s for u in held for s in u.segments])
        report["held_out_retrieval"] = type_retrieval_accuracy(vectors, embeddings, words)
    (Path(output_dir) / "report.json").write_text(json.dumps(report, indent=2))
    return report


def run_align(source_vectors: PathLike, target_vectors: PathLike, output: PathLike,
              config: Optional[AlignmentConfig] = None) -> Dict:
    """Align source vectors (a Speech2Vec folder or a .kv) to target vectors (.kv); save W
    `[target_dim, source_dim]` as .npy. config: the `semantic.alignment` section. Unsupervised
    (adversarial + refinement) by default; `config.supervised` fits Procrustes on part of the
    identically spelled words instead. Reports precision at 1/5 on identically spelled words
    (held-out ones when supervised) and chance.

    config.normalise: both spaces get MUSE's renorm-center-renorm first (W then maps preprocessed
    vectors; the report's `normalise` flag says so, and `features` must use the same setting)."""
    from emorec.semantic.alignment import LinearMap, align, center_and_normalise, normalise_rows
    from emorec.semantic.evaluation import supervised_holdout, translation_report
    from emorec.semantic.word2vec import load_keyed_vectors, most_frequent

    config = config or AlignmentConfig()
    normalise, supervised = config.normalise, config.supervised
    source = load_keyed_vectors(source_vectors)
    target = most_frequent(load_keyed_vectors(target_vectors),
                           config.target_most_frequent)
    source_mean = normalise_rows(source.vectors).mean(0) if normalise else None
    if normalise:
        source, target = _with_vectors(source, center_and_normalise(source.vectors)), \
            _with_vectors(target, center_and_normalise(target.vectors))
    report: Dict = {"source": str(source_vectors), "target": str(target_vectors),
                    "source_vocabulary": len(source), "target_vocabulary": len(target),
                    "mode": "supervised" if supervised else "unsupervised", "normalise": normalise,
                    "settings": dataclasses.asdict(config)}
    if supervised:
        W, evaluation = supervised_holdout(source, target, config.held_out_fraction, config.seed, config.csls_k)
    else:
        W = align(source.vectors, target.vectors, config)
        evaluation = translation_report(source, target, W, csls_k=config.csls_k)
    report["evaluation"] = evaluation
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    LinearMap(W, source_mean).save(output)
    report["output"] = str(output)
    return report


def run_features(converted: PathLike, source: str, boundaries: str, artefacts_dir: PathLike,
                 config: Optional[SegmenterConfig] = None, *, partitions: Optional[Sequence[str]] = None,
                 output_dir: Optional[PathLike] = None, progress: bool = True) -> Dict:
    """Write frame-level semantic features of one source/boundaries setting for every recording
    of a converted folder (`emorec.semantic.features.add_semantic_features`). config: the
    `semantic.segmenter` section (default: its defaults), which finds the words of
    `boundaries="segmenter"` and is recorded in the folder's `semantic.json`. Returns that
    `semantic.json` with `output`, the folder written."""
    from emorec.data.semantic_features import read_metadata
    from emorec.semantic.features import add_semantic_features

    output = add_semantic_features(converted, source, boundaries, artefacts_dir, partitions or None, output_dir,
                                   config or SegmenterConfig(), progress=progress)
    report = dict(read_metadata(output))
    report["output"] = str(output)
    return report


def _with_vectors(keyed_vectors, vectors: np.ndarray):
    """A copy of KeyedVectors with the same words in the same order and new vectors."""
    from gensim.models import KeyedVectors

    out = KeyedVectors(vectors.shape[1])
    out.add_vectors(list(keyed_vectors.index_to_key), vectors.astype(np.float32))
    return out


# --- readable summaries of the reports (`emorec semantic ...` prints these; --json the dicts) -------
def _fraction(value) -> str:
    return "n/a" if value is None or value != value else f"{value:.3f}"


def format_word2vec_report(report: Dict) -> str:
    """A few lines for a person: what was read, the vocabulary, where the vectors went, neighbours."""
    lines = [f"Word2Vec on {report['source']} ({report['kind']}): {report['vocabulary']} words, "
             f"{report['vector_size']} dimensions",
             f"wrote {report['output']}"]
    for word, neighbours in report.get("neighbours", {}).items():
        lines.append(f"  {word}: " + (", ".join(neighbours) if neighbours is not None else "not in the vocabulary"))
    return "\n".join(lines)


def format_speech2vec_report(report: Dict) -> str:
    """Segments trained on, word types, final loss and the held-out retrieval against chance."""
    loss = report.get("final_loss")
    lines = [f"Speech2Vec on {report['source']}: {report['train_segments']} word segments in "
             f"{report['train_utterances']} utterances, {report['types']} word types, final loss "
             f"{'n/a' if loss is None else f'{loss:.4f}'}",
             f"wrote {report['output']} (report.json beside the vectors)"]
    retrieval = report.get("held_out_retrieval")
    if retrieval:
        lines.append(f"held-out speakers {', '.join(report['held_out_speakers'])}: word-type retrieval "
                     f"{_fraction(retrieval['accuracy'])} on {retrieval['instances']} words "
                     f"(chance {_fraction(retrieval['chance'])}, majority type {_fraction(retrieval['majority'])})")
    return "\n".join(lines)


def format_features_report(report: Dict) -> str:
    """Per partition, the recordings and how many frames a word covers; where the folder went."""
    lines = [f"{partition}: {info['recordings']} recordings, {info['word_frames']} of {info['frames']} frames "
             f"with a word ({report['source']}, {report['boundaries']} boundaries)"
             for partition, info in report["partitions"].items()]
    lines.append(f"wrote {report['output']}")
    return "\n".join(lines)


def format_align_report(report: Dict) -> str:
    """Vocabularies, mode, and precision at 1/5 (CSLS and nearest neighbour) beside chance."""
    evaluation = report.get("evaluation", {})
    lines = [f"{report['mode']} alignment of {report['source']} ({report['source_vocabulary']} words) to "
             f"{report['target']} ({report['target_vocabulary']} words)"
             + (", both spaces centred and normalised" if report.get("normalise") else "")]
    if evaluation.get("pairs"):
        scored = "held-out identically spelled words" if report["mode"] == "supervised" else \
            "identically spelled words"
        lines.append(f"scored on {evaluation['pairs']} {scored}"
                     + (f" (Procrustes fitted on {evaluation['train_pairs']})" if "train_pairs" in evaluation else ""))
        for k in (1, 5):
            if f"p@{k}_csls" in evaluation:
                lines.append(f"  precision@{k}: CSLS {_fraction(evaluation[f'p@{k}_csls'])}, "
                             f"nearest neighbour {_fraction(evaluation[f'p@{k}_nn'])}, "
                             f"chance {_fraction(evaluation[f'chance@{k}'])}")
    else:
        lines.append("no identically spelled words to score the map on")
    lines.append(f"wrote {report['output']}")
    return "\n".join(lines)
