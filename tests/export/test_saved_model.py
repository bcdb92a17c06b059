"""SavedModel export: layout, signatures, equality with the Keras model, core ops only, streaming."""
from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.errors import ExportError
from emorec.export.saved_model import (
    export_saved_model,
    list_graph_ops,
    non_core_ops,
    read_metadata,
)

from .conftest import LABEL_NAMES, speech_like


def keras_reference(keras_model, waveform: np.ndarray) -> dict:
    """The Keras model on one waveform, framed in numpy (independent of the graph's framing)."""
    frames = math.ceil(len(waveform) / FRAME_LENGTH_SAMPLES)
    padded = np.zeros(frames * FRAME_LENGTH_SAMPLES, np.float32)
    padded[: len(waveform)] = waveform
    outputs = keras_model({"audio": padded.reshape(1, frames, FRAME_LENGTH_SAMPLES)}, training=False)
    return {name: np.asarray(outputs[name])[0] for name in LABEL_NAMES}


@pytest.mark.slow
def test_layout_versions_and_metadata(tmp_path, keras_model):
    first = export_saved_model(keras_model, tmp_path / "tiny", check_ops=False)
    second = export_saved_model(keras_model, tmp_path / "tiny", check_ops=False)
    assert (first.name, second.name) == ("1", "2")
    for version in (first, second):
        assert (version / "saved_model.pb").is_file()
        assert (version / "variables" / "variables.index").is_file()
    assert read_metadata(second)["label_names"] == list(LABEL_NAMES)
    with pytest.raises(ExportError, match="exists already"):
        export_saved_model(keras_model, tmp_path / "tiny", version=2, check_ops=False)
    # Nothing half-written left behind by the failed call: only the two versions.
    assert sorted(p.name for p in (tmp_path / "tiny").iterdir()) == ["1", "2"]


def test_reload_equals_keras_model_on_unequal_batch(exported, keras_model):
    rng = np.random.default_rng(1)
    lengths = [3 * FRAME_LENGTH_SAMPLES + 700, 8 * FRAME_LENGTH_SAMPLES, 1]
    waveforms = [speech_like(n / 22050, 22050, seed=i)[:n] if n > 1 else rng.uniform(-1, 1, 1).astype(np.float32)
                 for i, n in enumerate(lengths)]
    # Rows padded with garbage past their length: the graph must ignore it.
    batch = rng.uniform(-1, 1, (3, max(lengths) + 500)).astype(np.float32)
    for row, waveform in enumerate(waveforms):
        batch[row, : len(waveform)] = waveform
    serve = tf.saved_model.load(str(exported)).signatures["serving_default"]
    result = serve(waveform=tf.constant(batch), length=tf.constant(lengths, tf.int32))

    expected_frames = [math.ceil(n / FRAME_LENGTH_SAMPLES) for n in lengths]
    np.testing.assert_array_equal(result["num_frames"].numpy(), expected_frames)
    assert result["arousal"].shape == (3, max(expected_frames))
    np.testing.assert_array_equal(result["frame_mask"].numpy().sum(axis=1), expected_frames)
    np.testing.assert_allclose(result["frame_times_s"].numpy()[0], np.arange(max(expected_frames)) * 0.1, atol=1e-6)
    for row, waveform in enumerate(waveforms):
        reference = keras_reference(keras_model, waveform)
        for name in LABEL_NAMES:
            served = result[name].numpy()[row, : expected_frames[row]]
            assert np.std(reference[name]) > 1e-4 or expected_frames[row] == 1  # outputs really vary
            np.testing.assert_allclose(served, reference[name], atol=1e-5, rtol=0)


def test_graph_holds_only_core_tensorflow_ops(exported, tmp_path):
    ops = list_graph_ops(exported)
    # The listing reaches into the function library, where the model's ops live.
    assert {"Conv2D", "MatMul", "While", "Reshape"} <= ops, sorted(ops)
    assert not [op for op in ops if "Cudnn" in op]  # portable to CPU-only servers

    # Negative control: a graph with a tensorflow-io op, checked in the same (slow) registry call.
    import tensorflow_io as tfio

    class Decoder(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([], tf.string)])
        def decode(self, contents):
            return tfio.audio.decode_wav(contents, dtype=tf.int16)

    module = Decoder()
    tf.saved_model.save(module, str(tmp_path), signatures={"serving_default": module.decode.get_concrete_function()})
    control_ops = list_graph_ops(tmp_path)
    custom = non_core_ops(ops | control_ops)
    assert custom, "the tfio op of the control graph was not flagged"
    assert all(op.startswith("IO>") and op in control_ops for op in custom), custom


def test_streamed_chunks_equal_one_call(loaded):
    waveform = speech_like(4.27, 22050, seed=3)
    whole = loaded.predict_waveform(waveform, chunk_s=None)
    for chunk_s in (0.3, 1.0, 10.0):
        chunked = loaded.predict_waveform(waveform, chunk_s=chunk_s)
        assert len(chunked["arousal"]) == math.ceil(len(waveform) / FRAME_LENGTH_SAMPLES)
        for name in LABEL_NAMES:
            np.testing.assert_allclose(chunked[name], whole[name], atol=1e-4, rtol=0)
    # The stream really carries state: restarting the LSTM at each chunk gives other numbers.
    stream = loaded.stream
    zeros = tf.zeros([1, loaded.lstm_units])
    second_chunk = waveform[10 * FRAME_LENGTH_SAMPLES: 20 * FRAME_LENGTH_SAMPLES]
    fresh = stream(waveform=second_chunk[None], length=tf.constant([len(second_chunk)]),
                   lstm_state_h=zeros, lstm_state_c=zeros)["arousal"].numpy()[0]
    assert np.max(np.abs(fresh - whole["arousal"][10:20])) > 1e-4


@pytest.mark.slow
def test_export_from_run_folder(tmp_path, keras_model):
    run_dir = tmp_path / "run"
    (run_dir / "checkpoints").mkdir(parents=True)
    keras_model.save(run_dir / "checkpoints" / "best.keras")
    version = export_saved_model(run_dir, tmp_path / "from_run", version=3, check_ops=False)
    assert version.name == "3"
    waveform = speech_like(1.0, 22050)
    served = tf.saved_model.load(str(version)).signatures["serving_default"](
        waveform=waveform[None], length=tf.constant([len(waveform)]))
    np.testing.assert_allclose(served["valence"].numpy()[0], keras_reference(keras_model, waveform)["valence"],
                               atol=1e-5, rtol=0)


@pytest.mark.slow
def test_model_without_lstm_exports_without_stream_signature(tmp_path):
    """A model the streaming split does not fit still serves; predict then makes one call."""
    import keras

    from emorec.export.predict import ExportedModel

    keras.utils.set_random_seed(1)
    audio = keras.Input((None, FRAME_LENGTH_SAMPLES), name="audio")
    hidden = keras.layers.Dense(4, activation="tanh")(audio)
    outputs = {name: keras.layers.Reshape((-1,), name=name)(keras.layers.Dense(1)(hidden)) for name in LABEL_NAMES}
    model = keras.Model({"audio": audio}, outputs)
    version = export_saved_model(model, tmp_path / "dense", check_ops=False)
    exported = ExportedModel(version.parent)
    assert exported.stream is None
    waveform = speech_like(0.5, 22050)
    np.testing.assert_allclose(exported.predict_waveform(waveform)["arousal"],
                               keras_reference(model, waveform)["arousal"], atol=1e-5)


def test_export_traces_lstm_without_cudnn_and_restores_the_setting(keras_model):
    from emorec.export.graph_ops import portable_recurrent_layers

    lstm = keras_model.get_layer("lstm")
    before = lstm.use_cudnn
    with portable_recurrent_layers(keras_model):
        assert lstm.use_cudnn is False
    assert lstm.use_cudnn == before
