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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Optional

from emorec.constants import FRAME_RATE_HZ, SAMPLE_RATE_HZ, SCHEMA_VERSION
from emorec.data.audio import DEFAULT_MAX_DURATION_S, AudioLimits, probe_audio
from emorec.data.locking import output_lock
from emorec.data.manifest import load_manifest_unchecked, manifest_path, write_manifest
from emorec.data.schema import recording_name_problem, recording_to_example
from emorec.data.shards import PARTIAL_SUFFIX, ShardWriter, shard_name
from emorec.data.verify import shard_matches
from emorec.errors import DatasetError, EmorecError, InputFileError, OutputExistsError, PathLike
from tfrecords_tools.labels import LABEL_LENGTH_POLICIES
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
    limits = AudioLimits(float(max_duration_s), bool(allow_any_sample_rate))
    if word_timing == "pocketsphinx":
        require_pocketsphinx()
    source = Path(source).resolve()
    output = Path(output)
    if not source.exists():
        raise DatasetError(f"{source}: source dataset does not exist")
    spec = get_layout(layout)
    resolved_layout_options = spec.resolve(layout_options)
    options = {
        "layout_options": resolved_layout_options,
        "label_length_policy": label_length_policy,
        "word_timing": word_timing,
        "sample_rate_hz": int(sample_rate_hz),
        "target_shard_mb": float(target_shard_mb),
        "on_error": on_error,
    }
    if spec.source_state is not None:
        options["source_state"] = spec.source_state(source)

    # --- What is in the output folder already? -------------------------------------------------
    if output.exists() and not output.is_dir():
        raise DatasetError(f"{output}: exists and is not a folder")
    output.mkdir(parents=True, exist_ok=True)
    previous = load_manifest_unchecked(output)
    same = previous is not None and previous.get("source") == str(source) and previous.get("options") == options \
        and previous.get("source_layout") == layout and previous.get("schema_version") == SCHEMA_VERSION
    if previous is not None and previous.get("complete") is True and same and not overwrite \
            and _finished_shards_intact(output, previous):
        return _report_from_manifest(previous, output, layout, time.perf_counter() - started)
    if previous is not None and not same and not overwrite:
        raise DatasetError(
            f"{output}: holds a conversion of {previous.get('source')} ({previous.get('source_layout')}) with other "
            "options; pass --overwrite to replace it or choose another output folder"
        )
    if not overwrite:
        _refuse_foreign_files(output, previous)
    _clean_output(output, everything=overwrite)
    # From here on the folder must not claim to be complete.
    manifest_path(output).unlink(missing_ok=True)

    # --- List and probe ------------------------------------------------------------------------
    items = spec.list_items(source, resolved_layout_options)
    _refuse_unsafe_names(items, source)
    label_names = spec.labels_for(items)
    context = BuildContext(int(sample_rate_hz), label_length_policy, word_timing, tuple(label_names), limits)
    skipped: List[Dict[str, str]] = []
    planned: List[SourceItem] = []
    sizes: List[float] = []
    for item in items:
        try:
            # probe_audio cross-checks a WAV header against the file size and applies the limits,
            # so shards are planned from what the files really hold, not from what headers claim.
            duration_s = sum(probe_audio(path, limits=limits).duration_s for path in item.audio_files)
        except InputFileError as error:
            if on_error == "fail":
                raise
            skipped.append({"file": error.path, "reason": error.problem})
            continue
        planned.append(item)
        sizes.append(duration_s * sample_rate_hz * _BYTES_PER_SAMPLE)

    by_partition: Dict[str, List[int]] = collections.OrderedDict()
    for index, item in enumerate(planned):
        by_partition.setdefault(item.partition, []).append(index)
    shard_plan = []  # (partition, shard file name, [item indices])
    for partition, indices in by_partition.items():
        groups = plan_shards([sizes[i] for i in indices], target_shard_mb * 1e6)
        for number, group in enumerate(groups):
            shard_plan.append((partition, shard_name(partition, number, len(groups)), [indices[i] for i in group]))

    # Shards of an earlier, differently planned run would sit next to ours unlisted: remove them
    # (they are ours: foreign shards were refused above unless --overwrite).
    planned_names = {name for _, name, _ in shard_plan}
    for path in output.glob("*-of-*.tfrecord"):
        if path.name not in planned_names:
            path.unlink()

    # --- Convert -------------------------------------------------------------------------------
    progress_dir = output / PROGRESS_DIR
    progress_dir.mkdir(exist_ok=True)
    plan_key = json.dumps({"source": str(source), "options": options}, sort_keys=True)
    stats = {p: PartitionStats(len(label_names)) for p in by_partition}
    shards: Dict[str, List[str]] = {p: [] for p in by_partition}
    shard_records: Dict[str, Optional[int]] = {}  # per shard, for `emorec info --verify`
    shard_sha256: Dict[str, Optional[str]] = {}
    policy_counts: Dict[str, int] = collections.Counter()
    without_words: List[str] = []
    shards_written = shards_reused = 0
    audio_s = 0.0

    todo = []
    for partition, name, indices in shard_plan:
        record = _load_progress(progress_dir / f"{name}.json", plan_key, [planned[i].name for i in indices])
        if record is not None and shard_matches(output / name, record.get("sha256"), record.get("bytes")):
            stats[partition].merge(PartitionStats.from_dict(record["stats"], len(label_names)))
            policy_counts.update(record["policy_counts"])
            without_words.extend(record["without_words"])
            skipped.extend(record["skipped"])
            audio_s += record["stats"]["duration_s"]
            shards[partition].append(name)
            shard_records[name], shard_sha256[name] = record.get("records"), record.get("sha256")
            shards_reused += 1
        else:
            todo.append((partition, name, indices))

    total_items = sum(len(indices) for _, _, indices in todo)
    workers = max(1, int(workers) if workers else min(4, os.cpu_count() or 1))
    from tqdm import tqdm

    bar = tqdm(total=total_items, unit="file", desc=f"convert {layout}", disable=not progress, leave=False)
    writer: Optional[ShardWriter] = None
    try:
        with ThreadPoolExecutor(max_workers=workers) as executor:
            queue = collections.deque()
            flat = [(shard_index, i) for shard_index, (_, _, indices) in enumerate(todo) for i in indices]
            position = 0
            window = workers * 4  # bounded look-ahead: memory stays a few recordings per worker

            def refill():
                nonlocal position
                while position < len(flat) and len(queue) < window:
                    shard_index, i = flat[position]
                    queue.append((shard_index, i, executor.submit(_build_one, spec.build, planned[i], context)))
                    position += 1

            refill()
            for shard_index, (partition, name, indices) in enumerate(todo):
                writer = ShardWriter(output / name)
                shard_stats = PartitionStats(len(label_names))
                shard_counts: Dict[str, int] = collections.Counter()
                shard_without_words: List[str] = []
                shard_skipped: List[Dict[str, str]] = []
                for _ in indices:
                    _, i, future = queue.popleft()
                    item = planned[i]
                    try:
                        built, serialized = future.result()
                    except InputFileError as error:
                        if on_error == "fail":
                            for _, _, pending in queue:
                                pending.cancel()
                            raise
                        shard_skipped.append({"file": error.path, "reason": error.problem})
                        bar.update(1)
                        refill()
                        continue
                    writer.write(serialized)
                    shard_stats.add(built.recording)
                    shard_counts[built.label_case] += 1
                    if not built.has_words:
                        shard_without_words.append(item.name)
                    bar.update(1)
                    refill()
                writer.close()
                finished, writer = writer, None
                shards_written += 1
                shards[partition].append(name)
                shard_records[name], shard_sha256[name] = finished.count, finished.sha256
                stats[partition].merge(shard_stats)
                policy_counts.update(shard_counts)
                without_words.extend(shard_without_words)
                skipped.extend(shard_skipped)
                shard_dict = shard_stats.to_dict(sample_rate_hz)
                audio_s += shard_dict["duration_s"]
                _save_progress(progress_dir / f"{name}.json", {
                    "plan_key": plan_key, "items": [planned[i].name for i in indices], "stats": shard_dict,
                    "records": finished.count, "sha256": finished.sha256, "bytes": finished.path.stat().st_size,
                    "policy_counts": dict(shard_counts), "without_words": shard_without_words, "skipped": shard_skipped,
                })
    finally:
        if writer is not None:
            writer.abort()
        bar.close()

    # --- Manifest, last --------------------------------------------------------------------------
    partitions = {}
    for partition in by_partition:
        entry = stats[partition].to_dict(sample_rate_hz)
        entry.pop("_label_sum")
        names = sorted(shards[partition])
        partitions[partition] = {"shards": names, **entry,
                                 "shard_records": {n: shard_records[n] for n in names if shard_records.get(n) is not None},
                                 "shard_sha256": {n: shard_sha256[n] for n in names if shard_sha256.get(n)}}
    derived = spec.derived_targets
    notes = list(spec.notes(resolved_layout_options))
    if policy_counts.get("unlabelled"):
        notes.append("recordings without a label file are stored with zero labels and label_mask 0")
    # Recordings joined from audio files (emodb --sessions, a last session may hold one utterance):
    # which files, in their order in the recording, so each session's utterances can be traced back.
    skipped_files = {str(entry["file"]) for entry in skipped}
    joined = {item.name: [_source_relative(path, source) for path in item.audio_files] for item in planned
              if (item.joined or len(item.audio_files) > 1) and not skipped_files.intersection(map(str, item.files))}
    manifest = {
        "schema_version": SCHEMA_VERSION,
        "sample_rate_hz": int(sample_rate_hz),
        "frame_rate_hz": FRAME_RATE_HZ,
        "label_names": label_names,
        "derived_targets": derived,
        "source_layout": layout,
        "source": str(source),
        "options": options,
        "partitions": partitions,
        "skipped": skipped,
        "label_length_policy_counts": dict(policy_counts),
        "recordings_without_words": without_words,
        "joined_recordings": joined,
        "corpora": corpus_summary([item for item in planned if not skipped_files.intersection(map(str, item.files))],
                                  {item.name: size / (sample_rate_hz * _BYTES_PER_SAMPLE)
                                   for item, size in zip(planned, sizes)}),
        "notes": notes,
        "complete": True,
    }
    write_manifest(output, manifest)
    shutil.rmtree(progress_dir, ignore_errors=True)
    wall_s = time.perf_counter() - started
    return ConversionReport(
        output=str(output), layout=layout, recordings=sum(p["recordings"] for p in partitions.values()),
        partitions=partitions, skipped=skipped, label_length_policy_counts=dict(policy_counts),
        recordings_without_words=without_words, shards_written=shards_written, shards_reused=shards_reused,
        audio_s=audio_s, wall_s=wall_s,
    )


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
