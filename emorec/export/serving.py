"""Requests for TensorFlow Serving, built from an exported model's signature.

TF Serving's REST API (`POST /v1/models/NAME:predict`) takes JSON in the row form
(`{"signature_name": ..., "instances": [{"waveform": [...], "length": n}, ...]}`) or the columnar
form (`{"signature_name": ..., "inputs": {"waveform": [[...], ...], "length": [...]}}`); its gRPC
API takes a `tensorflow_serving.apis.predict_pb2.PredictRequest`. The builders here read input
names and dtypes from the SavedModel's signature_def, pad a list of waveforms of unequal length
into one batch and pass the real lengths in `length`.

gRPC needs `tensorflow-serving-api` (extra `serving`), installed with `--no-deps` because it
depends on the full `tensorflow` wheel: `pip install --no-deps "tensorflow-serving-api==2.17.*"`.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Dict, Optional, Sequence

import numpy as np
import tensorflow as tf

from emorec.errors import InputFileError, PathLike
from emorec.export.saved_model import resolve_version_dir
from emorec.export.serving_module import DEFAULT_SIGNATURE


def signature_inputs(model_dir: PathLike, signature_name: str = DEFAULT_SIGNATURE) -> Dict[str, tf.TensorSpec]:
    """{input key: TensorSpec} of one signature, read from saved_model.pb without loading it."""
    from tensorflow.core.protobuf import saved_model_pb2

    version_dir = resolve_version_dir(model_dir)
    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(version_dir) / "saved_model.pb").read_bytes())
    signatures = proto.meta_graphs[0].signature_def
    if signature_name not in signatures:
        raise InputFileError(version_dir, f"no signature {signature_name!r} (has: {', '.join(sorted(signatures))})")
    return {
        key: tf.TensorSpec(tf.TensorShape(info.tensor_shape), tf.dtypes.as_dtype(info.dtype), name=key)
        for key, info in signatures[signature_name].inputs.items()
    }


def batch_waveforms(waveforms: Sequence[np.ndarray], specs: Dict[str, tf.TensorSpec]) -> Dict[str, np.ndarray]:
    """Pad mono 22 050 Hz waveforms into `waveform` `[batch, max_samples]` + `length` `[batch]`.

    The keys and dtypes come from `specs`; a signature with other inputs is refused.
    """
    if set(specs) != {"waveform", "length"}:
        raise ValueError(f"signature inputs {sorted(specs)} are not ['length', 'waveform']")
    lengths = np.array([len(w) for w in waveforms], dtype=specs["length"].dtype.as_numpy_dtype)
    batch = np.zeros((len(waveforms), int(lengths.max(initial=0))), dtype=specs["waveform"].dtype.as_numpy_dtype)
    for row, waveform in enumerate(waveforms):
        batch[row, : len(waveform)] = waveform
    return {"waveform": batch, "length": lengths}


def rest_request(
    waveforms: Sequence[np.ndarray],
    model_dir: PathLike,
    form: str = "instances",
    signature_name: str = DEFAULT_SIGNATURE,
) -> Dict[str, Any]:
    """The JSON body of a TF Serving REST predict call (`form`: "instances" or "inputs")."""
    inputs = batch_waveforms(waveforms, signature_inputs(model_dir, signature_name))
    if form == "instances":
        rows = [{key: value[row].tolist() for key, value in inputs.items()} for row in range(len(waveforms))]
        return {"signature_name": signature_name, "instances": rows}
    if form == "inputs":
        return {"signature_name": signature_name, "inputs": {key: value.tolist() for key, value in inputs.items()}}
    raise ValueError(f"form must be 'instances' or 'inputs', got {form!r}")


def rest_request_tensors(body: Dict[str, Any], model_dir: PathLike) -> Dict[str, tf.Tensor]:
    """What TF Serving makes of a REST body: one tensor per input, typed by the signature.

    Used to check requests without a server: feeding these to the signature gives the server's
    answer (TF Serving converts JSON numbers to the signature's dtypes the same way).
    """
    specs = signature_inputs(model_dir, body.get("signature_name", DEFAULT_SIGNATURE))
    if "instances" in body:
        columns = {key: [instance[key] for instance in body["instances"]] for key in specs}
    else:
        columns = body["inputs"]
    return {key: tf.constant(np.asarray(columns[key]), dtype=spec.dtype) for key, spec in specs.items()}


def predict_request(
    waveforms: Sequence[np.ndarray],
    model_dir: PathLike,
    model_name: str,
    signature_name: str = DEFAULT_SIGNATURE,
    version: Optional[int] = None,
):
    """A gRPC `PredictRequest` for TF Serving's `PredictionService.Predict`."""
    try:
        from tensorflow_serving.apis import predict_pb2
    except ImportError as error:
        raise ImportError(
            "gRPC requests need tensorflow-serving-api: pip install --no-deps 'tensorflow-serving-api==2.17.*'"
        ) from error
    specs = signature_inputs(model_dir, signature_name)
    inputs = batch_waveforms(waveforms, specs)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    if version is not None:
        request.model_spec.version.value = int(version)
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value, dtype=specs[key].dtype))
    return request
