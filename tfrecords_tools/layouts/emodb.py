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

import numpy as np

from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.data.audio import load_audio
from emorec.data.frames import num_frames_for, pad_to_frames
from emorec.data.words import Word, words_from_timings
from emorec.errors import DatasetError, InputFileError
from tfrecords_tools.categorical import DEFAULT_LABEL_MAP, LABEL_NAMES, derived_targets_note, load_label_map
from tfrecords_tools.labels import constant_labels
from tfrecords_tools.layout import Layout, LayoutOption
from tfrecords_tools.sources import (BuildContext, BuiltItem, SourceItem, check_word_timings, make_recording, parse_number,
                                     read_text)

DEFAULT_SPEAKERS = {
    "train": ["03", "08", "09", "10", "12", "13"],
    "devel": ["11", "14"],
    "test": ["15", "16"],
}
#: The corpus's category names are already the label map's row names.
CATEGORIES = {name: name for name in ("anger", "boredom", "disgust", "fear", "happiness", "neutral", "sadness")}
SPEAKERS = ("03", "08", "09", "10", "11", "12", "13", "14", "15", "16")
OPTIONS = (
    LayoutOption("train_speakers", "training speakers.", DEFAULT_SPEAKERS["train"], "speakers"),
    LayoutOption("devel_speakers", "development speakers.", DEFAULT_SPEAKERS["devel"], "speakers"),
    LayoutOption("test_speakers", "test speakers.", DEFAULT_SPEAKERS["test"], "speakers"),
    LayoutOption("label_map", "category -> arousal/valence/dominance YAML [default: the packaged NRC VAD map].",
                 None, "file"),
    LayoutOption("sessions", "join each speaker's utterances into sessions of N (0: off).", 0, "int"),
    LayoutOption("seed", "seed of the session order.", 0, "int"),
)


def resolve_options(options: Dict[str, Any]) -> Dict[str, Any]:
    """Every option, defaults filled in, speaker ids zero-padded as the corpus writes them ('3' -> '03')."""
    return LAYOUT.resolve({k: v for k, v in options.items() if v is not None})


def _pad_speakers(resolved: Dict[str, Any]) -> Dict[str, Any]:
    for key in ("train_speakers", "devel_speakers", "test_speakers"):
        resolved[key] = [f"{int(s):02d}" if str(s).isdigit() else str(s) for s in resolved[key]]
    resolved["label_map"] = resolved["label_map"] or str(DEFAULT_LABEL_MAP)
    return resolved


def _read_csv(path: Path, what: str, columns: Sequence[str]) -> List[Dict[str, str]]:
    reader = csv.DictReader(io.StringIO(read_text(path, what)))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise InputFileError(path, f"missing columns {missing} (header: {reader.fieldnames})")
    return list(reader)


def list_items(source: Path, options: Dict[str, Any]) -> List[SourceItem]:
    opts = resolve_options(options)
    label_map = load_label_map(Path(opts["label_map"]))
    labels_path = source / "labels.csv"
    if not labels_path.is_file():
        raise DatasetError(f"{source}: not an EmoDB folder (no labels.csv)")
    rows = _read_csv(labels_path, "label", ["file", "speaker", "emotion"])
    timings: Dict[str, List[tuple]] = defaultdict(list)
    # A bad timing row fails its own recording in `build`, where --on-error skip applies; raised
    # here it aborted the whole conversion even with skip (issue 13).
    timing_errors: Dict[str, InputFileError] = {}
    timings_path = source / "word_timings.csv"
    if timings_path.is_file():
        for line, row in enumerate(_read_csv(timings_path, "word timing", ["file", "word", "start_s", "end_s"]), start=2):
            try:
                timings[row["file"]].append(
                    (parse_number(row["start_s"], timings_path, line, "start_s"),
                     parse_number(row["end_s"], timings_path, line, "end_s"), row["word"])
                )
            except InputFileError as error:
                timing_errors.setdefault(row["file"], error)
    partition_of = {}
    for partition in ("train", "devel", "test"):
        for speaker in opts[f"{partition}_speakers"]:
            if speaker in partition_of:
                raise DatasetError(f"layout 'emodb': speaker {speaker} is in both {partition_of[speaker]} and {partition}")
            partition_of[speaker] = partition

    utterances: Dict[str, List[dict]] = defaultdict(list)
    first_line: Dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        if row["file"] in first_line:
            # A repeated row made a second recording of the same file (536 instead of 535).
            raise InputFileError(labels_path, f"line {line}: {row['file']} is listed again (first on line "
                                              f"{first_line[row['file']]}); remove the duplicate row")
        first_line[row["file"]] = line
        speaker = f"{int(row['speaker']):02d}" if row["speaker"].strip().isdigit() else row["speaker"].strip()
        if speaker not in partition_of:
            continue  # a speaker in no list is left out on purpose
        if row["emotion"] not in label_map:
            raise InputFileError(labels_path, f"line {line}: emotion {row['emotion']!r} is not in the label map {opts['label_map']}")
        utterances[speaker].append({
            "file": row["file"],
            "audio": str(source / "wav" / row["file"]),
            "target": label_map[row["emotion"]],
            "emotion": row["emotion"],
            "words": timings.get(row["file"]),
            "words_error": timing_errors.get(row["file"]),
            "timings_path": str(timings_path),
        })

    items = []
    rng = np.random.default_rng(opts["seed"])
    for speaker in sorted(utterances):
        group = sorted(utterances[speaker], key=lambda u: u["file"])
        if opts["sessions"] > 0:
            order = rng.permutation(len(group))
            group = [group[i] for i in order]
            chunks = [group[i : i + opts["sessions"]] for i in range(0, len(group), opts["sessions"])]
            names = [f"{speaker}_session{k:02d}" for k in range(len(chunks))]
        else:
            chunks = [[u] for u in group]
            names = [Path(u["file"]).stem for u in group]
        for name, chunk in zip(names, chunks):
            items.append(SourceItem(
                name=name,
                partition=partition_of[speaker],
                speaker=speaker,
                files=[u["audio"] for u in chunk],
                payload={"utterances": chunk},
                audio_files=[u["audio"] for u in chunk],
                joined=opts["sessions"] > 0,
                corpus="emodb",
                # A session mixes categories: it has none of its own.
                category=chunk[0]["emotion"] if len(chunk) == 1 and opts["sessions"] == 0 else "",
            ))
    if not items:
        raise DatasetError(f"{source}: no utterances of the listed speakers")
    return items


def build(item: SourceItem, context: BuildContext) -> BuiltItem:
    audio_parts, label_parts, words = [], [], []
    offset_samples = 0
    num_samples = 0
    has_all_words = True
    utterances = item.payload["utterances"]
    for index, utterance in enumerate(utterances):
        if utterance.get("words_error") is not None:
            raise utterance["words_error"]
        audio = load_audio(utterance["audio"], context.sample_rate_hz, limits=context.audio_limits)
        frames = num_frames_for(audio.shape[0])
        offset_s = offset_samples / context.sample_rate_hz
        if utterance["words"]:
            check_word_timings(utterance["words"], audio.shape[0] / context.sample_rate_hz,
                               utterance["timings_path"], recording=utterance["file"])
            for word in words_from_timings(utterance["words"]):
                words.append(Word(word.token, word.start_s + offset_s, word.end_s + offset_s))
        else:
            has_all_words = False
        audio_parts.append(pad_to_frames(audio))
        label_parts.append(constant_labels(utterance["target"], frames)[0])
        # The last utterance's real length counts; earlier ones count with their frame padding.
        num_samples = offset_samples + audio.shape[0]
        offset_samples += frames * FRAME_LENGTH_SAMPLES
    audio = np.concatenate(audio_parts) if len(audio_parts) > 1 else audio_parts[0]
    labels = np.concatenate(label_parts) if len(label_parts) > 1 else label_parts[0]
    mask = np.ones(labels.shape[0], dtype=np.float32)
    recording = make_recording(item, audio, LABEL_NAMES, labels, mask, words, num_samples)
    return BuiltItem(recording, "constant", has_all_words)


LAYOUT = Layout(
    name="emodb",
    summary="the Berlin Database of Emotional Speech: labels.csv, word_timings.csv, wav/",
    list_items=list_items,
    build=build,
    label_names=LABEL_NAMES,
    options=OPTIONS,
    derived_targets=True,
    categories=CATEGORIES,
    speakers=SPEAKERS,
    extra_resolve=_pad_speakers,
    notes=derived_targets_note,
)
