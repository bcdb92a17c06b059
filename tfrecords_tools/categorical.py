"""What the layouts of corpora labelled by category share: the category -> (arousal, valence,
dominance) map, speaker-independent partitions, sessions, and building utterances into a recording.

Targets are derived, not annotated: each category takes its row of the label map (default
`emorec/resources/category_vad_map.yaml`, NRC VAD Lexicon values, each row's source cited there),
constant over the utterance. A layout lists its files as `Utterance`s, with the category already
translated to a row name of the map (its `Layout.categories`), and `partition_utterances` turns
them into items: one per utterance, or with `sessions=N` one per N utterances of a speaker, joined
in a seeded order so that labels change inside a sequence (and short clips are not each padded
to a training window). Each utterance is zero-padded to whole frames before joining, so every
label change falls on a frame boundary.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from emorec.config import RESOURCES_DIR, parse_yaml_text
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.data.audio import load_audio
from emorec.data.frames import num_frames_for, pad_to_frames
from emorec.data.words import Word, proportional_words, words_from_timings
from emorec.errors import ConfigError, DatasetError, InputFileError
from tfrecords_tools.labels import constant_labels
from tfrecords_tools.layout import LayoutOption
from tfrecords_tools.sources import (BuildContext, BuiltItem, SourceItem, check_word_timings, make_recording,
                                     read_text)

LABEL_NAMES = ("arousal", "valence", "dominance")
#: Shipped inside the emorec package (package_data), so it is found in any install.
DEFAULT_LABEL_MAP = RESOURCES_DIR / "category_vad_map.yaml"
PARTITION_ORDER = ("train", "devel", "test")


@dataclass
class Utterance:
    """One audio file of a categorical corpus. category: a row name of the label map; transcript:
    the sentence spoken, where the corpus gives it (words then split proportionally over the file)."""

    name: str
    audio: str
    speaker: str
    category: str
    transcript: str = ""
    details: Dict[str, Any] = field(default_factory=dict)


#: Joining a speaker's utterances into sessions, and capping the training audio (every
#: categorical layout takes these).
SESSION_OPTIONS = (
    LayoutOption("sessions", "join each speaker's utterances into sessions of N (0: off).", 0, "int"),
    LayoutOption("session_partitions", "the partitions whose utterances --sessions joins; the others keep one "
                 "recording per utterance (e.g. train, to score devel per file).", list(PARTITION_ORDER), "list"),
    LayoutOption("seed", "seed of the session order and of the training cap's choice.", 0, "int"),
    LayoutOption("train_minutes", "keep at most this many minutes of training audio, taken in turn from each "
                 "speaker and category (0: all).", 0, "int"),
)


def speaker_options(devel: Sequence[str], test: Sequence[str]) -> Tuple[LayoutOption, ...]:
    """The split, label-map and session options of a categorical layout, with its default
    held-out speakers."""
    return (
        LayoutOption("train_speakers", "training speakers [default: every speaker not in devel or test].",
                     None, "speakers"),
        LayoutOption("devel_speakers", "development speakers.", list(devel), "speakers"),
        LayoutOption("test_speakers", "test speakers.", list(test), "speakers"),
        LayoutOption("label_map", "category -> arousal/valence/dominance YAML [default: the packaged NRC VAD map].",
                     None, "file"),
    ) + SESSION_OPTIONS


def label_map_path(value: Optional[str]) -> Path:
    """The label map an option names; None (recorded as null) is the packaged one. Null rather than
    the install's path keeps a conversion's recorded options equal across checkouts and installs."""
    return DEFAULT_LABEL_MAP if value is None else Path(value)


def label_map_name(value: Optional[str]) -> str:
    return f"the packaged label map {DEFAULT_LABEL_MAP.name}" if value is None else f"the label map {value}"


def derived_targets_note(options: Dict[str, Any]) -> List[str]:
    return [f"the corpus has no dimensional annotation: arousal/valence/dominance are derived from its emotion "
            f"categories through {label_map_name(options['label_map'])} (NRC VAD Lexicon, Mohammad 2018, rescaled to "
            "[-1, 1]); every figure on them must say so"]


def load_label_map(path: Path) -> Dict[str, List[float]]:
    """Category -> [arousal, valence, dominance], rescaled as the file says."""
    data = parse_yaml_text(read_text(path, "label map"), path)
    if not isinstance(data, dict) or not isinstance(data.get("categories"), dict):
        raise ConfigError(path, "categories", "missing: a mapping of category -> {arousal, valence, dominance}")
    rescale = data.get("rescale", "none")
    if rescale not in ("none", "minus_one_to_one"):
        raise ConfigError(path, "rescale", f"must be 'none' or 'minus_one_to_one', got {rescale!r}")
    mapping = {}
    for category, entry in data["categories"].items():
        try:
            values = [float(entry[d]) for d in LABEL_NAMES]
        except (KeyError, TypeError, ValueError):
            raise ConfigError(path, f"categories.{category}", f"needs numeric {', '.join(LABEL_NAMES)}") from None
        mapping[str(category)] = [2.0 * v - 1.0 for v in values] if rescale == "minus_one_to_one" else values
    return mapping


def partitions_by_speaker(layout: str, speakers: Sequence[str], options: Dict[str, Any]) -> Dict[str, str]:
    """speaker -> partition from the options' speaker lists; train defaults to every speaker that
    is in neither devel nor test. A listed speaker the corpus does not have is an error (a typo
    would otherwise silently empty a partition)."""
    partition_of: Dict[str, str] = {}
    for partition in ("devel", "test", "train"):
        listed = options.get(f"{partition}_speakers")
        if listed is None:  # train, by default
            listed = [s for s in speakers if s not in partition_of]
        for speaker in listed:
            if speaker not in speakers:
                raise DatasetError(f"layout '{layout}': {partition} speaker {speaker!r} is not in the corpus "
                                   f"(its speakers: {', '.join(speakers)})")
            if speaker in partition_of:
                raise DatasetError(f"layout '{layout}': speaker {speaker} is in both {partition_of[speaker]} and {partition}")
            partition_of[speaker] = partition
    return partition_of


def partition_utterances(layout: str, corpus: str, utterances: List[Utterance], options: Dict[str, Any],
                         source: Path) -> List[SourceItem]:
    """Items of the utterances whose speaker is in a partition, ordered by partition, speaker, name
    (sessions: by partition, speaker, session).

    Speaker ids are qualified with the corpus (`ravdess-01`), so that speakers of several corpora
    never share an id; the speaker options take the corpus's own ids (`01`)."""
    if not utterances:
        raise DatasetError(f"{source}: holds no {layout} audio files")
    label_map = load_label_map(label_map_path(options["label_map"]))
    partition_of = partitions_by_speaker(layout, sorted({u.speaker for u in utterances}), options)
    by_speaker: Dict[str, List[Dict[str, Any]]] = {}
    for utterance in sorted(utterances, key=lambda u: u.name):
        if utterance.speaker not in partition_of:
            continue  # a speaker in no list is left out on purpose
        if utterance.category not in label_map:
            raise InputFileError(utterance.audio, f"category {utterance.category!r} is not in "
                                                  f"{label_map_name(options['label_map'])}")
        by_speaker.setdefault(utterance.speaker, []).append({
            "name": utterance.name, "audio": utterance.audio, "category": utterance.category, "speaker": utterance.speaker,
            "target": label_map[utterance.category], "transcript": utterance.transcript, **utterance.details})
    if not by_speaker:
        raise DatasetError(f"{source}: no utterances of the listed speakers")
    rng = np.random.default_rng(options.get("seed", 0))
    if options.get("train_minutes", 0) > 0:
        train = [speaker for speaker in by_speaker if partition_of[speaker] == "train"]
        kept = cap_training_audio([u for speaker in train for u in by_speaker[speaker]], options["train_minutes"],
                                  np.random.default_rng(options.get("seed", 0)))
        by_speaker = {speaker: [u for u in group if partition_of[speaker] != "train" or u["name"] in kept]
                      for speaker, group in by_speaker.items()}
    joined = _session_partitions(options)
    items = [_item(chunk, name, speaker, partition_of[speaker], corpus)
             for speaker in sorted(by_speaker)
             for name, chunk in _sessions(speaker, by_speaker[speaker],
                                          options.get("sessions", 0) if partition_of[speaker] in joined else 0, rng)]
    return sorted(items, key=lambda item: (PARTITION_ORDER.index(item.partition), item.speaker, item.name))


def cap_training_audio(utterances: List[Dict[str, Any]], minutes: float, rng: np.random.Generator) -> set:
    """Names of the utterances kept under a cap of `minutes`: taken in turn from each (speaker,
    category) group, each group in a seeded order, until the cap is reached, so that the kept
    audio is balanced by speaker and category as far as the corpus allows. Durations are read
    from the files' headers."""
    from emorec.data.audio import probe_audio

    groups: Dict[Tuple[str, str], List[Dict[str, Any]]] = {}
    for utterance in utterances:
        groups.setdefault((utterance["speaker"], utterance["category"]), []).append(utterance)
    queues = [[group[i] for i in rng.permutation(len(group))] for _, group in sorted(groups.items())]
    kept, total_s = set(), 0.0
    while total_s < minutes * 60 and any(queues):
        for queue in queues:
            if queue and total_s < minutes * 60:
                utterance = queue.pop(0)
                kept.add(utterance["name"])
                total_s += probe_audio(utterance["audio"]).duration_s
    return kept


def _session_partitions(options: Dict[str, Any]) -> List[str]:
    partitions = list(options.get("session_partitions") or PARTITION_ORDER)
    unknown = [p for p in partitions if p not in PARTITION_ORDER]
    if unknown:
        raise DatasetError(f"--session-partitions: {unknown[0]!r} is not a partition (the partitions: "
                           f"{', '.join(PARTITION_ORDER)})")
    return partitions


def _sessions(speaker: str, group: List[Dict[str, Any]], size: int, rng: np.random.Generator):
    """(name, utterances) per recording: each utterance alone, or sessions of `size` in a seeded order."""
    if size <= 0:
        return [(u["name"], [u]) for u in group]
    group = [group[i] for i in rng.permutation(len(group))]
    return [(f"{speaker}_session{k:02d}", group[i: i + size]) for k, i in enumerate(range(0, len(group), size))]


def _item(chunk: List[Dict[str, Any]], name: str, speaker: str, partition: str, corpus: str) -> SourceItem:
    audio = [u["audio"] for u in chunk]
    joined = name != chunk[0]["name"]
    return SourceItem(name=name, partition=partition, speaker=f"{corpus}-{speaker}", files=audio, audio_files=audio,
                      joined=joined, corpus=corpus, category="" if joined else chunk[0]["category"],
                      payload={"utterances": chunk})


def build_utterances(item: SourceItem, context: BuildContext) -> BuiltItem:
    """An item's utterances, in order, as one recording: each utterance's audio padded to whole
    frames, its category's target on its frames, and its words: given timings (`timings`, checked
    against its audio) or, with a transcript and `word_timing` auto or proportional, the
    transcript's words split over the utterance in proportion to their length."""
    audio_parts, label_parts, words = [], [], []
    offset_samples = num_samples = 0
    has_all_words = True
    for utterance in item.payload["utterances"]:
        audio = load_audio(utterance["audio"], context.sample_rate_hz, limits=context.audio_limits)
        frames = num_frames_for(audio.shape[0])
        utterance_words = _utterance_words(utterance, audio.shape[0] / context.sample_rate_hz, context)
        has_all_words = has_all_words and bool(utterance_words)
        offset_s = offset_samples / context.sample_rate_hz
        words.extend(Word(w.token, w.start_s + offset_s, w.end_s + offset_s) for w in utterance_words)
        audio_parts.append(pad_to_frames(audio))
        label_parts.append(constant_labels(utterance["target"], frames)[0])
        # The last utterance's real length counts; earlier ones count with their frame padding.
        num_samples = offset_samples + audio.shape[0]
        offset_samples += frames * FRAME_LENGTH_SAMPLES
    labels = np.concatenate(label_parts)
    recording = make_recording(item, np.concatenate(audio_parts), LABEL_NAMES, labels,
                               np.ones(labels.shape[0], dtype=np.float32), words, num_samples)
    return BuiltItem(recording, "constant", has_all_words)


def _utterance_words(utterance: Dict[str, Any], duration_s: float, context: BuildContext) -> List[Word]:
    if utterance.get("words_error") is not None:
        raise utterance["words_error"]
    if utterance.get("timings"):
        check_word_timings(utterance["timings"], duration_s, utterance["timings_path"],
                           recording=utterance.get("file", utterance["name"]))
        return words_from_timings(utterance["timings"])
    if utterance.get("transcript") and context.word_timing in ("auto", "proportional"):
        return proportional_words([(0.0, duration_s, utterance["transcript"])])
    return []
