"""The serving graph refuses samples it cannot give honest outputs for: NaN or inf within a row's
length, samples far outside float PCM's [-1, 1], and an empty batch, each with an
InvalidArgumentError naming `waveform`. Before, NaN and 1e30 gave finite, plausible outputs and an
empty batch an opaque TensorList error. The ONNX export (which has no asserts) gives NaN instead."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES

LENGTH = 3 * FRAME_LENGTH_SAMPLES


def speech_rows(rows: int = 2) -> np.ndarray:
    from tests.export.conftest import speech_like

    return np.stack([speech_like(LENGTH / 22_050 + 0.01, 22_050, seed=row)[:LENGTH] for row in range(rows)])


@pytest.fixture(scope="module")
def signatures(exported):
    """The serving signatures of the session's tiny export (tests/conftest.py), LSTM of 8 units."""
    return tf.saved_model.load(str(exported)).signatures


def call(signatures, signature: str, waveform: np.ndarray, lengths):
    inputs = {"waveform": tf.constant(waveform, tf.float32), "length": tf.constant(lengths, tf.int32)}
    if signature == "serving_stream":
        rows = waveform.shape[0]
        inputs.update(lstm_state_h=tf.zeros([rows, 8]), lstm_state_c=tf.zeros([rows, 8]))
    return signatures[signature](**inputs)


@pytest.mark.parametrize("signature", ["serving_default", "serving_stream"])
@pytest.mark.parametrize("value, message", [
    (np.nan, "waveform must hold finite samples: NaN or inf found within length"),
    (np.inf, "waveform must hold finite samples: NaN or inf found within length"),
    (-np.inf, "waveform must hold finite samples: NaN or inf found within length"),
    (1e30, r"waveform samples must be float PCM in \[-1, 1\]"),
    (32767.0, r"waveform samples must be float PCM in \[-1, 1\]"),  # int16 codes sent unscaled
    (-12.0, r"waveform samples must be float PCM in \[-1, 1\]"),
], ids=["nan", "inf", "-inf", "1e30", "int16 code", "-12"])
def test_bad_samples_within_length_are_refused_naming_waveform(signatures, signature, value, message):
    waveform = speech_rows()
    waveform[1, LENGTH // 2] = value  # one sample of the second row
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(signatures, signature, waveform, [LENGTH, LENGTH])


def test_samples_past_length_are_not_looked_at(signatures):
    # Padding is zeroed by the graph: NaN there must neither be refused nor reach the outputs.
    clean = speech_rows()
    padded = clean.copy()
    padded[1, LENGTH - FRAME_LENGTH_SAMPLES:] = np.nan
    lengths = [LENGTH, LENGTH - FRAME_LENGTH_SAMPLES]
    expected = call(signatures, "serving_default", clean, lengths)
    result = call(signatures, "serving_default", padded, lengths)
    for name in ("arousal", "valence"):
        assert np.all(np.isfinite(result[name].numpy()))
        np.testing.assert_array_equal(result[name].numpy(), expected[name].numpy())


def test_float_audio_with_headroom_is_served(signatures):
    # Resampling overshoot and hot float files stay accepted (the bound is 10, +20 dB).
    waveform = speech_rows(1)
    waveform[0, 100:110] = [3.0, -9.5] * 5
    result = call(signatures, "serving_default", waveform, [LENGTH])
    assert np.all(np.isfinite(result["arousal"].numpy()))


@pytest.mark.parametrize("signature", ["serving_default", "serving_stream"])
def test_empty_batch_is_refused_naming_waveform(signatures, signature):
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"waveform must hold at least one row \(batch size 0\)"):
        call(signatures, signature, np.zeros([0, LENGTH], np.float32), np.zeros([0], np.int32))


@pytest.fixture(scope="module")
def onnx_session(tmp_path_factory, keras_model):
    pytest.importorskip("tf2onnx", reason="needs the onnx extra: pip install -e '.[onnx]'")
    ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install -e '.[onnx]'")
    from emorec.export.onnx import export_onnx

    path = export_onnx(keras_model, tmp_path_factory.mktemp("onnx") / "tiny.onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("value", [np.nan, np.inf, 1e30], ids=["nan", "inf", "1e30"])
def test_onnx_export_gives_nan_for_a_bad_row_and_the_numbers_for_the_others(onnx_session, signatures, value):
    waveform = speech_rows().astype(np.float32)
    expected = call(signatures, "serving_default", waveform, [LENGTH, LENGTH])  # before the bad sample
    waveform[0, 10] = value
    names = [output.name for output in onnx_session.get_outputs()]
    outputs = dict(zip(names, onnx_session.run(None, {"waveform": waveform,
                                                      "length": np.array([LENGTH] * 2, np.int32)})))
    for name in ("arousal", "valence"):
        assert np.all(np.isnan(outputs[name][0]))
        np.testing.assert_allclose(outputs[name][1], expected[name].numpy()[1], atol=1e-5, rtol=0)


@pytest.mark.parametrize("value, message", [
    (np.nan, "waveform must hold finite samples"),
    (1e30, r"waveform samples must be float PCM in \[-1, 1\]"),
], ids=["nan", "1e30"])
def test_the_shipped_model_refuses_bad_samples_too(value, message):
    # The shipped SavedModel is a file in the repository: it must have been exported with the checks.
    from emorec.export.predict import ExportedModel, default_model_dir

    if not default_model_dir().is_dir():
        pytest.skip(f"shipped model not found at {default_model_dir()}")
    shipped = ExportedModel(default_model_dir())
    waveform = speech_rows(1)
    waveform[0, 200] = value
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        shipped.serve(waveform=tf.constant(waveform), length=tf.constant([LENGTH]))
