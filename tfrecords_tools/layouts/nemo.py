"""The `nemo` layout: nEMO (Christop 2024, Polish, acted; CC BY-NC-SA 4.0), as its repository lays
it out:

    data.tsv      file_id, emotion, raw_text, normalized_text, speaker_id, gender, age (tab-separated)
    samples/<file_id>                 (24 kHz mono WAV)

Six emotions (anger, fear, happiness, neutral, sadness, surprised); targets come from them through
the shared label map (`tfrecords_tools.categorical`). `speaker_id` values carry leading spaces in
the release; they are stripped. The raw text is the transcript, its words split over the file in
proportion to their length. Each of the 90 sentences is spoken in every emotion, so the text does
not give the category away. Speakers are stored as `nemo-<id>`; the default split holds out IC0
and SM0 (devel) and KD0 and TP0 (test), one female and one male each.
"""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List

from emorec.errors import DatasetError, InputFileError
from tfrecords_tools.categorical import (LABEL_NAMES, Utterance, build_utterances, derived_targets_note,
                                         partition_utterances, speaker_options)
from tfrecords_tools.layout import Layout
from tfrecords_tools.sources import read_text

CATEGORIES = {"anger": "anger", "fear": "fear", "happiness": "happiness", "neutral": "neutral",
              "sadness": "sadness", "surprised": "surprise"}
SPEAKERS = ("EB0", "IC0", "KD0", "KS0", "MK0", "MP0", "SM0", "TP0", "WR0")
COLUMNS = ("file_id", "emotion", "raw_text", "speaker_id")


def list_items(source: Path, options: Dict[str, Any]) -> list:
    table = source / "data.tsv"
    if not table.is_file():
        raise DatasetError(f"{source}: not an nEMO folder (no data.tsv)")
    reader = csv.DictReader(io.StringIO(read_text(table, "nEMO table")), delimiter="\t", quoting=csv.QUOTE_NONE)
    missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise InputFileError(table, f"missing columns {missing} (header: {reader.fieldnames})")
    utterances: List[Utterance] = []
    for row in reader:
        emotion = row["emotion"].strip()
        if emotion not in CATEGORIES:
            raise InputFileError(table, f"line {reader.line_num}: emotion {emotion!r} is not one of {sorted(CATEGORIES)}")
        file_id = row["file_id"].strip()
        utterances.append(Utterance(
            name=Path(file_id).stem, audio=str(source / "samples" / file_id), speaker=row["speaker_id"].strip(),
            category=CATEGORIES[emotion], transcript=row["raw_text"].strip(), details={"emotion": emotion},
        ))
    return partition_utterances("nemo", "nemo", utterances, options, source)


LAYOUT = Layout(
    name="nemo",
    summary="nEMO: data.tsv and samples/",
    list_items=list_items,
    build=build_utterances,
    label_names=LABEL_NAMES,
    options=speaker_options(devel=("IC0", "SM0"), test=("KD0", "TP0")),
    derived_targets=True,
    categories=CATEGORIES,
    speakers=SPEAKERS,
    notes=derived_targets_note,
)
