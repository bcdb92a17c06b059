"""WAV chunk layouts the reader must not misread: a second data chunk, and a missing pad byte.

The files are put together chunk by chunk here, so that a chunk can be left unpadded on purpose.
"""
from __future__ import annotations

import struct

import numpy as np
import pytest

from emorec.data.audio import decode_audio, probe_audio
from emorec.errors import InputFileError

FMT_16 = struct.pack("<HHIIHH", 1, 1, 16_000, 32_000, 2, 16)  # PCM, mono, 16 kHz, 16 bits
FMT_8 = struct.pack("<HHIIHH", 1, 1, 16_000, 16_000, 1, 8)  # PCM, mono, 16 kHz, 8 bits (unsigned)
SAMPLES = struct.pack("<4h", 0, 16384, -16384, 8192)  # 0, 0.5, -0.5, 0.25 of full scale


def chunk(chunk_id: bytes, body: bytes, pad: bool = True) -> bytes:
    return chunk_id + struct.pack("<I", len(body)) + body + (b"\x00" if pad and len(body) % 2 else b"")


def riff(*chunks: bytes) -> bytes:
    body = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(body)) + body


def refusal(path, read) -> str:
    with pytest.raises(InputFileError) as caught:
        read(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: ") and "\n" not in message, message
    return message


@pytest.mark.parametrize("read", [decode_audio, probe_audio])
@pytest.mark.parametrize("between", [b"", chunk(b"LIST", b"INFOabc")], ids=["adjacent", "list_between"])
def test_a_second_data_chunk_is_refused_naming_the_file(tmp_path, read, between):
    path = tmp_path / "two_data.wav"
    path.write_bytes(riff(chunk(b"fmt ", FMT_16), chunk(b"data", SAMPLES), between, chunk(b"data", SAMPLES)))
    assert "second data chunk" in refusal(path, read)


@pytest.mark.parametrize("read", [decode_audio, probe_audio])
def test_an_odd_chunk_without_its_pad_byte_is_named_not_the_garbage_after_it(tmp_path, read):
    path = tmp_path / "unpadded.wav"
    path.write_bytes(riff(chunk(b"fmt ", FMT_16), chunk(b"LIST", b"INFOabc", pad=False), chunk(b"data", SAMPLES)))
    message = refusal(path, read)
    assert "'LIST' has an odd size (7 bytes) and no pad byte" in message, message
    assert "claims" not in message and "b'ata" not in message, message


def test_an_odd_data_chunk_followed_by_a_chunk_without_its_pad_byte_is_refused(tmp_path):
    path = tmp_path / "unpadded_data.wav"
    path.write_bytes(riff(chunk(b"fmt ", FMT_8), chunk(b"data", bytes([128, 192, 64]), pad=False),
                          chunk(b"data", bytes([128, 128]))))
    assert "'data' has an odd size (3 bytes) and no pad byte" in refusal(path, decode_audio)


def test_an_odd_data_chunk_that_ends_the_file_unpadded_is_read_whole(tmp_path):
    """Writers often leave out the last pad byte; every sample is still there, so it is read."""
    path = tmp_path / "last_unpadded.wav"
    path.write_bytes(riff(chunk(b"fmt ", FMT_8), chunk(b"data", bytes([128, 192, 64]), pad=False)))
    signal, rate = decode_audio(path)
    assert rate == 16_000
    np.testing.assert_array_equal(signal[:, 0], [0.0, 0.5, -0.5])


@pytest.mark.parametrize("tail", [chunk(b"LIST", b"INFOabc"), b"\x01\x02\x03\xff\xfe", b"JUNK\xff\xff\xff\x7f"],
                         ids=["list", "junk", "chunk_past_the_end"])
def test_chunks_or_junk_after_the_one_data_chunk_still_read(tmp_path, tail):
    path = tmp_path / "tail.wav"
    path.write_bytes(riff(chunk(b"fmt ", FMT_16), chunk(b"data", SAMPLES)) + tail)
    signal, _ = decode_audio(path)
    np.testing.assert_array_equal(signal[:, 0], [0.0, 0.5, -0.5, 0.25])
