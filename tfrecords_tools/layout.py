"""What a dataset layout declares, so that `convert_dataset` and `emorec convert` name none.

A layout is one module in `tfrecords_tools/layouts/` that defines `LAYOUT = Layout(...)`:
- its `name` (`emorec convert --layout NAME`) and a one-line `summary`;
- its `options` (`LayoutOption`): each becomes `--option-name` of `emorec convert` and a keyword of
  `convert_dataset`, and is recorded, resolved, in the manifest;
- its reader: `list_items(source, options) -> [SourceItem]` (cheap, no decoding) and
  `build(item, context) -> BuiltItem` (decode and align one item; run in parallel over items);
- the label dimensions it writes (`label_names`: a tuple, or a function of the listed items);
- for corpora labelled by category: its `categories` (the corpus's names -> the categories of the
  shared valence/arousal/dominance map), its `speakers`, and `derived_targets=True`;
- where SOURCE is a file that names other sources (the `corpora` layout), its `source_state`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Sequence, Tuple, Union

from emorec.errors import DatasetError

#: How an option is given on the command line and normalised.
OPTION_KINDS = ("text", "speakers", "list", "int", "flag", "file")


@dataclass(frozen=True)
class LayoutOption:
    """One option of a layout. kind: `text`; `speakers` or `list` (a comma- or space-separated list,
    or a Python list); `int`; `flag` (off unless given); `file` (an existing file, stored absolute)."""

    name: str
    help: str
    default: Any = None
    kind: str = "text"

    def __post_init__(self):
        if self.kind not in OPTION_KINDS:
            raise ValueError(f"option {self.name}: kind must be one of {OPTION_KINDS}, got {self.kind!r}")

    @property
    def flag_name(self) -> str:
        return "--" + self.name.replace("_", "-")

    def normalise(self, value: Any) -> Any:
        if value is None:
            return self.default
        if self.kind in ("speakers", "list"):
            return speaker_list(value)
        if self.kind == "int":
            return int(value)
        if self.kind == "flag":
            return bool(value)
        if self.kind == "file":
            return str(Path(value).resolve())
        return str(value)


def speaker_list(value: Union[str, Sequence[Any]]) -> List[str]:
    """`'03,08 09'` or `['03', 8]` -> `['03', '08', '09']`-style strings, as given (no padding)."""
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return [str(v).strip() for v in value if str(v).strip()]


@dataclass(frozen=True)
class Layout:
    """A dataset layout (module doc). `resolve` turns the options a user gave into the full,
    normalised set the reader and the manifest see; `extra_resolve` adds checks and derived
    values of the layout's own (e.g. EmoDB's zero-padded speaker ids)."""

    name: str
    summary: str
    list_items: Callable[..., list]
    build: Callable[..., Any]
    label_names: Union[Tuple[str, ...], Callable[[list], Sequence[str]]]
    options: Tuple[LayoutOption, ...] = ()
    derived_targets: bool = False
    categories: Mapping[str, str] = field(default_factory=dict)
    speakers: Tuple[str, ...] = ()
    extra_resolve: Optional[Callable[[Dict[str, Any]], Dict[str, Any]]] = None
    notes: Callable[[Dict[str, Any]], List[str]] = lambda options: []
    #: What a conversion depends on beyond SOURCE's path and the options (e.g. the parts a corpora
    #: file lists), recorded in the manifest, so that a changed source is not taken as up to date.
    source_state: Optional[Callable[[Path], Any]] = None

    def resolve(self, given: Dict[str, Any]) -> Dict[str, Any]:
        known = {option.name: option for option in self.options}
        unknown = sorted(set(given) - set(known))
        if unknown:
            takes = ", ".join(sorted(known)) or "none"
            raise DatasetError(f"layout '{self.name}' has no option(s) {', '.join(unknown)} (its options: {takes})")
        resolved = {name: option.normalise(given.get(name)) for name, option in known.items()}
        return self.extra_resolve(resolved) if self.extra_resolve else resolved

    def labels_for(self, items: list) -> List[str]:
        names = self.label_names(items) if callable(self.label_names) else self.label_names
        return list(names)
