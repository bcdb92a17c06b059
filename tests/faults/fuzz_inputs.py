"""Fuzz `convert` and `predict` with generated bad and odd audio files.

    PYTHONPATH=. python -m tests.faults.fuzz_inputs [--count N] [--seed S] [--json] [--keep DIR]

Generates WAV files of every sample format, rate, channel count and odd length, headers that lie
(sizes, rates, channels, widths, format tags), truncations, NaN/inf float data, random bytes
under audio names, and a few FLAC/OGG files; runs each through `emorec.data.audio.decode_audio`,
`convert_dataset` (manifest layout, one file per conversion) and `predict_file` with the shipped
default model, in-process, and classifies every outcome:

- `refused`: an EmorecError whose message is one line naming the file (what `emorec` prints
  as `error: ...` with exit status 1), and for convert no `manifest.json` left behind;
- `correct`: output that matches what was written: decoded samples within quantisation error,
  the right number of frames for the true duration, finite values;
- `crash`: any other exception (a traceback for the user);
- `silent_wrong`: success with wrong output (wrong samples, frame count or non-finite values),
  success on a file that holds no valid audio, or a refusal that does not name the file;
- `false_refusal`: a valid file refused (e.g. 32-bit PCM refused as "NaN").

Prints counts per verb and exits 1 if any crash, silent wrong output or false refusal occurred. `run_fuzz` is the
same as a function; tests/faults/test_fuzz_inputs.py runs a small seeded subset.
"""
from __future__ import annotations

import argparse
import io
import json
import math
import shutil
import sys
import tempfile
import traceback
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from tests.faults.wav_bytes import FORMATS, quantisation_step, sine, wav_bytes

TARGET_HZ = 22_050
FRAME_SAMPLES = 2_205
OUTCOMES = ("refused", "correct", "crash", "silent_wrong", "false_refusal")
#: Outcomes that fail the run.
FAILURES = ("crash", "silent_wrong", "false_refusal")


@dataclass
class Case:
    """One generated file. `signal`/`rate` are set when the file is valid audio (the truth to
    check against); `tolerance` is the decode error allowed; `valid=None` means "odd but either
    a clean refusal or a correct output is fine" (e.g. a 1-sample file)."""

    name: str
    data: bytes
    suffix: str = ".wav"
    valid: Optional[bool] = False
    signal: Optional[np.ndarray] = None  # [frames, channels] as written
    rate: int = 0
    tolerance: float = 0.0
    results: Dict[str, str] = field(default_factory=dict)
    details: Dict[str, str] = field(default_factory=dict)


def _signal(rng, num_samples: int, channels: int, rate: int, amplitude: float = 0.6) -> np.ndarray:
    columns = [sine(rate, num_samples, float(rng.uniform(80, min(3000, rate / 3))), amplitude * rng.uniform(0.3, 1))
               for _ in range(channels)]
    return np.stack(columns, axis=1)


def _valid(name, rng, kind, bits, rate, num_samples, channels, extensible=False, valid=True, amplitude=0.6):
    signal = _signal(rng, num_samples, channels, rate, amplitude)
    return Case(name, wav_bytes(signal, rate, kind, bits, extensible=extensible), valid=valid, signal=signal,
                rate=rate, tolerance=quantisation_step(kind, bits) + 1e-6)


def generate_cases(count: int, seed: int = 0) -> List[Case]:
    """About `count` cases: fixed odd/bad ones first, then random valid and broken files."""
    rng = np.random.default_rng(seed)
    cases: List[Case] = []
    # --- odd but valid lengths and layouts -------------------------------------------------------
    for n in (1, 2, 2204, 2205, 2206, 4410):
        cases.append(_valid(f"len{n}_22k", rng, "int", 16, TARGET_HZ, n, 1, valid=None if n < 3 else True))
    cases.append(_valid("len1_44k", rng, "int", 16, 44_100, 1, 1, valid=None))
    cases.append(_valid("ch8_int24", rng, "int", 24, 48_000, 4800, 8))
    cases.append(_valid("ch8_float64_ext", rng, "float", 64, 16_000, 3000, 8, extensible=True))
    cases.append(_valid("float_over_full_scale", rng, "float", 32, 16_000, 4000, 1, amplitude=3.0))
    x = _signal(rng, 2000, 1, 16_000)
    cases.append(Case("extra_odd_chunk", wav_bytes(x, 16_000, extra_chunk=b"LIST\x03\x00\x00\x00abc\x00"), valid=True,
                      signal=x, rate=16_000, tolerance=quantisation_step("int", 16) + 1e-6))
    # 12-bit PCM in 16-bit containers (left-justified, so it reads as 16-bit)
    twelve = bytearray(wav_bytes(x, 16_000, "int", 16))
    twelve[34:36] = (12).to_bytes(2, "little")
    cases.append(Case("pcm12_in_16", bytes(twelve), valid=True, signal=x, rate=16_000,
                      tolerance=quantisation_step("int", 16) + 1e-6))
    # --- rates -------------------------------------------------------------------------------
    for rate in (0, 1, 999, 384_001, 10_000_000):
        cases.append(Case(f"rate{rate}", wav_bytes(_signal(rng, 30_000, 1, 16_000), rate)))
    cases.append(_valid("rate1000", rng, "int", 16, 1000, 1000, 1))
    cases.append(_valid("rate384000", rng, "int", 16, 384_000, 3840, 1))
    # --- headers that lie or are unsupported -------------------------------------------------------
    base = _signal(rng, 3000, 2, 16_000)
    for label, overrides in {
        "data_size_x2": {"data_size": 3000 * 4 * 2}, "data_size_plus1": {"data_size": 3000 * 4 + 1},
        "data_size_ffffffff": {"data_size": 0xFFFFFFFF}, "data_size_0": {"data_size": 0},
        "block_align_wrong": {"block_align": 3}, "channels_0": {"channels": 0},
        "format_adpcm": {"format_tag": 2}, "format_mulaw": {"format_tag": 7}, "format_unknown": {"format_tag": 0x1234},
    }.items():
        cases.append(Case(label, wav_bytes(base, 16_000, **overrides)))
    bad_bits = bytearray(wav_bytes(base, 16_000))
    for bits in (0, 4, 40, 64):
        bad_bits[34:36] = bits.to_bytes(2, "little")
        cases.append(Case(f"bits{bits}", bytes(bad_bits)))
    bad_guid = bytearray(wav_bytes(base, 16_000, extensible=True))
    bad_guid[46:50] = b"XXXX"
    cases.append(Case("extensible_bad_guid", bytes(bad_guid)))
    riff = wav_bytes(base, 16_000)
    cases.append(Case("no_data_chunk", riff[:36]))
    cases.append(Case("no_fmt_chunk", riff[:12] + riff[36:]))
    cases.append(Case("data_before_fmt", riff[:12] + riff[36:] + riff[12:36]))
    cases.append(Case("rifx", b"RIFX" + riff[4:]))
    cases.append(Case("header_only", wav_bytes(np.zeros((0, 1)), 16_000)))
    cases.append(Case("fmt_size_huge", riff[:16] + (10 ** 6).to_bytes(4, "little") + riff[20:]))
    # --- NaN / inf -----------------------------------------------------------------------------
    for bits in (32, 64):
        for bad in (np.nan, np.inf, -np.inf):
            y = _signal(rng, 1000, 1, 16_000)
            y[int(rng.integers(0, 1000)), 0] = bad
            cases.append(Case(f"float{bits}_{bad}", wav_bytes(y, 16_000, "float", bits)))
    # --- random bytes and non-audio under audio names ------------------------------------------------
    for suffix in (".wav", ".flac", ".mp3", ".ogg"):
        for size in (1, 44, 4096, 60_000):
            cases.append(Case(f"random{size}", rng.bytes(size), suffix=suffix))
        cases.append(Case("text", b"this is not audio\n" * 30, suffix=suffix))
        cases.append(Case("empty", b"", suffix=suffix))
    cases.append(Case("riff_random", b"RIFF" + rng.bytes(4) + b"WAVE" + rng.bytes(2000)))
    # --- other formats through tensorflow-io ---------------------------------------------------------
    try:
        import soundfile
    except ImportError:  # pragma: no cover - soundfile comes with the audio extras
        soundfile = None
    if soundfile is not None:
        for fmt, suffix, subtype in (("FLAC", ".flac", "PCM_16"), ("FLAC", ".flac", "PCM_24"), ("OGG", ".ogg", "VORBIS")):
            y = _signal(rng, 8000, 2, 16_000)
            buffer = io.BytesIO()
            soundfile.write(buffer, y, 16_000, format=fmt, subtype=subtype)
            lossy = fmt == "OGG"  # Vorbis changes the samples: only the length and finiteness are checked
            cases.append(Case(f"{fmt.lower()}_{subtype.lower()}", buffer.getvalue(), suffix=suffix, valid=True,
                              signal=y, rate=16_000, tolerance=np.inf if lossy else quantisation_step("int", 16) + 1e-6))
            data = buffer.getvalue()
            cases.append(Case(f"{fmt.lower()}_{subtype.lower()}_truncated", data[: len(data) // 2], suffix=suffix,
                              valid=None))
    # --- random valid files and random truncations / bit flips of them ---------------------------------
    while len(cases) < count:
        kind, bits = FORMATS[int(rng.integers(len(FORMATS)))]
        rate = int(rng.choice([8000, 11_025, 16_000, 22_050, 32_000, 44_100, 48_000, 96_000]))
        channels = int(rng.choice([1, 1, 2, 2, 3, 6, 8]))
        num_samples = int(rng.integers(1, rate // 2))
        case = _valid(f"valid_{kind}{bits}_{rate}_{channels}ch_{num_samples}", rng, kind, bits, rate, num_samples,
                      channels, extensible=bool(rng.integers(2)), valid=True if num_samples > 2 * rate / TARGET_HZ else None)
        mutation = rng.integers(4)
        if mutation == 0:  # cut inside the header or the data
            cut = int(rng.integers(1, len(case.data) - 1))
            case = Case(case.name + f"_cut{cut}", case.data[:cut], valid=False)
        elif mutation == 1 and len(case.data) > 60:  # one random byte in the header replaced
            data = bytearray(case.data)
            position = int(rng.integers(4, 44))
            data[position] = int(rng.integers(256))
            # A changed byte may leave a self-consistent header (e.g. another rate): either outcome
            # is fine as long as it is clean; `valid=None` checks frames from the file's own header.
            case = Case(case.name + f"_byte{position}", bytes(data), valid=None)
        cases.append(case)
    return cases[:max(count, 1)]


# --- checks ------------------------------------------------------------------------------------------
def _expected_frames(case: Case) -> set:
    n = case.signal.shape[0] * TARGET_HZ / case.rate
    return {math.ceil(math.floor(n) / FRAME_SAMPLES), math.ceil(math.ceil(n) / FRAME_SAMPLES)}


def _refusal(error, path: Path) -> str:
    from emorec.errors import EmorecError

    if not isinstance(error, EmorecError):
        return "crash"
    message = f"error: {error}"  # what emorec.cli.main prints
    if str(path) not in message or "\n" in message.strip():
        return "silent_wrong"  # a refusal that does not name the file is no help to a user
    return "refused"


def _header_truth(path: Path):
    """For `valid=None` cases that succeeded: the rate and length the file's own header declares
    (parsed independently with the stdlib `wave` module where it can; None otherwise)."""
    import wave

    try:
        with wave.open(str(path), "rb") as handle:
            return handle.getframerate(), handle.getnframes()
    except Exception:  # noqa: BLE001 - wave refuses float/24-bit/extensible: no independent truth
        return None


def check_decode(case: Case, path: Path) -> str:
    from emorec.data.audio import decode_audio

    try:
        signal, rate = decode_audio(path)
    except Exception as error:  # noqa: BLE001 - classifying every outcome is the point
        case.details["decode"] = str(error).splitlines()[0][:200] if str(error) else type(error).__name__
        if _refusal(error, path) == "crash":
            case.details["decode"] = traceback.format_exc(limit=3)
            return "crash"
        return "false_refusal" if case.valid else _refusal(error, path)
    if not np.all(np.isfinite(signal)):
        return "silent_wrong"
    if case.valid is False:
        case.details["decode"] = f"decoded {signal.shape} at {rate} Hz from a file with no valid audio"
        return "silent_wrong"
    if case.signal is None:
        truth = _header_truth(path)
        if truth is not None and (rate, signal.shape[0]) != truth:
            case.details["decode"] = f"decoded {signal.shape[0]} at {rate} Hz, header says {truth}"
            return "silent_wrong"
        return "correct"
    if rate != case.rate or signal.shape[0] != case.signal.shape[0] or signal.shape[1] != case.signal.shape[1]:
        case.details["decode"] = f"shape {signal.shape} at {rate} Hz, wrote {case.signal.shape} at {case.rate} Hz"
        return "silent_wrong"
    error = float(np.max(np.abs(signal - case.signal)))
    if error > case.tolerance:
        case.details["decode"] = f"max error {error:.3g} > {case.tolerance:.3g}"
        return "silent_wrong"
    return "correct"


def check_predict(case: Case, path: Path, model) -> str:
    from emorec.export.predict import predict_file

    try:
        table = predict_file(path, model)
    except Exception as error:  # noqa: BLE001
        outcome = _refusal(error, path)
        case.details["predict"] = traceback.format_exc(limit=3) if outcome == "crash" else str(error)[:200]
        return "false_refusal" if case.valid and outcome == "refused" else outcome
    values = table[model.label_names].to_numpy()
    if case.valid is False or not np.all(np.isfinite(values)) or len(table) == 0:
        case.details["predict"] = f"{len(table)} frames, finite={np.all(np.isfinite(values))}"
        return "silent_wrong"
    if case.signal is not None and len(table) not in _expected_frames(case):
        case.details["predict"] = f"{len(table)} frames, expected {sorted(_expected_frames(case))}"
        return "silent_wrong"
    return "correct"


def check_convert(case: Case, path: Path, work: Path) -> str:
    import tensorflow as tf

    from emorec.data.manifest import shard_paths
    from emorec.data.schema import example_to_recording
    from tfrecords_tools import convert_dataset

    source = work / "source"
    output = work / "converted"
    for folder in (source, output):
        shutil.rmtree(folder, ignore_errors=True)
    source.mkdir(parents=True)
    shutil.copy(path, source / path.name)
    (source / "labels.csv").write_text("time_s,arousal\n0.0,0.1\n0.1,0.2\n")
    (source / "manifest.csv").write_text(f"audio,labels,partition\n{path.name},labels.csv,train\n")
    try:
        convert_dataset("manifest", source / "manifest.csv", output, progress=False, workers=1)
    except Exception as error:  # noqa: BLE001
        outcome = _refusal(error, source / path.name)
        case.details["convert"] = traceback.format_exc(limit=3) if outcome == "crash" else str(error)[:200]
        if (output / "manifest.json").exists():
            return "silent_wrong"  # a complete-looking folder after a failure
        return "false_refusal" if case.valid and outcome == "refused" else outcome
    recordings = [example_to_recording(r.numpy()) for p in shard_paths(output, "train")
                  for r in tf.data.TFRecordDataset(str(p))]
    if case.valid is False or len(recordings) != 1:
        case.details["convert"] = f"{len(recordings)} recordings from a file with no valid audio"
        return "silent_wrong"
    recording = recordings[0]
    if not np.all(np.isfinite(recording.audio)):
        return "silent_wrong"
    if case.signal is not None:
        n = case.signal.shape[0] * TARGET_HZ / case.rate
        if not math.floor(n) - 1 <= recording.num_samples <= math.ceil(n) + 1 \
                or recording.num_frames not in _expected_frames(case):
            case.details["convert"] = f"{recording.num_samples} samples / {recording.num_frames} frames, expected {n:.1f}"
            return "silent_wrong"
    return "correct"


def run_fuzz(count: int = 300, seed: int = 0, verbs=("decode", "convert", "predict"), keep: Optional[Path] = None,
             model_dir=None) -> Dict:
    """Generate `count` cases, run them through `verbs`, return the summary dict."""
    import logging

    logging.getLogger("tfrecords_tools").setLevel(logging.ERROR)
    cases = generate_cases(count, seed)
    work = Path(keep) if keep else Path(tempfile.mkdtemp(prefix="emorec-fuzz-"))
    files = work / "files"
    files.mkdir(parents=True, exist_ok=True)
    model = None
    if "predict" in verbs:
        from emorec.export.predict import ExportedModel, default_model_dir

        model = ExportedModel(model_dir or default_model_dir())
    try:
        for index, case in enumerate(cases):
            path = files / f"{index:04d}_{case.name}{case.suffix}"
            path.write_bytes(case.data)
            if "decode" in verbs:
                case.results["decode"] = check_decode(case, path)
            if "convert" in verbs:
                case.results["convert"] = check_convert(case, path, work / "convert")
            if "predict" in verbs:
                case.results["predict"] = check_predict(case, path, model)
    finally:
        if keep is None:
            shutil.rmtree(work, ignore_errors=True)
    counts = {verb: dict(Counter(case.results[verb] for case in cases)) for verb in verbs}
    for verb in verbs:
        for outcome in OUTCOMES:
            counts[verb].setdefault(outcome, 0)
    problems = [{"case": case.name, "suffix": case.suffix, "verb": verb, "outcome": outcome,
                 "detail": case.details.get(verb, "")}
                for case in cases for verb, outcome in case.results.items() if outcome in FAILURES]
    return {"cases": len(cases), "seed": seed, "counts": counts,
            "crashes": sum(c["crash"] for c in counts.values()),
            "silent_wrong": sum(c["silent_wrong"] for c in counts.values()),
            "false_refusals": sum(c["false_refusal"] for c in counts.values()), "problems": problems}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=300, help="number of generated files")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbs", default="decode,convert,predict", help="comma-separated subset")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--keep", type=Path, default=None, help="keep the generated files in this folder")
    args = parser.parse_args(argv)
    summary = run_fuzz(args.count, args.seed, tuple(args.verbs.split(",")), args.keep)
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"{summary['cases']} files, seed {summary['seed']}")
        for verb, counts in summary["counts"].items():
            print(f"  {verb:8s} " + "  ".join(f"{outcome} {counts[outcome]}" for outcome in OUTCOMES))
        for problem in summary["problems"]:
            print(f"  {problem['outcome']}: {problem['verb']} {problem['case']}{problem['suffix']}: "
                  f"{problem['detail'].strip().splitlines()[-1] if problem['detail'].strip() else ''}")
    return 1 if summary["crashes"] or summary["silent_wrong"] or summary["false_refusals"] else 0


if __name__ == "__main__":
    sys.exit(main())
