"""The serving contract without a server: saved_model_cli, REST JSON bodies, gRPC PredictRequest."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from scipy.io import wavfile

from emorec.export.predict import predict_file
from emorec.export.serving import predict_request, rest_request, rest_request_tensors, signature_inputs

from .conftest import LABEL_NAMES, speech_like


@pytest.mark.e2e
def test_saved_model_cli_run_matches_predict(tmp_path, exported, loaded):
    from emorec.data.audio import load_audio

    wav = tmp_path / "speech.wav"
    wavfile.write(wav, 16_000, (speech_like(2.34, 16_000, seed=4) * 32767).astype(np.int16))
    table = predict_file(wav, loaded)
    waveform = load_audio(wav)  # the client-side decoding/resampling predict uses
    np.save(tmp_path / "waveform.npy", waveform[None])
    np.save(tmp_path / "length.npy", np.array([len(waveform)], np.int32))
    tool = Path(sys.executable).parent / "saved_model_cli"
    assert tool.is_file(), f"{tool} missing"
    result = subprocess.run(
        [str(tool), "run", "--dir", str(exported), "--tag_set", "serve", "--signature_def", "serving_default",
         "--inputs", f"waveform={tmp_path / 'waveform.npy'};length={tmp_path / 'length.npy'}",
         "--outdir", str(tmp_path / "out"), "--overwrite"],
        capture_output=True, text=True, env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"), timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    num_frames = int(np.load(tmp_path / "out" / "num_frames.npy")[0])
    assert num_frames == len(table)
    for name in LABEL_NAMES:
        np.testing.assert_allclose(np.load(tmp_path / "out" / f"{name}.npy")[0, :num_frames], table[name],
                                   atol=1e-5, rtol=0)


def waveforms_of_unequal_length():
    return [speech_like(1.0, 22_050, seed=1), speech_like(0.43, 22_050, seed=2)]


@pytest.mark.parametrize("form", ["instances", "inputs"])
def test_rest_json_request_from_signature(form, exported, loaded):
    waveforms = waveforms_of_unequal_length()
    body = json.loads(json.dumps(rest_request(waveforms, exported, form=form)))  # over the wire
    assert body["signature_name"] == "serving_default"
    if form == "instances":
        assert len(body["instances"]) == 2 and set(body["instances"][0]) == {"waveform", "length"}
        assert body["instances"][1]["length"] == len(waveforms[1])
    else:
        assert body["inputs"]["length"] == [len(w) for w in waveforms]
    served = loaded.serve(**rest_request_tensors(body, exported))
    for row, waveform in enumerate(waveforms):
        alone = loaded.predict_waveform(waveform, chunk_s=None)
        frames = int(served["num_frames"][row])
        assert frames == len(alone["arousal"])
        for name in LABEL_NAMES:
            np.testing.assert_allclose(served[name].numpy()[row, :frames], alone[name], atol=1e-5, rtol=0)


def test_grpc_predict_request_from_signature(exported, loaded):
    pytest.importorskip("tensorflow_serving.apis.predict_pb2",
                        reason="needs tensorflow-serving-api (pip install --no-deps 'tensorflow-serving-api==2.17.*')")
    waveforms = waveforms_of_unequal_length()
    request = predict_request(waveforms, exported, model_name="tiny", version=1)
    request = type(request).FromString(request.SerializeToString())  # over the wire
    assert request.model_spec.name == "tiny" and request.model_spec.signature_name == "serving_default"
    assert request.model_spec.version.value == 1
    specs = signature_inputs(exported)
    assert set(request.inputs) == set(specs)
    inputs = {key: tf.constant(tf.make_ndarray(request.inputs[key])) for key in request.inputs}
    for key, spec in specs.items():
        assert inputs[key].dtype == spec.dtype
    served = loaded.serve(**inputs)
    alone = loaded.predict_waveform(waveforms[1], chunk_s=None)
    np.testing.assert_allclose(served["valence"].numpy()[1, : len(alone["valence"])], alone["valence"], atol=1e-5)
