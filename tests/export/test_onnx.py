"""ONNX export through tf2onnx, run by onnxruntime, against `emorec predict`'s numbers."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.export.predict import predict_array

from .conftest import LABEL_NAMES, speech_like

pytest.importorskip("tf2onnx", reason="needs the onnx extra: pip install -e '.[onnx]'")
ort = pytest.importorskip("onnxruntime", reason="needs the onnx extra: pip install -e '.[onnx]'")


def test_onnxruntime_matches_predict(tmp_path, keras_model, loaded):
    from emorec.export.onnx import export_onnx

    path = export_onnx(keras_model, tmp_path / "onnx")
    assert path == tmp_path / "onnx" / "model.onnx"
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert [i.name for i in session.get_inputs()] == ["waveform", "length"]
    assert set(LABEL_NAMES) <= {o.name for o in session.get_outputs()}

    waveforms = [speech_like(1.63, 22_050, seed=7), speech_like(0.52, 22_050, seed=8)]
    batch = np.zeros((2, len(waveforms[0])), np.float32)
    batch[1, : len(waveforms[1])] = waveforms[1]
    batch[0] = waveforms[0]
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"waveform": batch,
                                                 "length": np.array([len(w) for w in waveforms], np.int32)})))
    for row, waveform in enumerate(waveforms):
        expected = predict_array(waveform, 22_050, loaded, chunk_s=0.5)
        frames = int(outputs["num_frames"][row])
        assert frames == len(expected)
        np.testing.assert_allclose(outputs["frame_times_s"][row, :frames], expected.index.get_level_values("start").total_seconds(), atol=1e-6)
        for name in LABEL_NAMES:
            assert np.std(expected[name]) > 1e-4
            np.testing.assert_allclose(outputs[name][row, :frames], expected[name], atol=1e-5, rtol=0)


@pytest.mark.slow
def test_onnx_file_describes_itself(tmp_path, keras_model):
    """A user with only onnxruntime reads the rates, label names and dimension names from the file."""
    import json
    from importlib import metadata

    import onnx

    from emorec import constants
    from emorec.export.onnx import export_onnx

    path = export_onnx(keras_model, tmp_path / "described.onnx")
    model = onnx.load(str(path))
    props = {prop.key: prop.value for prop in model.metadata_props}
    # Expected values come from the data contract and the installed distribution, not from onnx.py.
    assert props["sample_rate_hz"] == str(constants.SAMPLE_RATE_HZ) == "22050"
    assert props["frame_length_samples"] == str(constants.FRAME_LENGTH_SAMPLES) == "2205"
    assert props["frame_rate_hz"] == str(constants.FRAME_RATE_HZ) == "10"
    assert json.loads(props["label_names"]) == list(LABEL_NAMES)
    assert props["emorec_version"] == metadata.version("emorec")
    assert len(model.metadata_props) == len(props)  # no key written twice

    def dims(values):
        return {v.name: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim] for v in values}

    assert dims(model.graph.input) == {"waveform": ["batch", "samples"], "length": ["batch"]}
    outputs = dims(model.graph.output)
    assert outputs.pop("num_frames") == ["batch"]
    assert outputs == {name: ["batch", "frames"] for name in [*LABEL_NAMES, "frame_times_s", "frame_mask"]}
    onnx.checker.check_model(model)

    # The renamed file still runs, and its outputs follow the named dimensions.
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["frame_rate_hz"] == "10"
    # Exactly 7 whole frames, so the expected count does not depend on how a partial frame is counted.
    frames = 7
    waveform = speech_like(1.0, constants.SAMPLE_RATE_HZ, seed=3)[None, : frames * constants.FRAME_LENGTH_SAMPLES]
    names = [o.name for o in session.get_outputs()]
    lengths = np.array([waveform.shape[1]], np.int32)
    outputs = dict(zip(names, session.run(None, {"waveform": waveform, "length": lengths})))
    assert outputs["arousal"].shape == (1, frames) and int(outputs["num_frames"][0]) == frames


@pytest.mark.slow
def test_conv2d_layout_converts_and_matches_its_keras_model(tmp_path):
    """The height-1 Conv2D / MaxPool layout (what `conv_layout: auto` runs under bfloat16) is core
    ops that tf2onnx converts: onnxruntime gives the Keras model's numbers."""
    from emorec.constants import FRAME_LENGTH_SAMPLES
    from emorec.export.onnx import export_onnx

    from .conftest import tiny_model

    model = tiny_model(seed=3, conv_layout="conv2d")
    path = export_onnx(model, tmp_path / "conv2d.onnx")
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    waveform = speech_like(0.8, 22_050, seed=9)[: 7 * FRAME_LENGTH_SAMPLES]  # whole frames: no framing question
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"waveform": waveform[None],
                                                 "length": np.array([len(waveform)], np.int32)})))
    expected = model({"audio": waveform.reshape(1, 7, FRAME_LENGTH_SAMPLES)}, training=False)
    for name in LABEL_NAMES:
        assert np.std(np.asarray(expected[name])) > 1e-4
        np.testing.assert_allclose(outputs[name][0, :7], np.asarray(expected[name])[0], atol=1e-5, rtol=0)


def test_a_bfloat16_model_exports_and_computes_in_float32(tmp_path, keras_model, loaded):
    """`--precision auto` trains in mixed_bfloat16 on CPUs with bfloat16 arithmetic; tf2onnx has no
    bfloat16, so the export computes in float32 and then equals the float32 model of its weights."""
    from emorec.export.graph_ops import float32_model
    from emorec.export.onnx import export_onnx

    from .conftest import bf16_copy

    bf16_model = bf16_copy(keras_model)
    assert bf16_model.get_layer("paralinguistic_cnn").compute_dtype == "bfloat16"
    assert float32_model(keras_model) is keras_model  # a float32 model is exported as it is

    session = ort.InferenceSession(str(export_onnx(bf16_model, tmp_path / "bf16.onnx")),
                                   providers=["CPUExecutionProvider"])
    waveform = speech_like(1.2, 22_050, seed=9)
    names = [o.name for o in session.get_outputs()]
    outputs = dict(zip(names, session.run(None, {"waveform": waveform[None], "length": np.array([len(waveform)], np.int32)})))
    expected = predict_array(waveform, 22_050, loaded, chunk_s=0.5)  # the float32 model's export
    for name in LABEL_NAMES:
        np.testing.assert_allclose(outputs[name][0, : len(expected)], expected[name], atol=1e-5, rtol=0)
