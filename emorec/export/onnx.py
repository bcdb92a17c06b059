"""ONNX export through tf2onnx, for users outside TensorFlow (onnxruntime, ...).

The ONNX graph is the `serving_default` function of the SavedModel export, converted as is:
inputs `waveform` float32 `[batch, samples]` at 22 050 Hz and `length` int32 `[batch]`, outputs
one float32 `[batch, frames]` per affect dimension plus `frame_times_s`, `frame_mask` and
`num_frames`. Needs the `onnx` extra (tf2onnx, onnx, onnxruntime).

tf2onnx drops the SavedModel's input asserts. Samples the SavedModel refuses (NaN, inf or beyond
`emorec.constants.MAX_ABS_SAMPLE` within a row's `length`) give NaN for every affect dimension of
that row instead (`graph_ops.mark_unusable_rows`), never finite, plausible numbers; the other rows
are unaffected. Inconsistent shapes or lengths are not checked: the caller must keep to the contract.

The file describes itself, so that a user of onnxruntime needs nothing from emorec to feed it:
`metadata_props` hold the data contract (`sample_rate_hz`, `frame_length_samples`,
`frame_rate_hz`), the `label_names` (a JSON list, in the model's dimension order) and the `emorec_version`; the
dimensions are named `batch`, `samples` and `frames` instead of tf2onnx's `unk__NNN`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Optional, Sequence, Union

import keras

from emorec.constants import FRAME_LENGTH_SAMPLES, FRAME_RATE_HZ, SAMPLE_RATE_HZ, SEMANTIC_INPUT, installed_version
from emorec.data.atomic import replace_durably
from emorec.data.locking import output_lock
from emorec.errors import ExportError, PathLike
from emorec.export.graph_ops import float32_model, infer_label_names, portable_recurrent_layers, require_finite_weights
from emorec.export.serving_module import SERVE_INPUTS, ServingModule
from emorec.training.run_folder import find_run_model, load_run_model, run_label_names, run_normalisation

#: ONNX opset: 17 is read by onnxruntime >= 1.14 and covers every op of the serving graph.
DEFAULT_OPSET = 17

#: Names of the symbolic dimensions of the serving signature's inputs; every output is
#: `[batch, frames]` except `num_frames`, `[batch]`.
INPUT_DIMENSIONS = {"waveform": ("batch", "samples"), "length": ("batch",)}
OUTPUT_DIMENSIONS_BY_RANK = {1: ("batch",), 2: ("batch", "frames")}


def export_onnx(
    model: Union[keras.Model, PathLike],
    out_path: PathLike,
    label_names: Optional[Sequence[str]] = None,
    opset: int = DEFAULT_OPSET,
) -> Path:
    """Convert a Keras model (or a run folder's best model) to ONNX at `out_path`.

    out_path: a `.onnx` file, or a folder that receives `model.onnx`. Returns the file written.
    """
    try:
        import tf2onnx
    except ImportError as error:
        raise ExportError("ONNX export needs the onnx extra: pip install -e '.[onnx]'") from error
    normalisation = None  # a bare Keras model: served unnormalised, as export_saved_model does
    source = model.name if isinstance(model, keras.Model) else str(find_run_model(model))
    if not isinstance(model, keras.Model):
        label_names = label_names or run_label_names(model)
        normalisation = run_normalisation(model)
        model = load_run_model(model)
    require_finite_weights(model, source)
    label_names = list(label_names) if label_names is not None else infer_label_names(model)
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        out_path = out_path / "model.onnx"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(model.input, dict) and SEMANTIC_INPUT in model.input:
        # The in-graph Speech2Vec front end (STFT, per-word gathers) is not taken to ONNX yet.
        raise ExportError(f"{model.name}: ONNX export covers audio-only models; a model with a semantic branch "
                          "exports as a SavedModel (emorec export --format saved_model)")
    # ONNX has no bfloat16 tensors in most runtimes, and tf2onnx none at all.
    module = ServingModule(float32_model(model), label_names, normalisation=normalisation)
    try:
        with portable_recurrent_layers(model):
            model_proto, _ = tf2onnx.convert.from_function(module.serve, input_signature=SERVE_INPUTS, opset=opset)
    except Exception as error:  # noqa: BLE001 - tf2onnx raises many types; report in one line
        raise ExportError(f"{model.name}: tf2onnx could not convert the model ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''})") from None
    name_dimensions(model_proto)
    set_metadata(model_proto, onnx_metadata(label_names))
    import onnx

    # Under a temporary name, then renamed: a kill mid-save must not leave a truncated model.onnx,
    # and the folder's lock keeps a second exporter from renaming over this one meanwhile.
    with output_lock(out_path.parent, f"emorec export --format onnx --out {out_path}"):
        temporary = out_path.with_name(f".{out_path.name}.tmp-{os.getpid()}")
        try:
            onnx.save(model_proto, str(temporary))
            replace_durably(temporary, out_path)
        finally:
            temporary.unlink(missing_ok=True)
    return out_path


def onnx_metadata(label_names: Sequence[str]) -> Dict[str, str]:
    """The `metadata_props` of an exported file: the data contract, label names, emorec version.

    ONNX metadata values are strings; label_names is a JSON list so that names with commas survive.
    """
    return {
        "sample_rate_hz": str(SAMPLE_RATE_HZ),
        "frame_length_samples": str(FRAME_LENGTH_SAMPLES),
        "frame_rate_hz": str(FRAME_RATE_HZ),
        "label_names": json.dumps(list(label_names)),
        "emorec_version": installed_version(),
    }


def set_metadata(model_proto, metadata: Dict[str, str]) -> None:
    """Replace (not append to) `metadata_props` keys of the same name, so a re-export stays unique."""
    kept = [prop for prop in model_proto.metadata_props if prop.key not in metadata]
    del model_proto.metadata_props[:]
    model_proto.metadata_props.extend(kept)
    for key, value in metadata.items():
        model_proto.metadata_props.add(key=key, value=value)


def name_dimensions(model_proto) -> None:
    """Name the symbolic dimensions of inputs and outputs (`batch`, `samples`, `frames`).

    tf2onnx gives every unknown dimension its own `unk__NNN`; the shared names also tell a
    runtime that all outputs have the same batch and frame count. The same renaming is applied to
    intermediate value_info so the graph stays consistent.
    """
    renamed: Dict[str, str] = {}
    values = [(value, INPUT_DIMENSIONS.get(value.name)) for value in model_proto.graph.input]
    values += [(value, OUTPUT_DIMENSIONS_BY_RANK.get(len(value.type.tensor_type.shape.dim)))
               for value in model_proto.graph.output]
    for value, names in values:
        dims = value.type.tensor_type.shape.dim
        if names is None or len(names) != len(dims):
            continue
        for dim, name in zip(dims, names):
            if dim.HasField("dim_value"):
                continue  # a fixed size stays a number
            if dim.dim_param:
                renamed[dim.dim_param] = name
            dim.dim_param = name
    for value in model_proto.graph.value_info:
        for dim in value.type.tensor_type.shape.dim:
            if dim.dim_param in renamed:
                dim.dim_param = renamed[dim.dim_param]
