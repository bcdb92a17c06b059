"""`convert_dataset`: a dataset layout -> sharded TFRecords and a manifest, in parallel over files.

Order of work, and why:
1. list the items (cheap) and probe every audio header, to plan shards of about
   `target_shard_mb` each before decoding anything: shard names (`-of-MMMMM`) are then known up
   front, and a re-run with the same options finds the same shards;
2. decode, resample and align items on a thread pool, writing each shard to a `.partial` file
   renamed when complete. Threads, not processes: soxr releases the GIL, and a process pool would
   import TensorFlow once per worker (about 3 s, as long as converting all of EmoDB). tfio's
   decoder is not thread-safe and runs under a lock (see audio.py). Measured on EmoDB with 2
   shared cores: 1 worker 385x, default (min(4, CPUs)) workers 394x real time -- the per-file
   work is already small next to serialising and writing;
3. write `manifest.json` last, atomically, with `complete: true`.

A failed run leaves no manifest and no partial file under a final shard name. A re-run with the
same options reuses the shards a previous run finished (their statistics are kept in
`.progress/`), each only while it matches the size and SHA-256 recorded when it was written; a
shard that differs (cut short, a flipped byte, replaced) is written again rather than refused: it
is this command's own output, and a user who re-runs `convert` after `emorec info --verify`
reported damage expects a sound folder. Likewise a finished folder is "up to date" only while
every shard matches the manifest's `shard_sha256`; otherwise it is converted again (the manifest
keeps no per-shard statistics to reuse the intact shards with). `overwrite=True` starts from
scratch. Without `overwrite`, shards (or a manifest) that no conversion of ours wrote are never
deleted or replaced: the run is refused instead.
"""
from __future__ import annotations

import collections
import functools
import json
import os
import shutil
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Deque, Dict, List, Optional, Sequence, Tuple

from emorec.constants import FRAME_RATE_HZ, SAMPLE_RATE_HZ, SCHEMA_VERSION
from emorec.data.audio import DEFAULT_MAX_DURATION_S, AudioLimits, probe_audio
from emorec.data.locking import output_lock
from emorec.data.manifest import load_manifest_unchecked, manifest_path, write_manifest
from emorec.data.schema import recording_name_problem, recording_to_example
from emorec.data.shards import PARTIAL_SUFFIX, ShardWriter, shard_name
from emorec.data.verify import shard_matches
from emorec.errors import DatasetError, EmorecError, InputFileError, OutputExistsError, PathLike
from tfrecords_tools.labels import LABEL_LENGTH_POLICIES
from tfrecords_tools.layout import Layout
from tfrecords_tools.layouts import available_layouts, get_layout
from tfrecords_tools.report import ConversionReport
from tfrecords_tools.sources import BuildContext, SourceItem
from tfrecords_tools.words import WORD_TIMING_MODES, require_pocketsphinx
from tfrecords_tools.writer import PartitionStats, plan_shards

ON_ERROR = ("fail", "skip")
DEFAULT_TARGET_SHARD_MB = 256.0
PROGRESS_DIR = ".progress"

#: float32 audio dominates a record's size; labels, mask and words add a little.
_BYTES_PER_SAMPLE = 4


def _check_choice(name: str, value: Any, choices) -> None:
    if value not in choices:
        raise EmorecError(f"{name} must be one of {', '.join(map(str, choices))}; got {value!r}")


def _clean_output(output: Path, everything: bool) -> None:
    """Remove partial shards (always) and, with `everything` (`--overwrite`), every shard, the
    manifest and progress."""
    for path in output.glob(f"*-of-*.tfrecord{PARTIAL_SUFFIX}"):
        path.unlink()
    if everything:
        for path in output.glob("*-of-*.tfrecord"):
            path.unlink()
        shutil.rmtree(output / PROGRESS_DIR, ignore_errors=True)
        manifest_path(output).unlink(missing_ok=True)


def _refuse_foreign_files(output: Path, previous: Optional[Dict[str, Any]]) -> None:
    """Raise `OutputExistsError` when `output` holds shards (or a manifest) that no conversion of
    ours wrote: neither listed in our manifest nor recorded in `.progress/` by an interrupted run.
    Without this, they were deleted as "shards of an earlier plan" or overwritten."""
    ours = {name for entry in (previous or {}).get("partitions", {}).values() for name in entry.get("shards", [])}
    ours |= {path.name[: -len(".json")] for path in (output / PROGRESS_DIR).glob("*.tfrecord.json")}
    foreign = sorted(path.name for path in output.glob("*-of-*.tfrecord") if path.name not in ours)
    if previous is None and manifest_path(output).exists():
        foreign.insert(0, manifest_path(output).name)  # not a manifest we can read: not ours to replace
    if foreign:
        shown = ", ".join(foreign[:3]) + (f" and {len(foreign) - 3} more" if len(foreign) > 3 else "")
        raise OutputExistsError(output, f"holds files that no emorec conversion wrote here ({shown}); "
                                        "pass --overwrite to replace them or choose another output folder")


def _finished_shards_intact(output: Path, previous: Dict[str, Any]) -> bool:
    """Whether every shard of a finished conversion is still the one its manifest records (by
    SHA-256; a manifest from before checksums were recorded can only be checked for presence)."""
    for entry in previous.get("partitions", {}).values():
        recorded = entry.get("shard_sha256") or {}
        for name in entry.get("shards", []):
            path = output / name
            if not (shard_matches(path, recorded[name]) if name in recorded else path.is_file()):
                return False
    return True


def _refuse_unsafe_names(items: List[SourceItem], source: Path) -> None:
    """Raise InputFileError for a recording name that could not name a file inside an output
    folder (`recording_name_problem`): readers such as `emorec evaluate` write `<name>.csv`."""
    for item in items:
        problem = recording_name_problem(item.name)
        if problem:
            raise InputFileError(source, problem)


def _build_one(build, item: SourceItem, context: BuildContext):
    """Worker: returns (built, serialized example) or raises."""
    built = build(item, context)
    return built, recording_to_example(built.recording).SerializeToString()


def _holding_output_lock(convert):
    """Run `convert` holding the output folder's lock (`emorec.data.locking`) throughout: a second
    conversion into the same folder at the same time is refused with a `FolderInUseError` naming
    the first, instead of the two mixing their shards under one manifest."""

    @functools.wraps(convert)
    def locked(layout, source, output, **options):
        output = Path(output)
        if output.exists() and not output.is_dir():
            raise DatasetError(f"{output}: exists and is not a folder")
        with output_lock(output, f"emorec convert --layout {layout} {source}"):
            return convert(layout, source, output, **options)

    return locked


@_holding_output_lock
def convert_dataset(
    layout: str,
    source: PathLike,
    output: PathLike,
    *,
    on_error: str = "fail",
    overwrite: bool = False,
    workers: Optional[int] = None,
    target_shard_mb: float = DEFAULT_TARGET_SHARD_MB,
    label_length_policy: str = "mask",
    word_timing: str = "auto",
    sample_rate_hz: int = SAMPLE_RATE_HZ,
    progress: bool = True,
    max_duration_s: float = DEFAULT_MAX_DURATION_S,
    allow_any_sample_rate: bool = False,
    **layout_options: Any,
) -> ConversionReport:
    """Convert the dataset at `source`, laid out as `layout` (a name of
    `tfrecords_tools.layouts.available_layouts()`), into `output`.

    on_error: `fail` stops at the first bad input file with an InputFileError naming it;
        `skip` leaves it out and lists it (with the reason) in the report and the manifest.
    label_length_policy: `mask`, `pad_edge` or `error` (see tfrecords_tools.labels).
    word_timing: `auto` (given file if present, else proportional), `given`, `proportional`,
        `pocketsphinx`.
    max_duration_s, allow_any_sample_rate: sanity limits per audio file (see
        `emorec.data.audio.AudioLimits`): longer files and rates outside 1-384 kHz are refused.
    layout_options: the layout's own options (`Layout.options`), e.g. emodb's test_speakers;
        recorded, with the defaults of those not given, in the manifest.
    Returns a ConversionReport; the manifest is `output/manifest.json`. Holds `output`'s lock
    throughout (a `FolderInUseError` while another process converts into it).
    """
    started = time.perf_counter()
    _check_arguments(layout, on_error=on_error, label_length_policy=label_length_policy, word_timing=word_timing,
                     sample_rate_hz=sample_rate_hz, target_shard_mb=target_shard_mb, max_duration_s=max_duration_s)
    limits = AudioLimits(float(max_duration_s), bool(allow_any_sample_rate))
    if word_timing == "pocketsphinx":
        require_pocketsphinx()
    source = Path(source).resolve()
    output = Path(output)
    if not source.exists():
        raise DatasetError(f"{source}: source dataset does not exist")
    spec = get_layout(layout)
    options = _recorded_options(spec, source, layout_options, label_length_policy=label_length_policy,
                                word_timing=word_timing, sample_rate_hz=int(sample_rate_hz),
                                target_shard_mb=float(target_shard_mb), on_error=on_error)

    if output.exists() and not output.is_dir():
        raise DatasetError(f"{output}: exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    previous = load_manifest_unchecked(output)
    same = _same_conversion(previous, source, layout, options)
    if previous is not None and previous.get("complete") is True and same and not overwrite \
            and _finished_shards_intact(output, previous):
        return _report_from_manifest(previous, output, layout, time.perf_counter() - started)
    _make_room(output, previous, same, overwrite)

    plan = plan_conversion(spec, source, options["layout_options"], limits, on_error=on_error,
                           sample_rate_hz=int(sample_rate_hz), target_shard_mb=float(target_shard_mb))
    _remove_unplanned_shards(output, plan)

    plan_key = json.dumps({"source": str(source), "options": options}, sort_keys=True)
    (output / PROGRESS_DIR).mkdir(exist_ok=True)
    tally = _ShardTally(plan)
    todo = _reuse_finished_shards(plan, output, plan_key, tally)
    context = BuildContext(int(sample_rate_hz), label_length_policy, word_timing, tuple(plan.label_names), limits)
    _write_shards(todo, plan, spec.build, context, output, plan_key, tally, on_error=on_error, workers=workers,
                  progress=progress, description=f"convert {layout}")

    manifest = _manifest(spec, layout, source, options, plan, tally)
    write_manifest(output, manifest)
    shutil.rmtree(output / PROGRESS_DIR, ignore_errors=True)
    partitions = manifest["partitions"]
    return ConversionReport(
        output=str(output), layout=layout, recordings=sum(p["recordings"] for p in partitions.values()),
        partitions=partitions, skipped=tally.skipped, label_length_policy_counts=dict(tally.policy_counts),
        recordings_without_words=tally.without_words, shards_written=tally.shards_written,
        shards_reused=tally.shards_reused, audio_s=tally.audio_s, wall_s=time.perf_counter() - started,
    )


def _check_arguments(layout: str, *, on_error: str, label_length_policy: str, word_timing: str,
                     sample_rate_hz: int, target_shard_mb: float, max_duration_s: float) -> None:
    """Raise EmorecError for an argument of `convert_dataset` outside its choices or range, before
    the source or the output folder is looked at."""
    _check_choice("layout", layout, available_layouts())
    _check_choice("on_error", on_error, ON_ERROR)
    _check_choice("label_length_policy", label_length_policy, LABEL_LENGTH_POLICIES)
    _check_choice("word_timing", word_timing, WORD_TIMING_MODES)
    if int(sample_rate_hz) != SAMPLE_RATE_HZ:
        # Schema v1 stores frames of FRAME_LENGTH_SAMPLES (2205) samples: only 22.05 kHz fits it.
        raise EmorecError(f"sample_rate_hz must be {SAMPLE_RATE_HZ} for TFRecord schema v{SCHEMA_VERSION}; got {sample_rate_hz}")
    if target_shard_mb <= 0:
        raise EmorecError(f"target_shard_mb must be positive; got {target_shard_mb}")
    if not max_duration_s > 0:
        raise EmorecError(f"max_duration_s must be positive; got {max_duration_s}")


def _recorded_options(spec: Layout, source: Path, layout_options: Dict[str, Any], *, label_length_policy: str,
                      word_timing: str, sample_rate_hz: int, target_shard_mb: float, on_error: str) -> Dict[str, Any]:
    """The options a conversion is identified by (the manifest's `options`): a re-run with equal
    options, source and layout reuses the output. The layout's options are resolved with their
    defaults; `source_state`, where the layout has one, tells a changed source apart."""
    options = {
        "layout_options": spec.resolve(layout_options),
        "label_length_policy": label_length_policy,
        "word_timing": word_timing,
        "sample_rate_hz": sample_rate_hz,
        "target_shard_mb": target_shard_mb,
        "on_error": on_error,
    }
    if spec.source_state is not None:
        options["source_state"] = spec.source_state(source)
    return options


def _same_conversion(previous: Optional[Dict[str, Any]], source: Path, layout: str, options: Dict[str, Any]) -> bool:
    """Whether the manifest `previous` records a conversion of `source` as `layout`, with these
    options and this schema version."""
    return previous is not None and previous.get("source") == str(source) and previous.get("options") == options \
        and previous.get("source_layout") == layout and previous.get("schema_version") == SCHEMA_VERSION


def _make_room(output: Path, previous: Optional[Dict[str, Any]], same: bool, overwrite: bool) -> None:
    """Refuse (unless `overwrite`) an output folder holding another conversion or files no
    conversion of ours wrote; then remove the partial shards (with `overwrite`, everything of a
    conversion) and the manifest: from here on the folder must not claim to be complete."""
    if previous is not None and not same and not overwrite:
        raise DatasetError(
            f"{output}: holds a conversion of {previous.get('source')} ({previous.get('source_layout')}) with other "
            "options; pass --overwrite to replace it or choose another output folder"
        )
    if not overwrite:
        _refuse_foreign_files(output, previous)
    _clean_output(output, everything=overwrite)
    manifest_path(output).unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# Step 1, plan: which recordings go into which shard, from the listing and the audio headers.


@dataclass(frozen=True)
class PlannedShard:
    """One shard of a conversion plan: its partition, its final file name
    (`<partition>-NNNNN-of-MMMMM.tfrecord`, see `emorec.data.shards.shard_name`) and the positions
    in `ConversionPlan.items` of the recordings it holds, in writing order."""

    partition: str
    name: str
    indices: Tuple[int, ...]


@dataclass
class ConversionPlan:
    """What a conversion writes, known before any audio is decoded.

    items: the recordings whose audio passed the probe, in the layout's order; sizes_bytes
    `[items]`: the float32 audio each holds (probed duration x rate x 4 bytes), what shards are
    sized by; skipped: a `{"file", "reason"}` per file the probe refused (`on_error="skip"`);
    label_names: the layout's label dimensions for the listed items; shards: every shard to
    write, in writing order (partitions in the order their first recording is listed).
    """

    items: List[SourceItem]
    sizes_bytes: List[float]
    skipped: List[Dict[str, str]]
    label_names: List[str]
    shards: List[PlannedShard]

    @property
    def partitions(self) -> List[str]:
        """The partitions that get shards, in writing order."""
        return list(dict.fromkeys(shard.partition for shard in self.shards))

    def item_names(self, shard: PlannedShard) -> List[str]:
        """The names of the recordings `shard` holds, in writing order."""
        return [self.items[i].name for i in shard.indices]


def plan_conversion(spec: Layout, source: Path, layout_options: Dict[str, Any], limits: AudioLimits, *,
                    on_error: str = "fail", sample_rate_hz: int = SAMPLE_RATE_HZ,
                    target_shard_mb: float = DEFAULT_TARGET_SHARD_MB) -> ConversionPlan:
    """List the items of `source` (laid out as `spec`, with its resolved `layout_options`), refuse
    names that cannot name a file, probe every item's audio and plan the shards. Reads headers
    only; raises the first InputFileError with `on_error="fail"`."""
    items = spec.list_items(source, layout_options)
    _refuse_unsafe_names(items, source)
    label_names = spec.labels_for(items)
    planned, sizes_bytes, skipped = _probe_items(items, limits, on_error, sample_rate_hz)
    return ConversionPlan(planned, sizes_bytes, skipped, label_names,
                          plan_shard_files(planned, sizes_bytes, target_shard_mb))


def _probe_items(items: List[SourceItem], limits: AudioLimits, on_error: str,
                 sample_rate_hz: int) -> Tuple[List[SourceItem], List[float], List[Dict[str, str]]]:
    """The items whose audio files all pass `probe_audio`, the bytes of float32 audio each will
    hold (`[items]`), and a `{"file", "reason"}` per refused file (with `on_error="skip"`).

    probe_audio cross-checks a WAV header against the file size and applies the limits, so shards
    are planned from what the files really hold, not from what headers claim."""
    planned: List[SourceItem] = []
    sizes_bytes: List[float] = []
    skipped: List[Dict[str, str]] = []
    for item in items:
        try:
            duration_s = sum(probe_audio(path, limits=limits).duration_s for path in item.audio_files)
        except InputFileError as error:
            if on_error == "fail":
                raise
            skipped.append({"file": error.path, "reason": error.problem})
            continue
        planned.append(item)
        sizes_bytes.append(duration_s * sample_rate_hz * _BYTES_PER_SAMPLE)
    return planned, sizes_bytes, skipped


def plan_shard_files(items: Sequence[SourceItem], sizes_bytes: Sequence[float],
                     target_shard_mb: float) -> List[PlannedShard]:
    """Group `items` by partition (in the order each partition is first listed) and each
    partition's items, in order, into shards of about `target_shard_mb` (`plan_shards`). Every
    shard's name, its `-of-MMMMM` included, is fixed here, so a re-run with the same options finds
    the same shards."""
    by_partition: Dict[str, List[int]] = collections.OrderedDict()
    for index, item in enumerate(items):
        by_partition.setdefault(item.partition, []).append(index)
    shards = []
    for partition, indices in by_partition.items():
        groups = plan_shards([sizes_bytes[i] for i in indices], target_shard_mb * 1e6)
        for number, group in enumerate(groups):
            shards.append(PlannedShard(partition, shard_name(partition, number, len(groups)),
                                       tuple(indices[i] for i in group)))
    return shards


def _remove_unplanned_shards(output: Path, plan: ConversionPlan) -> None:
    """Remove shards of an earlier, differently planned run, which would sit next to ours unlisted
    (they are ours: `_make_room` refused foreign shards unless `overwrite`)."""
    planned_names = {shard.name for shard in plan.shards}
    for path in output.glob("*-of-*.tfrecord"):
        if path.name not in planned_names:
            path.unlink()


# --------------------------------------------------------------------------------------------
# Step 2, execute: reuse the shards an interrupted run finished, build and write the others.


class _ShardTally:
    """What the finished shards of a conversion hold, summed shard by shard (those reused from an
    interrupted run first, then those written, each in plan order): per-partition statistics and
    shard names, each shard's record count and SHA-256 (for `emorec info --verify`), label-length
    policy counts, recordings without words, skipped files (the probe's first) and audio seconds."""

    def __init__(self, plan: ConversionPlan):
        self.stats = {p: PartitionStats(len(plan.label_names)) for p in plan.partitions}
        self.shards: Dict[str, List[str]] = {p: [] for p in plan.partitions}
        self.shard_records: Dict[str, Optional[int]] = {}
        self.shard_sha256: Dict[str, Optional[str]] = {}
        self.policy_counts: Dict[str, int] = collections.Counter()
        self.without_words: List[str] = []
        self.skipped: List[Dict[str, str]] = list(plan.skipped)
        self.shards_written = self.shards_reused = 0
        self.audio_s = 0.0

    def add(self, shard: PlannedShard, stats: PartitionStats, record: Dict[str, Any]) -> None:
        """Count a finished shard: `stats` of its recordings, `record` its progress record (the
        `.progress/<shard>.json` that `_write_shards` saves)."""
        self.stats[shard.partition].merge(stats)
        self.policy_counts.update(record["policy_counts"])
        self.without_words.extend(record["without_words"])
        self.skipped.extend(record["skipped"])
        self.audio_s += record["stats"]["duration_s"]
        self.shards[shard.partition].append(shard.name)
        self.shard_records[shard.name], self.shard_sha256[shard.name] = record.get("records"), record.get("sha256")

    def partition_entries(self, sample_rate_hz: int) -> Dict[str, Dict[str, Any]]:
        """The manifest's `partitions`: per partition its shards (sorted), statistics, and the
        record count and SHA-256 of each shard that has them."""
        partitions = {}
        for partition, stats in self.stats.items():
            entry = stats.to_dict(sample_rate_hz)
            entry.pop("_label_sum")
            names = sorted(self.shards[partition])
            partitions[partition] = {
                "shards": names, **entry,
                "shard_records": {n: self.shard_records[n] for n in names if self.shard_records.get(n) is not None},
                "shard_sha256": {n: self.shard_sha256[n] for n in names if self.shard_sha256.get(n)}}
        return partitions


def _reuse_finished_shards(plan: ConversionPlan, output: Path, plan_key: str,
                           tally: _ShardTally) -> List[PlannedShard]:
    """Count into `tally` each shard a previous run of the same plan finished (its progress record
    names the same plan and items, and the file still has the recorded size and SHA-256); return
    the others, which are to be written."""
    todo = []
    for shard in plan.shards:
        record = _load_progress(output / PROGRESS_DIR / f"{shard.name}.json", plan_key, plan.item_names(shard))
        if record is not None and shard_matches(output / shard.name, record.get("sha256"), record.get("bytes")):
            tally.add(shard, PartitionStats.from_dict(record["stats"], len(plan.label_names)), record)
            tally.shards_reused += 1
        else:
            todo.append(shard)
    return todo


class _BuildQueue:
    """The recordings of the shards to write, built on a thread pool in writing order with a
    bounded look-ahead: at most `window` builds submitted and not yet taken, so memory stays a few
    recordings per worker."""

    def __init__(self, executor: ThreadPoolExecutor, build: Callable[..., Any], items: List[SourceItem],
                 context: BuildContext, shards: List[PlannedShard], window: int):
        self._executor, self._build, self._items, self._context = executor, build, items, context
        self._order = [i for shard in shards for i in shard.indices]
        self._window = window
        self._position = 0
        self._pending: Deque[Future] = collections.deque()
        self.refill()

    def refill(self) -> None:
        """Submit builds until `window` are pending or every recording is submitted."""
        while self._position < len(self._order) and len(self._pending) < self._window:
            item = self._items[self._order[self._position]]
            self._pending.append(self._executor.submit(_build_one, self._build, item, self._context))
            self._position += 1

    def next_result(self) -> Tuple[Any, bytes]:
        """The next recording's `(built item, serialized example)`; raises what its build raised."""
        return self._pending.popleft().result()

    def cancel_pending(self) -> None:
        for future in self._pending:
            future.cancel()


def _write_shards(todo: List[PlannedShard], plan: ConversionPlan, build: Callable[..., Any], context: BuildContext,
                  output: Path, plan_key: str, tally: _ShardTally, *, on_error: str, workers: Optional[int],
                  progress: bool, description: str) -> None:
    """Build the recordings of the `todo` shards on `workers` threads (default min(4, CPUs)) and
    write each shard as a `.partial` file renamed when complete, then its progress record
    (`.progress/<shard>.json`), from which a re-run after a failure reuses it; counted into `tally`.
    A failure aborts the shard being written."""
    workers = max(1, int(workers) if workers else min(4, os.cpu_count() or 1))
    from tqdm import tqdm

    bar = tqdm(total=sum(len(shard.indices) for shard in todo), unit="file", desc=description,
               disable=not progress, leave=False)
    writer: Optional[ShardWriter] = None
    try:
        with ThreadPoolExecutor(max_workers=workers) as executor:
            builds = _BuildQueue(executor, build, plan.items, context, todo, window=workers * 4)
            for shard in todo:
                writer = ShardWriter(output / shard.name)
                stats, contents = _fill_shard(writer, shard, plan, builds, on_error, bar)
                writer.close()
                finished, writer = writer, None
                record = {"plan_key": plan_key, "items": plan.item_names(shard),
                          "stats": stats.to_dict(context.sample_rate_hz), "records": finished.count,
                          "sha256": finished.sha256, "bytes": finished.path.stat().st_size, **contents}
                tally.add(shard, stats, record)
                tally.shards_written += 1
                _save_progress(output / PROGRESS_DIR / f"{shard.name}.json", record)
    finally:
        if writer is not None:
            writer.abort()
        bar.close()


def _fill_shard(writer: ShardWriter, shard: PlannedShard, plan: ConversionPlan, builds: _BuildQueue,
                on_error: str, bar: Any) -> Tuple[PartitionStats, Dict[str, Any]]:
    """Write the built recordings of `shard` into `writer`, in order. Returns their statistics and
    the shard's `policy_counts`, `without_words` (recording names) and `skipped` (a file a build
    refused, with `on_error="skip"`; with `fail` the pending builds are cancelled and the
    InputFileError raised)."""
    stats = PartitionStats(len(plan.label_names))
    policy_counts: Dict[str, int] = collections.Counter()
    without_words: List[str] = []
    skipped: List[Dict[str, str]] = []
    for i in shard.indices:
        try:
            built, serialized = builds.next_result()
        except InputFileError as error:
            if on_error == "fail":
                builds.cancel_pending()
                raise
            skipped.append({"file": error.path, "reason": error.problem})
        else:
            writer.write(serialized)
            stats.add(built.recording)
            policy_counts[built.label_case] += 1
            if not built.has_words:
                without_words.append(plan.items[i].name)
        bar.update(1)
        builds.refill()
    return stats, {"policy_counts": dict(policy_counts), "without_words": without_words, "skipped": skipped}


# --------------------------------------------------------------------------------------------
# Step 3, write: the manifest, last.


def _manifest(spec: Layout, layout: str, source: Path, options: Dict[str, Any], plan: ConversionPlan,
              tally: _ShardTally) -> Dict[str, Any]:
    """The content of `manifest.json` for a finished conversion (`complete: true`)."""
    sample_rate_hz = options["sample_rate_hz"]
    partitions = tally.partition_entries(sample_rate_hz)
    notes = list(spec.notes(options["layout_options"]))
    if tally.policy_counts.get("unlabelled"):
        notes.append("recordings without a label file are stored with zero labels and label_mask 0")
    skipped_files = {str(entry["file"]) for entry in tally.skipped}
    written = [item for item in plan.items if not skipped_files.intersection(map(str, item.files))]
    # Recordings joined from audio files (emodb --sessions, a last session may hold one utterance):
    # which files, in their order in the recording, so each session's utterances can be traced back.
    joined = {item.name: [_source_relative(path, source) for path in item.audio_files] for item in written
              if item.joined or len(item.audio_files) > 1}
    duration_s = {item.name: size / (sample_rate_hz * _BYTES_PER_SAMPLE)
                  for item, size in zip(plan.items, plan.sizes_bytes)}
    return {
        "schema_version": SCHEMA_VERSION,
        "sample_rate_hz": sample_rate_hz,
        "frame_rate_hz": FRAME_RATE_HZ,
        "label_names": plan.label_names,
        "derived_targets": spec.derived_targets,
        "source_layout": layout,
        "source": str(source),
        "options": options,
        "partitions": partitions,
        "skipped": tally.skipped,
        "label_length_policy_counts": dict(tally.policy_counts),
        "recordings_without_words": tally.without_words,
        "joined_recordings": joined,
        "corpora": corpus_summary(written, duration_s),
        "notes": notes,
        "complete": True,
    }


def corpus_summary(items: List[SourceItem], duration_s: Dict[str, float]) -> Dict[str, Any]:
    """Per corpus (items without one are left out): recordings, seconds (as probed) and speakers
    per partition, and recordings per category, for `emorec info` and for balancing corpora."""
    summary: Dict[str, Any] = {}
    for item in items:
        if not item.corpus:
            continue
        entry = summary.setdefault(item.corpus, {"partitions": {}, "categories": {}, "_speakers": {}})
        cell = entry["partitions"].setdefault(item.partition, {"recordings": 0, "duration_s": 0.0, "speakers": 0})
        cell["recordings"] += 1
        cell["duration_s"] += duration_s[item.name]
        entry["_speakers"].setdefault(item.partition, set()).add(item.speaker)
        if item.category:
            entry["categories"][item.category] = entry["categories"].get(item.category, 0) + 1
    for entry in summary.values():
        for partition, speakers in entry.pop("_speakers").items():
            entry["partitions"][partition]["speakers"] = len(speakers)
        entry["categories"] = dict(sorted(entry["categories"].items()))
    return dict(sorted(summary.items()))


def _source_relative(path: PathLike, source: PathLike) -> str:
    """`path` relative to the dataset folder `source` when inside it (portable), else as given."""
    try:
        return Path(path).resolve().relative_to(Path(source).resolve()).as_posix()
    except ValueError:
        return str(path)


def _load_progress(path: Path, plan_key: str, item_names: List[str]) -> Optional[Dict[str, Any]]:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if record.get("plan_key") != plan_key or record.get("items") != item_names:
        return None
    return record


def _save_progress(path: Path, record: Dict[str, Any]) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(record), encoding="utf-8")
    os.replace(temp, path)


def _report_from_manifest(manifest: Dict[str, Any], output: Path, layout: str, wall_s: float) -> ConversionReport:
    partitions = manifest["partitions"]
    return ConversionReport(
        output=str(output), layout=layout, recordings=sum(p["recordings"] for p in partitions.values()),
        partitions=partitions, skipped=manifest.get("skipped", []),
        label_length_policy_counts=manifest.get("label_length_policy_counts", {}),
        recordings_without_words=manifest.get("recordings_without_words", []),
        shards_written=0, shards_reused=sum(len(p["shards"]) for p in partitions.values()), up_to_date=True,
        audio_s=sum(p["duration_s"] for p in partitions.values()), wall_s=wall_s,
    )
