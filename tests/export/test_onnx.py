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
        np.testing.assert_allclose(outputs["frame_times_s"][row, :frames], expected["time_s"], atol=1e-6)
        for name in LABEL_NAMES:
            assert np.std(expected[name]) > 1e-4
            np.testing.assert_allclose(outputs[name][row, :frames], expected[name], atol=1e-5, rtol=0)
