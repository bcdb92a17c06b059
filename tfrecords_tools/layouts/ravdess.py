"""The `ravdess` layout: the speech part of RAVDESS (Livingstone & Russo 2018, CC BY-NC-SA 4.0), as
its official `Audio_Speech_Actors_01-24.zip` unpacks:

    Actor_01/03-01-06-01-02-01-01.wav   ...   Actor_24/...   (48 kHz mono)

A file name is seven two-digit fields: modality (03 audio-only), vocal channel (01 speech, 02
song), emotion (01 neutral, 02 calm, 03 happy, 04 sad, 05 angry, 06 fearful, 07 disgust, 08
surprised), intensity (01 normal, 02 strong), statement (01 "Kids are talking by the door", 02
"Dogs are sitting by the door"), repetition (01, 02) and actor (01-24; odd male, even female).
Song files and files of other modalities are left out.

Targets come from the emotion alone, through the shared label map (`tfrecords_tools.categorical`):
a strong and a normal rendition of one emotion get the same target. The intensity is kept in the
item (`payload["intensity"]`) and used nowhere else. The statement gives the transcript, whose
words are split over the file in proportion to their length. Speakers are stored as
`ravdess-NN`; the default split holds out actors 21, 22 (devel) and 23, 24 (test), one male and one
female each.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Dict, List

from tfrecords_tools.categorical import (LABEL_NAMES, Utterance, build_utterances, derived_targets_note,
                                         partition_utterances, speaker_options)
from tfrecords_tools.layout import Layout

#: The corpus's emotion codes -> its names -> rows of the label map.
EMOTIONS = {"01": "neutral", "02": "calm", "03": "happy", "04": "sad", "05": "angry", "06": "fearful",
            "07": "disgust", "08": "surprised"}
CATEGORIES = {"neutral": "neutral", "calm": "calm", "happy": "happiness", "sad": "sadness", "angry": "anger",
              "fearful": "fear", "disgust": "disgust", "surprised": "surprise"}
INTENSITIES = {"01": "normal", "02": "strong"}
STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
SPEAKERS = tuple(f"{actor:02d}" for actor in range(1, 25))
_FILE = re.compile(r"^03-01-(0[1-8])-(0[12])-(0[12])-(0[12])-(\d\d)$")


def list_items(source: Path, options: Dict[str, Any]) -> list:
    utterances: List[Utterance] = []
    for path in sorted(source.glob("Actor_*/*.wav")):
        match = _FILE.match(path.stem)
        if match is None:
            continue  # song (vocal channel 02) or audio-visual files, which this layout leaves out
        emotion, intensity, statement, _, actor = match.groups()
        utterances.append(Utterance(
            name=path.stem, audio=str(path), speaker=actor, category=CATEGORIES[EMOTIONS[emotion]],
            transcript=STATEMENTS[statement],
            details={"emotion": EMOTIONS[emotion], "intensity": INTENSITIES[intensity]},
        ))
    return partition_utterances("ravdess", "ravdess", utterances, options, source)


LAYOUT = Layout(
    name="ravdess",
    summary="RAVDESS speech: Actor_NN/03-01-EE-II-SS-RR-NN.wav",
    list_items=list_items,
    build=build_utterances,
    label_names=LABEL_NAMES,
    options=speaker_options(devel=("21", "22"), test=("23", "24")),
    derived_targets=True,
    categories=CATEGORIES,
    speakers=SPEAKERS,
    notes=lambda options: derived_targets_note(options) + [
        "RAVDESS intensity (normal, strong) is not used: both renditions of an emotion get its target"],
)
