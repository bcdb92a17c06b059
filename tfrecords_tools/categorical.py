"""What the layouts of corpora labelled by category share: the category -> (arousal, valence,
dominance) map, speaker-independent partitions, and building one utterance into a recording.

Targets are derived, not annotated: each category takes its row of the label map (default
`emorec/resources/category_vad_map.yaml`, NRC VAD Lexicon values, each row's source cited there),
constant over the utterance. A layout lists its files as `Utterance`s, with the category already
translated to a row name of the map (its `Layout.categories`), and `partition_utterances` turns
them into items.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from emorec.config import RESOURCES_DIR, parse_yaml_text
from emorec.data.audio import load_audio
from emorec.data.frames import num_frames_for, pad_to_frames
from emorec.data.words import proportional_words
from emorec.errors import ConfigError, DatasetError, InputFileError
from tfrecords_tools.labels import constant_labels
from tfrecords_tools.layout import LayoutOption
from tfrecords_tools.sources import BuildContext, BuiltItem, SourceItem, make_recording, read_text

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


def speaker_options(devel: Sequence[str], test: Sequence[str]) -> Tuple[LayoutOption, ...]:
    """The split and label-map options of a categorical layout, with its default held-out speakers."""
    return (
        LayoutOption("train_speakers", "training speakers [default: every speaker not in devel or test].",
                     None, "speakers"),
        LayoutOption("devel_speakers", "development speakers.", list(devel), "speakers"),
        LayoutOption("test_speakers", "test speakers.", list(test), "speakers"),
        LayoutOption("label_map", "category -> arousal/valence/dominance YAML [default: the packaged NRC VAD map].",
                     None, "file"),
    )


def resolve_label_map(options: Dict[str, Any]) -> Dict[str, Any]:
    """`label_map` made explicit (the packaged map when not given), so the manifest records it."""
    return {**options, "label_map": options.get("label_map") or str(DEFAULT_LABEL_MAP)}


def derived_targets_note(options: Dict[str, Any]) -> List[str]:
    return [f"the corpus has no dimensional annotation: arousal/valence/dominance are derived from its emotion "
            f"categories through the label map {options['label_map']} (NRC VAD Lexicon, Mohammad 2018, rescaled to "
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
    """Items of the utterances whose speaker is in a partition, ordered by partition, speaker, name.

    Speaker ids are qualified with the corpus (`ravdess-01`), so that speakers of several corpora
    never share an id; the speaker options take the corpus's own ids (`01`)."""
    if not utterances:
        raise DatasetError(f"{source}: holds no {layout} audio files")
    label_map = load_label_map(Path(options["label_map"]))
    speakers = sorted({u.speaker for u in utterances})
    partition_of = partitions_by_speaker(layout, speakers, options)
    items = []
    for utterance in utterances:
        if utterance.speaker not in partition_of:
            continue  # a speaker in no list is left out on purpose
        if utterance.category not in label_map:
            raise InputFileError(utterance.audio, f"category {utterance.category!r} is not in the label map "
                                                  f"{options['label_map']}")
        items.append(SourceItem(
            name=utterance.name, partition=partition_of[utterance.speaker], speaker=f"{corpus}-{utterance.speaker}",
            files=[utterance.audio], audio_files=[utterance.audio], corpus=corpus, category=utterance.category,
            payload={"target": label_map[utterance.category], "transcript": utterance.transcript,
                     **utterance.details},
        ))
    if not items:
        raise DatasetError(f"{source}: no utterances of the listed speakers")
    return sorted(items, key=lambda item: (PARTITION_ORDER.index(item.partition), item.speaker, item.name))


def build_utterance(item: SourceItem, context: BuildContext) -> BuiltItem:
    """One utterance: its audio, its category's target on every frame, and, with a transcript, its
    words split over the whole file in proportion to their length (`word_timing` auto or
    proportional; the corpora give no word times)."""
    audio = load_audio(item.audio_files[0], context.sample_rate_hz, limits=context.audio_limits)
    frames = num_frames_for(audio.shape[0])
    labels, mask = constant_labels(item.payload["target"], frames)
    transcript: Optional[str] = item.payload.get("transcript")
    words = []
    if transcript and context.word_timing in ("auto", "proportional"):
        words = proportional_words([(0.0, audio.shape[0] / context.sample_rate_hz, transcript)])
    recording = make_recording(item, pad_to_frames(audio), LABEL_NAMES, labels, mask, words, audio.shape[0])
    return BuiltItem(recording, "constant", bool(words))
