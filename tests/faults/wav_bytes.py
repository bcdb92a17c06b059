"""Hand-built WAV files of every sample format, for the audio tests and the fuzz script.

Written byte by byte with `struct` so that the tests do not depend on the decoder under test
(nor on scipy's writer, which has no 24-bit support) and so that headers can lie on purpose.
"""
from __future__ import annotations

import struct
from typing import Optional

import numpy as np

#: (kind, bits) of every sample format a WAV reader must handle.
FORMATS = (("int", 8), ("int", 16), ("int", 24), ("int", 32), ("float", 32), ("float", 64))

_EXTENSIBLE_TAIL = b"\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"


def sine(rate_hz: int, num_samples: int, frequency_hz: float = 440.0, amplitude: float = 0.5) -> np.ndarray:
    return (amplitude * np.sin(2 * np.pi * frequency_hz * np.arange(num_samples) / rate_hz)).astype(np.float64)


def encode_samples(signal: np.ndarray, kind: str, bits: int) -> bytes:
    """float `[frames]` or `[frames, channels]` in [-1, 1] -> interleaved little-endian sample bytes."""
    x = np.asarray(signal, dtype=np.float64)
    if kind == "float":
        return x.astype("<f4" if bits == 32 else "<f8").tobytes()
    # Full scale is 2^(bits-1), the convention of every reader (and of ours): the largest code
    # is one step below +1.0.
    full = 2 ** (bits - 1)
    values = np.clip(np.round(x * full), -full, full - 1).astype(np.int64)
    if bits == 8:  # 8-bit WAV is unsigned, centred on 128
        return (values + 128).astype(np.uint8).tobytes()
    if bits == 16:
        return values.astype("<i2").tobytes()
    if bits == 32:
        return values.astype("<i4").tobytes()
    # 24 bits: the low three bytes of each little-endian int32
    return values.astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()


def quantisation_step(kind: str, bits: int) -> float:
    """Largest decode error expected for a format, in full-scale units."""
    if kind == "float":
        return 1e-7 if bits == 32 else 1e-12
    return 0.5 / 2 ** (bits - 1)  # half a step: rounding to the nearest code


def wav_bytes(signal: np.ndarray, rate_hz: int, kind: str = "int", bits: int = 16, *, extensible: bool = False,
              channels: Optional[int] = None, data_size: Optional[int] = None, block_align: Optional[int] = None,
              format_tag: Optional[int] = None, extra_chunk: bytes = b"") -> bytes:
    """A complete WAV file. Keyword overrides write a header that lies (for the fault tests)."""
    signal = np.asarray(signal)
    true_channels = 1 if signal.ndim == 1 else signal.shape[1]
    channels = true_channels if channels is None else channels
    data = encode_samples(signal, kind, bits)
    tag = format_tag if format_tag is not None else (1 if kind == "int" else 3)
    align = block_align if block_align is not None else channels * bits // 8
    byte_rate = (rate_hz * align) & 0xFFFFFFFF
    if extensible:
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, channels, rate_hz, byte_rate, align, bits, 22, bits, 0)
        fmt += struct.pack("<H", tag) + _EXTENSIBLE_TAIL
    else:
        fmt = struct.pack("<HHIIHH", tag, channels, rate_hz, byte_rate, align, bits)
    size = len(data) if data_size is None else data_size
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + extra_chunk
    body += b"data" + struct.pack("<I", size & 0xFFFFFFFF) + data
    if len(data) % 2:
        body += b"\x00"
    return b"RIFF" + struct.pack("<I", len(body) & 0xFFFFFFFF) + body
