"""The `corpora` layout: several corpora in one converted dataset. SOURCE is a YAML file:

    corpora:
      - layout: emodb                    # any other layout with the same label names
        source: ../shared/data/emodb     # relative to this file; ~ and $VARIABLES are expanded
      - layout: ravdess
        source: $CORPORA/ravdess
        options: {devel_speakers: [21, 22], test_speakers: [23, 24]}   # the layout's own options
      - layout: ased
        source: $CORPORA/ased
        partition: test                  # every recording (every speaker) of it in one partition

Each part is listed by its own layout, with its options (resolved and recorded in the manifest,
so a changed file is a changed conversion). A recording is named `<corpus>/<its name>`, its
speaker qualified with the corpus where its layout does not already do so (`emodb-03`), and it
carries its corpus (`name:`, default the layout's name). Partitions come from each part: its
layout's speaker split, or `partition:` for all of it. Every part must write the same label
dimensions, as the categorical corpora do (arousal, valence, dominance from one map).
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Dict, List

from emorec.config import parse_yaml_text
from emorec.constants import PARTITIONS
from emorec.errors import ConfigError, DatasetError
from tfrecords_tools.layout import Layout
from tfrecords_tools.sources import BuildContext, BuiltItem, SourceItem, read_text

PART_KEYS = ("layout", "source", "name", "options", "partition")


def read_parts(path: Path) -> List[Dict[str, Any]]:
    """The parts of a corpora file, checked, with sources resolved and options resolved by their layouts."""
    from tfrecords_tools.layouts import get_layout

    data = parse_yaml_text(read_text(path, "corpora"), path)
    parts = data.get("corpora") if isinstance(data, dict) else None
    if not isinstance(parts, list) or not parts:
        raise ConfigError(path, "corpora", "must be a list of {layout, source[, name, options, partition]}")
    resolved, names = [], set()
    for index, part in enumerate(parts):
        where = f"corpora[{index}]"
        if not isinstance(part, dict) or not {"layout", "source"} <= set(part) or set(part) - set(PART_KEYS):
            raise ConfigError(path, where, f"needs layout and source, and may have {', '.join(PART_KEYS[2:])}")
        if part["layout"] == LAYOUT.name:
            raise ConfigError(path, where, "a corpora file cannot include another")
        layout = get_layout(str(part["layout"]))
        name = str(part.get("name") or layout.name)
        if name in names:
            raise ConfigError(path, where, f"corpus name {name!r} is used twice; give one part another name:")
        names.add(name)
        if part.get("partition") not in (None, *PARTITIONS):
            raise ConfigError(path, f"{where}.partition", f"must be one of {', '.join(PARTITIONS)}")
        source = Path(os.path.expandvars(os.path.expanduser(str(part["source"]))))
        options = dict(part.get("options") or {})
        if part.get("partition"):
            # A corpus put whole into one partition holds out no speakers of its own.
            taken = {option.name for option in layout.options}
            options.update({key: [] for key in ("devel_speakers", "test_speakers") if key in taken and key not in options})
        resolved.append({"layout": layout.name, "name": name, "partition": part.get("partition"),
                         "source": str((path.parent / source).resolve()), "options": layout.resolve(options)})
    return resolved


def source_state(source: Path) -> List[Dict[str, Any]]:
    """What the conversion depends on beyond the file's path: its parts, resolved."""
    return read_parts(Path(source))


def list_items(source: Path, options: Dict[str, Any]) -> List[SourceItem]:
    from tfrecords_tools.layouts import get_layout

    items: List[SourceItem] = []
    label_names = None
    for part in read_parts(Path(source)):
        layout = get_layout(part["layout"])
        listed = layout.list_items(Path(part["source"]), part["options"])
        names = layout.labels_for(listed)
        if label_names is not None and names != label_names:
            raise DatasetError(f"{source}: corpus {part['name']} writes labels {names}, the others {label_names}; "
                               "a dataset holds one set of label dimensions")
        label_names = names
        items.extend(_qualified(item, part) for item in listed)
    return items


def _qualified(item: SourceItem, part: Dict[str, Any]) -> SourceItem:
    corpus = part["name"]
    own = f"{item.corpus}-" if item.corpus else None  # a layout that qualifies its speakers itself
    base = item.speaker[len(own):] if own and item.speaker.startswith(own) else item.speaker
    speaker = f"{corpus}-{base}" if base else ""
    return dataclasses.replace(item, name=f"{corpus}/{item.name}", speaker=speaker, corpus=corpus,
                               partition=part["partition"] or item.partition,
                               payload={**item.payload, "layout": part["layout"]})


def label_names(items: List[SourceItem]) -> List[str]:
    from tfrecords_tools.layouts import get_layout

    return get_layout(items[0].payload["layout"]).labels_for(items[:1])


def build(item: SourceItem, context: BuildContext) -> BuiltItem:
    from tfrecords_tools.layouts import get_layout

    return get_layout(item.payload["layout"]).build(item, context)


def notes(options: Dict[str, Any]) -> List[str]:
    return ["several corpora in one dataset: each recording is named <corpus>/<name> and carries its corpus; "
            "see each part's layout for how its targets were made (the manifest's options.source_state lists the parts)"]


LAYOUT = Layout(
    name="corpora",
    summary="several corpora in one dataset: a YAML file listing {layout, source, options, partition}",
    list_items=list_items,
    build=build,
    label_names=label_names,
    derived_targets=True,
    notes=notes,
    source_state=source_state,
)
