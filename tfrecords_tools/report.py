"""What a conversion did (`ConversionReport`) and what a converted folder holds (`format_info`)."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List

from emorec.constants import PARTITIONS
from emorec.data.console import printable


@dataclass
class ConversionReport:
    output: str
    layout: str
    #: Recordings written, over all partitions.
    recordings: int
    #: Per partition: the manifest's entry (shards, recordings, frames, duration_s, words, label stats).
    partitions: Dict[str, Dict[str, Any]]
    #: Every file left out with `on_error="skip"`: {"file", "reason"}.
    skipped: List[Dict[str, str]] = field(default_factory=list)
    #: How label tracks met the audio: exact / trimmed / padded / constant / unlabelled -> count.
    label_length_policy_counts: Dict[str, int] = field(default_factory=dict)
    #: Recordings written without (some of) their word timings, e.g. EmoDB's 13a01Wb.
    recordings_without_words: List[str] = field(default_factory=list)
    shards_written: int = 0
    shards_reused: int = 0
    #: True when the folder already held a complete conversion with the same options.
    up_to_date: bool = False
    audio_s: float = 0.0
    wall_s: float = 0.0

    @property
    def speed_x_realtime(self) -> float:
        return self.audio_s / self.wall_s if self.wall_s > 0 else float("inf")

    def summary(self) -> str:
        lines = []
        if self.up_to_date:
            lines.append(f"{self.output}: already converted with the same options (use --overwrite to redo)")
        else:
            lines.append(
                f"converted {self.recordings} recordings ({self.audio_s / 60:.1f} min of audio) from layout "
                f"'{self.layout}' into {self.output} in {self.wall_s:.1f} s ({self.speed_x_realtime:.0f}x real time); "
                f"{self.shards_written} shards written, {self.shards_reused} reused"
            )
        counts = ", ".join(f"{k} {v}" for k, v in sorted(self.label_length_policy_counts.items()) if v)
        if counts:
            lines.append(f"label tracks: {counts}")
        if self.recordings_without_words:
            shown = ", ".join(self.recordings_without_words[:10])
            more = "" if len(self.recordings_without_words) <= 10 else f" and {len(self.recordings_without_words) - 10} more"
            lines.append(f"without word timings: {len(self.recordings_without_words)} ({shown}{more})")
        if self.skipped:
            lines.append(f"skipped {len(self.skipped)} files:")
            lines.extend(f"  {s['file']}: {s['reason']}" for s in self.skipped)
        # File and recording names come from the source's files: escaped, not sent raw to the terminal.
        return "\n".join(map(printable, lines))


def _fmt_values(values) -> str:
    return "-" if values is None else "[" + ", ".join(f"{v:+.3f}" for v in values) + "]"


def format_info(manifest: Dict[str, Any], folder: str = "") -> str:
    """A readable summary of a converted folder's manifest (`emorec info`)."""
    names = manifest["label_names"]
    lines = [
        f"{folder}: schema v{manifest['schema_version']}, layout '{manifest.get('source_layout', '?')}', "
        f"{manifest['sample_rate_hz']} Hz, {manifest['frame_rate_hz']} Hz frames, labels {', '.join(names)}"
        + (" (DERIVED targets, not annotations)" if manifest.get("derived_targets") else ""),
    ]
    total = {"recordings": 0, "frames": 0, "duration_s": 0.0, "words": 0}
    header = f"{'partition':<10} {'recordings':>10} {'frames':>9} {'hours':>7} {'minutes':>8} {'words':>8} {'shards':>6}"
    lines.append(header)
    order = [p for p in PARTITIONS if p in manifest["partitions"]] + sorted(set(manifest["partitions"]) - set(PARTITIONS))
    for partition in order:
        entry = manifest["partitions"][partition]
        for key in total:
            total[key] += entry[key]
        lines.append(
            f"{partition:<10} {entry['recordings']:>10} {entry['frames']:>9} {entry['duration_s'] / 3600:>7.3f} "
            f"{entry['duration_s'] / 60:>8.2f} {entry['words']:>8} {len(entry['shards']):>6}"
        )
    lines.append(
        f"{'total':<10} {total['recordings']:>10} {total['frames']:>9} {total['duration_s'] / 3600:>7.3f} "
        f"{total['duration_s'] / 60:>8.2f} {total['words']:>8}"
    )
    lines.append(f"label statistics over labelled frames ({', '.join(names)}):")
    for partition in order:
        entry = manifest["partitions"][partition]
        lines.append(
            f"  {partition:<8} mean {_fmt_values(entry['label_mean'])}  min {_fmt_values(entry['label_min'])}  "
            f"max {_fmt_values(entry['label_max'])}  ({entry.get('labelled_frames', 0)} labelled frames)"
        )
    lines.extend(_corpus_lines(manifest.get("corpora") or {}, order))
    if manifest.get("skipped"):
        lines.append(f"skipped files: {len(manifest['skipped'])}")
    if manifest.get("recordings_without_words"):
        lines.append(f"recordings without word timings: {', '.join(manifest['recordings_without_words'])}")
    for note in manifest.get("notes", []):
        lines.append(f"note: {note}")
    # Names, labels and notes come from the manifest, written from a source's files: escaped.
    return "\n".join(map(printable, lines))


def _corpus_lines(corpora: Dict[str, Any], partitions) -> list:
    """Per corpus: recordings, minutes and speakers per partition, and its categories."""
    if not corpora:
        return []
    lines = ["per corpus (recordings / minutes / speakers per partition; categories):"]
    for corpus, entry in corpora.items():
        cells = [f"{p} {c['recordings']} / {c['duration_s'] / 60:.1f} / {c['speakers']}"
                 for p in partitions for c in [entry["partitions"].get(p)] if c]
        categories = ", ".join(f"{name} {count}" for name, count in entry.get("categories", {}).items())
        lines.append(f"  {corpus:<10} {'; '.join(cells)}" + (f"; {categories}" if categories else ""))
    return lines
