"""Audio in: decode, mix to mono, resample, float32 in [-1, 1].

This is the one place where audio files are read and resampled, for the converter, `emorec
predict` and the semantic branch alike.

WAV files are parsed here (`_read_wav_header`), not by tensorflow-io: tfio 0.37 read 32-bit
integer PCM as float32 bit patterns (near-silence, or a false "NaN" error) and trusted the
header's sample count and rate. Our parser reads integer PCM of 8 (unsigned), 16, 24 and 32 bits
and IEEE float of 32 and 64 bits, plain or WAVE_FORMAT_EXTENSIBLE, and checks the header against
the file size before a sample is read. Other formats (FLAC, MP3, OGG) still go through tfio.

Sanity limits (`AudioLimits`), checked from the header before decoding so that a corrupt header
is refused in milliseconds: sample rate within 1 kHz to 384 kHz (a 60 KB file whose header says
1 Hz would otherwise resample to 8 h of audio), and a duration cap per file (4 h by default).
Both are overridable (`--allow-sample-rate`, `--max-duration-s`).

Resampler choice (measured, see tests/data/test_audio.py): soxr at "HQ"
quality. tfio.audio.resample took 151 ms (44.1 kHz) and 691 ms (48 kHz) for 60 s of audio and
delays its output by ~32 samples; soxr HQ takes 5-9 ms for the same and reaches 133/77 dB SNR on
a sine with no delay (soxr compensates its filter delay), so frames stay aligned with labels.
"""
from __future__ import annotations

import os
import struct
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np
import soxr

from emorec.constants import SAMPLE_RATE_HZ
from emorec.errors import InputFileError, PathLike

#: soxr quality preset (see module docstring for why).
RESAMPLE_QUALITY = "HQ"

#: tfio's AudioIOTensor is not thread-safe: decoding files on several threads at once swapped
#: their samples (measured: 15 of 200 EmoDB files came back with another file's length). Every
#: tfio call holds this lock; decoding is ~0.5 ms per file, resampling still runs in parallel.
_TFIO_LOCK = threading.Lock()

_INT_SCALE = {"int16": 32768.0, "int32": 2147483648.0, "uint8": 128.0}

#: Rates outside this range are almost always a corrupt header (telephone audio is 8 kHz, studio
#: audio at most 384 kHz); `allow_any_sample_rate` lifts the check.
MIN_SAMPLE_RATE_HZ = 1_000
MAX_SAMPLE_RATE_HZ = 384_000
#: Default duration cap per file: longer than any session of SEWA/RECOLA (minutes) with a wide
#: margin, short enough that one file's float32 samples (4 h at 48 kHz stereo = 5.5 GB) fit in RAM.
DEFAULT_MAX_DURATION_S = 4 * 3600.0

#: CLI flag names, quoted in the refusals so that a user knows how to override them.
SAMPLE_RATE_FLAG = "--allow-sample-rate"
DURATION_FLAG = "--max-duration-s"

_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_IEEE_FLOAT = 0x0003
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE
#: The 14 bytes after the format tag in every KSDATAFORMAT_SUBTYPE_* GUID of WAVE_FORMAT_EXTENSIBLE.
_KSDATAFORMAT_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


@dataclass(frozen=True)
class AudioLimits:
    """Sanity limits checked from the header before decoding.

    Args:
        max_duration_s: longest file accepted, in seconds (`--max-duration-s`).
        allow_any_sample_rate: accept rates outside 1 kHz to 384 kHz (`--allow-sample-rate`).
    """

    max_duration_s: float = DEFAULT_MAX_DURATION_S
    allow_any_sample_rate: bool = False

    def __post_init__(self):
        if not self.max_duration_s > 0:  # also refuses NaN
            raise ValueError(f"max_duration_s must be positive, got {self.max_duration_s}")


DEFAULT_LIMITS = AudioLimits()


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says, without decoding the samples (for WAV, cross-checked against
    the file size, so `num_samples` is what the file really holds)."""

    path: str
    sample_rate_hz: int
    num_samples: int
    num_channels: int

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz


def check_limits(path: PathLike, sample_rate_hz: int, num_samples: int,
                 limits: Optional[AudioLimits] = None) -> None:
    """Raise InputFileError (naming the file and the flag to override) if the rate or duration is
    outside `limits`. Used on headers before decoding and on in-memory arrays."""
    limits = limits or DEFAULT_LIMITS
    if sample_rate_hz <= 0:
        raise InputFileError(path, f"sample rate {sample_rate_hz} Hz is not positive (corrupt header?)")
    if not limits.allow_any_sample_rate and not MIN_SAMPLE_RATE_HZ <= sample_rate_hz <= MAX_SAMPLE_RATE_HZ:
        raise InputFileError(path, f"sample rate {sample_rate_hz} Hz is outside {MIN_SAMPLE_RATE_HZ}-"
                                   f"{MAX_SAMPLE_RATE_HZ} Hz (corrupt header?); pass {SAMPLE_RATE_FLAG} "
                                   "(allow_any_sample_rate=True) if it is real")
    duration_s = num_samples / sample_rate_hz
    if duration_s > limits.max_duration_s:
        raise InputFileError(path, f"{duration_s:.0f} s of audio is over the {limits.max_duration_s:.0f} s limit "
                                   f"per file; pass {DURATION_FLAG} (max_duration_s=) to raise it or split the file")


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "audio file does not exist")
    if not path.is_file():
        raise InputFileError(path, "audio path is not a file")
    if not os.access(path, os.R_OK):
        raise InputFileError(path, "audio file is not readable (permission denied)")
    if path.stat().st_size == 0:
        raise InputFileError(path, "audio file is empty (0 bytes)")


# --- WAV ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _WavLayout:
    """Where a WAV file's samples are and how to read them."""

    sample_rate_hz: int
    num_channels: int
    kind: str  # "int" (8-bit unsigned, else signed) or "float"
    bytes_per_sample: int
    data_offset: int
    num_frames: int


def _is_riff_wave(path: Path) -> bool:
    with open(path, "rb") as handle:
        head = handle.read(12)
    return head[:4] in (b"RIFF", b"RIFX", b"RF64") and head[8:12] == b"WAVE"


def _is_chunk_id(raw: bytes) -> bool:
    """RIFF chunk ids are four printable ASCII characters (`fmt `, `data`, `LIST`)."""
    return len(raw) == 4 and all(0x20 <= byte <= 0x7E for byte in raw)


def _wav_chunks(handle, path: Path):
    """(id, body offset, size) of each chunk after the RIFF header, in file order, to the end.

    A chunk of odd size is followed by a pad byte. Where a writer left it out, the next header is
    read one byte late, as garbage; that is refused naming the odd chunk, not the garbage. An odd
    chunk that ends the file (typically `data`) needs no pad byte to be read whole, so it passes.
    """
    position, previous = 12, None
    while True:
        handle.seek(position)
        head = handle.read(8)
        if len(head) < 8:
            return
        if previous is not None and previous[1] % 2 and not _is_chunk_id(head[:4]):
            handle.seek(position - 1)
            if _is_chunk_id(handle.read(4)):
                raise InputFileError(path, f"WAV chunk {previous[0].decode('latin-1')!r} has an odd size "
                                           f"({previous[1]} bytes) and no pad byte after it (RIFF pads chunks to "
                                           "even sizes): the file is corrupt; re-export it")
        chunk_id, size = head[:4], struct.unpack("<I", head[4:])[0]
        yield chunk_id, position + 8, size
        previous = (chunk_id, size)
        position += 8 + size + (size & 1)


def _read_wav_header(path: Path) -> _WavLayout:
    """Parse a RIFF/WAVE header and check it against the file size; raise InputFileError naming
    the problem for anything we would otherwise decode wrongly.

    Chunks after the data chunk are read too: a second data chunk is refused, since reading only
    the first would drop its samples without a word. Bytes after the data chunk that are not a
    chunk (a truncated tag, junk) end the scan without an error: the samples are complete.
    """
    file_size = path.stat().st_size
    with open(path, "rb") as handle:
        head = handle.read(12)
        if head[:4] != b"RIFF":
            # RIFX is big-endian WAV, RF64 the >4 GB variant: both rare, neither read here.
            raise InputFileError(path, f"{head[:4].decode('latin-1')} WAV is not supported; "
                                       "convert it to a plain little-endian RIFF WAV (e.g. sox in.wav out.wav)")
        fmt, layout = None, None
        for chunk_id, body_offset, chunk_size in _wav_chunks(handle, path):
            if layout is not None:
                if chunk_id == b"data":
                    raise InputFileError(path, f"WAV has a second data chunk (at byte {body_offset - 8}): only "
                                               "one is read, so samples would be lost; re-export the audio as one")
                if not _is_chunk_id(chunk_id):
                    break
            elif chunk_id == b"fmt ":
                if chunk_size < 16 or body_offset + chunk_size > file_size:
                    raise InputFileError(path, f"WAV fmt chunk of {chunk_size} bytes is malformed or truncated")
                fmt = handle.read(min(chunk_size, 40))
            elif chunk_id == b"data":
                if fmt is None:
                    raise InputFileError(path, "WAV data chunk comes before its fmt chunk (malformed header)")
                layout = _wav_layout(path, fmt, body_offset, chunk_size, file_size)
            elif body_offset + chunk_size > file_size:
                raise InputFileError(path, f"WAV chunk {chunk_id!r} claims {chunk_size} bytes past the end of "
                                           "the file (truncated or corrupt)")
    if layout is None:
        raise InputFileError(path, f"WAV has no {'fmt' if fmt is None else 'data'} chunk (truncated or not a WAV file)")
    return layout


def _wav_layout(path: Path, fmt: bytes, data_offset: int, data_size: int, file_size: int) -> _WavLayout:
    format_tag, channels, rate, _, block_align, bits = struct.unpack("<HHIIHH", fmt[:16])
    if format_tag == _WAVE_FORMAT_EXTENSIBLE:
        if len(fmt) < 40:
            raise InputFileError(path, "WAVE_FORMAT_EXTENSIBLE header is too short (malformed fmt chunk)")
        subformat = fmt[24:40]
        if subformat[2:] != _KSDATAFORMAT_TAIL:
            raise InputFileError(path, "WAVE_FORMAT_EXTENSIBLE with an unknown sub-format; convert it to PCM")
        format_tag = struct.unpack("<H", subformat[:2])[0]
    if format_tag == _WAVE_FORMAT_PCM:
        kind, widths = "int", (8, 16, 24, 32)
    elif format_tag == _WAVE_FORMAT_IEEE_FLOAT:
        kind, widths = "float", (32, 64)
    else:
        raise InputFileError(path, f"WAV format tag {format_tag:#06x} (compressed: A-law, mu-law, ADPCM, ...) is "
                                   "not supported; convert it to PCM (e.g. sox in.wav -e signed -b 16 out.wav)")
    if channels == 0:
        raise InputFileError(path, "WAV header says 0 channels (corrupt header)")
    # Samples sit in whole-byte containers; e.g. 20-bit PCM is stored left-justified in 24 bits,
    # so reading the container is right. block_align must agree, or every sample would be misread.
    container_bits = (bits + 7) // 8 * 8
    if container_bits not in widths or bits == 0:
        raise InputFileError(path, f"WAV {'integer PCM' if kind == 'int' else 'float'} of {bits} bits per sample is "
                                   f"not supported (expected {', '.join(map(str, widths))})")
    bytes_per_sample = container_bits // 8
    if block_align != channels * bytes_per_sample:
        raise InputFileError(path, f"WAV block align {block_align} does not match {channels} channel(s) of "
                                   f"{bits}-bit samples (corrupt header)")
    available = file_size - data_offset
    if data_size > available:
        # Also a streaming writer's placeholder size (0xFFFFFFFF): we refuse rather than guess.
        raise InputFileError(path, f"WAV header claims {data_size // block_align} samples ({data_size} bytes) but the "
                                   f"file holds {max(available, 0) // block_align} (truncated or corrupt); "
                                   "re-export the file")
    if data_size % block_align:
        raise InputFileError(path, f"WAV data of {data_size} bytes is not a whole number of {block_align}-byte "
                                   "sample frames (truncated or corrupt); re-export the file")
    return _WavLayout(int(rate), int(channels), kind, bytes_per_sample, data_offset, data_size // block_align)


def _read_wav_samples(path: Path, layout: _WavLayout) -> np.ndarray:
    """`[frames, channels]` float32 in [-1, 1) for integer PCM, as stored for float WAVs."""
    count = layout.num_frames * layout.num_channels
    with open(path, "rb") as handle:
        handle.seek(layout.data_offset)
        raw = handle.read(count * layout.bytes_per_sample)
    if len(raw) != count * layout.bytes_per_sample:  # the file shrank since the header was read
        raise InputFileError(path, "WAV file ended before its data chunk did (truncated)")
    width = layout.bytes_per_sample
    if layout.kind == "float":
        samples = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8").astype(np.float32)
    elif width == 1:
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:
        # No numpy dtype for 24 bits: place the 3 little-endian bytes in the top of an int32 (sign
        # extension for free), then scale by 2^31 like 32-bit PCM.
        triples = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3)
        wide = np.zeros((triples.shape[0], 4), dtype=np.uint8)
        wide[:, 1:] = triples
        samples = wide.view("<i4").reshape(-1).astype(np.float32) / 2147483648.0
    else:
        dtype = "<i2" if width == 2 else "<i4"
        samples = np.frombuffer(raw, dtype=dtype).astype(np.float32) / (32768.0 if width == 2 else 2147483648.0)
    return samples.reshape(layout.num_frames, layout.num_channels)


# --- other formats (tensorflow-io) -----------------------------------------------------------------
def _open_tfio(path: Path, read_samples: bool, limits: AudioLimits):
    """Header (rate, [samples, channels]) and, if asked, the samples, all under one lock hold."""
    import tensorflow_io as tfio  # imported lazily: it is slow to load and only needed here

    samples = None
    try:
        with _TFIO_LOCK:
            tensor = tfio.audio.AudioIOTensor(str(path))
            rate = int(tensor.rate.numpy())
            shape = [int(v) for v in tensor.shape.numpy()]
            if len(shape) == 2 and shape[0] > 0 and rate > 0:
                check_limits(path, rate, shape[0], limits)  # before decoding: a bad header costs nothing
                if read_samples:
                    samples = tensor.to_tensor().numpy()
    except InputFileError:
        raise
    except Exception as error:  # tfio raises InvalidArgument/Unimplemented/... with long messages
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputFileError(path, f"cannot decode audio ({first_line[:160]})") from None
    if len(shape) != 2 or rate <= 0:
        raise InputFileError(path, f"cannot decode audio (shape {shape}, rate {rate})")
    if shape[0] == 0:
        raise InputFileError(path, "audio has zero samples")
    return rate, shape, samples


def _checked_wav_layout(path: Path, limits: AudioLimits):
    """A WAV file's header, refused when it holds no samples or lies outside `limits`."""
    layout = _read_wav_header(path)
    if layout.num_frames == 0:
        raise InputFileError(path, "audio has zero samples")
    check_limits(path, layout.sample_rate_hz, layout.num_frames, limits)
    return layout


def probe_audio(path: PathLike, *, limits: Optional[AudioLimits] = None) -> AudioInfo:
    """Read the header: sample rate, length and channels, checked against `limits`.

    For WAV, the length is cross-checked against the file size (a header claiming more samples
    than the file holds is refused). Raises InputFileError if unreadable or outside the limits.
    """
    path = Path(path)
    _check_file(path)
    limits = limits or DEFAULT_LIMITS
    if _is_riff_wave(path):
        layout = _checked_wav_layout(path, limits)
        return AudioInfo(str(path), layout.sample_rate_hz, layout.num_frames, layout.num_channels)
    rate, shape, _ = _open_tfio(path, False, limits)
    return AudioInfo(str(path), rate, shape[0], shape[1])


def decode_audio(path: PathLike, *, limits: Optional[AudioLimits] = None) -> tuple:
    """Decode a file to float32 `[samples, channels]` in [-1, 1] and its sample rate in Hz.

    Raises InputFileError for a missing, empty, corrupt, truncated or non-audio file, NaN or
    infinite samples, and a rate or duration outside `limits` (checked before decoding).
    """
    path = Path(path)
    _check_file(path)
    limits = limits or DEFAULT_LIMITS
    if _is_riff_wave(path):
        layout = _checked_wav_layout(path, limits)
        signal, rate = _read_wav_samples(path, layout), layout.sample_rate_hz
    else:
        rate, _, samples = _open_tfio(path, True, limits)
        if samples is None or samples.size == 0:
            raise InputFileError(path, "audio has zero samples")
        dtype = samples.dtype.name
        if dtype in _INT_SCALE:
            signal = samples.astype(np.float32)
            if dtype == "uint8":
                signal -= 128.0
            signal /= _INT_SCALE[dtype]
        else:
            signal = samples.astype(np.float32, copy=False)
    if not np.all(np.isfinite(signal)):
        raise InputFileError(path, "audio contains NaN or infinite samples")
    return signal, rate


def to_mono(signal: np.ndarray) -> np.ndarray:
    """`[samples, channels]` or `[samples]` -> `[samples]`, the mean over channels."""
    if signal.ndim == 1:
        return signal
    if signal.shape[1] == 1:
        return signal[:, 0]
    return signal.mean(axis=1, dtype=np.float32)


def resample(signal: np.ndarray, from_hz: int, to_hz: int) -> np.ndarray:
    """Resample a mono float signal `[samples]` from `from_hz` to `to_hz` (soxr HQ, no delay).

    Output length is round(len * to_hz / from_hz).
    """
    signal = np.ascontiguousarray(signal, dtype=np.float32)
    if int(from_hz) == int(to_hz):
        return signal
    if from_hz <= 0 or to_hz <= 0:
        raise ValueError(f"sample rates must be positive, got {from_hz} -> {to_hz}")
    return soxr.resample(signal, int(from_hz), int(to_hz), quality=RESAMPLE_QUALITY).astype(np.float32, copy=False)


def load_audio(path: PathLike, sample_rate_hz: int = SAMPLE_RATE_HZ, *,
               limits: Optional[AudioLimits] = None) -> np.ndarray:
    """Decode, mix to mono and resample one file.

    Returns float32 `[samples]` at `sample_rate_hz`, clipped to [-1, 1] (resampling can
    overshoot full-scale input by a fraction of a percent; float WAVs beyond full scale are
    clipped too).
    Raises InputFileError for a missing, empty, unreadable, corrupt or non-audio file, or one
    outside `limits` (sample rate, duration; see `AudioLimits`).
    """
    signal, rate = decode_audio(path, limits=limits)
    mono = resample(to_mono(signal), rate, sample_rate_hz)
    if mono.size == 0:
        raise InputFileError(path, "audio has zero samples after resampling")
    np.clip(mono, -1.0, 1.0, out=mono)
    return mono
