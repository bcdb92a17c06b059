"""Audio in: decode with tensorflow-io, mix to mono, resample, float32 in [-1, 1].

This is the one place where audio files are read and resampled, for the converter, `emorec
predict` and the semantic branch alike.

Resampler choice (measured, see tests/data/test_audio.py): soxr at "HQ"
quality. tfio.audio.resample took 151 ms (44.1 kHz) and 691 ms (48 kHz) for 60 s of audio and
delays its output by ~32 samples; soxr HQ takes 5-9 ms for the same and reaches 133/77 dB SNR on
a sine with no delay (soxr compensates its filter delay), so frames stay aligned with labels.
"""
from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

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


@dataclass(frozen=True)
class AudioInfo:
    """What the file header says, without decoding the samples."""

    path: str
    sample_rate_hz: int
    num_samples: int
    num_channels: int

    @property
    def duration_s(self) -> float:
        return self.num_samples / self.sample_rate_hz


def _check_file(path: Path) -> None:
    if not path.exists():
        raise InputFileError(path, "audio file does not exist")
    if not path.is_file():
        raise InputFileError(path, "audio path is not a file")
    if not os.access(path, os.R_OK):
        raise InputFileError(path, "audio file is not readable (permission denied)")
    if path.stat().st_size == 0:
        raise InputFileError(path, "audio file is empty (0 bytes)")


def _open(path: Path, read_samples: bool):
    """Header (rate, [samples, channels]) and, if asked, the samples, all under one lock hold."""
    import tensorflow_io as tfio  # imported lazily: it is slow to load and only needed here

    samples = None
    try:
        with _TFIO_LOCK:
            tensor = tfio.audio.AudioIOTensor(str(path))
            rate = int(tensor.rate.numpy())
            shape = [int(v) for v in tensor.shape.numpy()]
            if read_samples and len(shape) == 2 and shape[0] > 0:
                samples = tensor.to_tensor().numpy()
    except Exception as error:  # tfio raises InvalidArgument/Unimplemented/... with long messages
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise InputFileError(path, f"cannot decode audio ({first_line[:160]})") from None
    if len(shape) != 2 or rate <= 0:
        raise InputFileError(path, f"cannot decode audio (shape {shape}, rate {rate})")
    if shape[0] == 0:
        raise InputFileError(path, "audio has zero samples")
    return rate, shape, samples


def probe_audio(path: PathLike) -> AudioInfo:
    """Read the header: sample rate, length and channels. Raises InputFileError if unreadable."""
    path = Path(path)
    _check_file(path)
    rate, shape, _ = _open(path, read_samples=False)
    return AudioInfo(str(path), rate, shape[0], shape[1])


def decode_audio(path: PathLike) -> tuple:
    """Decode a file to float32 `[samples, channels]` in [-1, 1] and its sample rate in Hz."""
    path = Path(path)
    _check_file(path)
    rate, _, samples = _open(path, read_samples=True)
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


def load_audio(path: PathLike, sample_rate_hz: int = SAMPLE_RATE_HZ) -> np.ndarray:
    """Decode, mix to mono and resample one file.

    Returns float32 `[samples]` at `sample_rate_hz`, clipped to [-1, 1] (resampling can
    overshoot full-scale input by a fraction of a percent).
    Raises InputFileError for a missing, empty, unreadable, corrupt or non-audio file.
    """
    signal, rate = decode_audio(path)
    mono = resample(to_mono(signal), rate, sample_rate_hz)
    if mono.size == 0:
        raise InputFileError(path, "audio has zero samples after resampling")
    np.clip(mono, -1.0, 1.0, out=mono)
    return mono
