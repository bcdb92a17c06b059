"""The `emodb` layout: the Berlin Database of Emotional Speech as kept in ../shared/data/emodb.

    labels.csv         file,speaker,text_id,emotion,duration_s
    word_timings.csv   file,word,start_s,end_s   (534 of 535 files; a file without rows gets no words)
    wav/<file>         16 kHz mono WAV

Targets are derived, not annotated: each emotion category maps to (arousal, valence, dominance)
through a label map file (default `emorec/resources/category_vad_map.yaml`, NRC VAD Lexicon values
with their source cited there; `tfrecords_tools.categorical`). The manifest says `derived_targets: true`.

Partitions are speaker-independent, by speaker lists. The default split keeps each partition
gender-balanced (female speakers: 08 09 13 14 16; male: 03 10 11 12 15):
train 03 08 09 10 12 13 (3 m / 3 f), devel 11 14 (1 m / 1 f), test 15 16 (1 m / 1 f).

Option `sessions=N` joins each speaker's utterances, in an order shuffled with `seed`, into
sessions of N utterances (the last one may be shorter), so that labels change inside a sequence as
they do in SEWA. Each utterance is zero-padded to whole frames before joining, so every label
change falls on a frame boundary.
"""
from __future__ import annotations

import csv
import io
from collections import defaultdict
from pathlib import Path
from typing import Any, Dict, List, Sequence

from emorec.errors import DatasetError, InputFileError
from tfrecords_tools.categorical import (LABEL_NAMES, SESSION_OPTIONS, Utterance,
                                         build_utterances, derived_targets_note, partition_utterances)
from tfrecords_tools.layout import Layout, LayoutOption
from tfrecords_tools.sources import SourceItem, parse_number, read_text

DEFAULT_SPEAKERS = {
    "train": ["03", "08", "09", "10", "12", "13"],
    "devel": ["11", "14"],
    "test": ["15", "16"],
}
#: The corpus's category names are already the label map's row names.
CATEGORIES = {name: name for name in ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness")}
SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
OPTIONS = (
    # None: every speaker not in devel or test (03 08 09 10 12 13 by default), as in the other
    # categorical layouts, so that a corpus put whole into one partition keeps every speaker.
    LayoutOption("train_speakers", "training speakers [default: every speaker not in devel or test].", None,
                 "speakers"),
    LayoutOption("devel_speakers", "development speakers.", DEFAULT_SPEAKERS["devel"], "speakers"),
    LayoutOption("test_speakers", "test speakers.", DEFAULT_SPEAKERS["test"], "speakers"),
    LayoutOption("label_map", "category -> arousal/valence/dominance YAML [default: the packaged NRC VAD map].",
                 None, "file"),
    *SESSION_OPTIONS,
)


def resolve_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Every option, defaults filled in, speaker ids zero-padded as the corpus writes them ('3' -> '03')."""
    return LAYOUT.resolve({k: v for k, v in options.items() if v is not None})


def _pad_speakers(resolved: Dict[str, Any]) -> Dict[str, Any]:
    for key in ("train_speakers", "devel_speakers", "test_speakers"):
        if resolved[key] is not None:
            resolved[key] = [f"{int(s):02d}" if str(s).isdigit() else str(s) for s in resolved[key]]
    return resolved


def _read_csv(path: Path, what: str, columns: Sequence[str]) -> List[Dict[str, str]]:
    reader = csv.DictReader(io.StringIO(read_text(path, what)))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise InputFileError(path, f"missing columns {missing} (header: {reader.fieldnames})")
    return list(reader)


def _read_timings(source: Path):
    """({file: [(start_s, end_s, word)]}, {file: the error of its first bad row}, the file's path).
    A bad timing row fails its own recording when built, where --on-error skip applies."""
    timings: Dict[str, List[tuple]] = defaultdict(list)
    errors: Dict[str, InputFileError] = {}
    path = source / "word_timings.csv"
    if path.is_file():
        for line, row in enumerate(_read_csv(path, "word timing", ["file", "word", "start_s", "end_s"]), start=2):
            try:
                timings[row["file"]].append((parse_number(row["start_s"], path, line, "start_s"),
                                             parse_number(row["end_s"], path, line, "end_s"), row["word"]))
            except InputFileError as error:
                errors.setdefault(row["file"], error)
    return timings, errors, path


def list_items(source: Path, options: Dict[str, Any]) -> List[SourceItem]:
    opts = resolve_options(options)
    labels_path = source / "labels.csv"
    if not labels_path.is_file():
        raise DatasetError(f"{source}: not an EmoDB folder (no labels.csv)")
    rows = _read_csv(labels_path, "label", ["file", "speaker", "emotion"])
    timings, timing_errors, timings_path = _read_timings(source)
    utterances: List[Utterance] = []
    first_line: Dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if row["file"] in first_line:
            # A repeated row made a second recording of the same file (536 instead of 535).
            raise InputFileError(labels_path, f"line {line}: {row['file']} is listed again (first on line "
                                              f"{first_line[row['file']]}); remove the duplicate row")
        first_line[row["file"]] = line
        speaker = f"{int(row['speaker']):02d}" if row["speaker"].strip().isdigit() else row["speaker"].strip()
        utterances.append(Utterance(
            name=Path(row["file"]).stem, audio=str(source / "wav" / row["file"]), speaker=speaker,
            category=CATEGORIES.get(row["emotion"], row["emotion"]),
            details={"file": row["file"], "emotion": row["emotion"], "timings": timings.get(row["file"]),
                     "words_error": timing_errors.get(row["file"]), "timings_path": str(timings_path)},
        ))
    return partition_utterances("emodb", "emodb", utterances, opts, source)


LAYOUT = Layout(
    name="emodb",
    summary="the Berlin Database of Emotional Speech: labels.csv, word_timings.csv, wav/",
    list_items=list_items,
    build=build_utterances,
    label_names=LABEL_NAMES,
    options=OPTIONS,
    derived_targets=True,
    categories=CATEGORIES,
    speakers=SPEAKERS,
    extra_resolve=_pad_speakers,
    notes=derived_targets_note,
)
