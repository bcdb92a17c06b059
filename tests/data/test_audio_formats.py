"""Every WAV sample format decodes to what was written; lying headers and absurd rates are refused
before decoding."""
from __future__ import annotations

import time

import numpy as np
import pytest

from emorec.data.audio import AudioLimits, decode_audio, load_audio, probe_audio
from emorec.errors import InputFileError
from tests.faults.wav_bytes import FORMATS, quantisation_step, sine, wav_bytes


@pytest.mark.parametrize("extensible", [False, True], ids=["plain", "extensible"])
@pytest.mark.parametrize("kind, bits", FORMATS, ids=[f"{k}{b}" for k, b in FORMATS])
def test_every_sample_format_decodes_to_the_written_sine(tmp_path, kind, bits, extensible):
    rate = 16_000
    written = np.stack([sine(rate, 1601, 440.0, 0.7), sine(rate, 1601, 1000.0, -0.4)], axis=1)
    path = tmp_path / f"{kind}{bits}.wav"
    path.write_bytes(wav_bytes(written, rate, kind, bits, extensible=extensible))
    signal, got_rate = decode_audio(path)
    assert got_rate == rate and signal.dtype == np.float32 and signal.shape == (1601, 2)
    # Within one quantisation step (plus float32 rounding): a 32-bit int read as float bits, or
    # a 24-bit file read as 16-bit, is off by orders of magnitude more.
    assert np.max(np.abs(signal - written)) <= quantisation_step(kind, bits) + 1e-6
    info = probe_audio(path)
    assert (info.sample_rate_hz, info.num_samples, info.num_channels) == (rate, 1601, 2)


def test_int32_and_int16_files_of_one_sine_load_alike(tmp_path):
    x = sine(22_050, 22_050, 300.0, 0.8)
    (tmp_path / "a.wav").write_bytes(wav_bytes(x, 22_050, "int", 32))
    (tmp_path / "b.wav").write_bytes(wav_bytes(x, 22_050, "int", 16))
    a, b = load_audio(tmp_path / "a.wav"), load_audio(tmp_path / "b.wav")
    assert np.max(np.abs(a - b)) < 1e-4 and np.max(np.abs(a)) > 0.79


def _refused(path, *parts, limits=None):
    with pytest.raises(InputFileError) as info:
        load_audio(path, limits=limits)
    message = str(info.value)
    assert message.startswith(str(path)) and "\n" not in message
    for part in parts:
        assert part in message, message
    return message


def test_header_claiming_more_samples_than_the_file_holds_is_refused(tmp_path):
    path = tmp_path / "liar.wav"
    data = wav_bytes(sine(16_000, 1000), 16_000, data_size=2000 * 2)
    path.write_bytes(data)
    _refused(path, "claims 2000 samples", "holds 1000")
    with pytest.raises(InputFileError, match="claims"):
        probe_audio(path)  # the converter plans shards from probe: it must see the real size


def test_truncated_file_is_refused_not_decoded_short(tmp_path):
    path = tmp_path / "cut.wav"
    data = wav_bytes(sine(16_000, 16_000), 16_000, "int", 24)
    path.write_bytes(data[: len(data) // 2])
    _refused(path, "truncated")


@pytest.mark.parametrize("overrides, problem", [
    ({"format_tag": 7}, "not supported"),                 # mu-law
    ({"block_align": 3}, "block align"),
    ({"channels": 0}, "0 channels"),
])
def test_unreadable_headers_are_refused(tmp_path, overrides, problem):
    path = tmp_path / "bad.wav"
    path.write_bytes(wav_bytes(sine(16_000, 100), 16_000, **overrides))
    _refused(path, problem)


def test_nan_in_a_float_wav_is_refused(tmp_path):
    x = sine(16_000, 100)
    x[50] = np.nan
    path = tmp_path / "nan.wav"
    path.write_bytes(wav_bytes(x, 16_000, "float", 32))
    _refused(path, "NaN")


def test_one_hz_header_is_refused_fast_with_the_flag_to_override(tmp_path):
    path = tmp_path / "one_hz.wav"
    path.write_bytes(wav_bytes(sine(16_000, 30_000), 1))  # 60 KB; 8.3 h at the claimed rate
    started = time.perf_counter()
    _refused(path, "1 Hz", "--allow-sample-rate")
    assert time.perf_counter() - started < 0.5
    # Allowing the rate still leaves the duration cap: 8.3 h > 4 h.
    _refused(path, "--max-duration-s", limits=AudioLimits(allow_any_sample_rate=True))


def test_duration_cap_is_configurable(tmp_path):
    path = tmp_path / "two_s.wav"
    path.write_bytes(wav_bytes(sine(16_000, 32_000), 16_000))
    _refused(path, "2 s of audio", "--max-duration-s", limits=AudioLimits(max_duration_s=1.5))
    assert len(load_audio(path, 16_000, limits=AudioLimits(max_duration_s=2.5))) == 32_000


def test_out_of_range_rate_loads_when_allowed(tmp_path):
    path = tmp_path / "rate_500.wav"
    path.write_bytes(wav_bytes(sine(500, 500, 50.0), 500))
    _refused(path, "500 Hz")
    assert len(load_audio(path, 22_050, limits=AudioLimits(allow_any_sample_rate=True))) == 22_050
