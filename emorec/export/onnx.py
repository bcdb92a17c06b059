"""ONNX export through tf2onnx, for users outside TensorFlow (onnxruntime, ...).

The ONNX graph is the `serving_default` function of the SavedModel export, converted as is:
inputs `waveform` float32 `[batch, samples]` at 22 050 Hz and `length` int32 `[batch]`, outputs
one float32 `[batch, frames]` per affect dimension plus `frame_times_s`, `frame_mask` and
`num_frames`. Needs the `onnx` extra (tf2onnx, onnx, onnxruntime).
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import keras

from emorec.constants import SEMANTIC_INPUT
from emorec.errors import ExportError, PathLike
from emorec.export.graph_ops import infer_label_names, portable_recurrent_layers
from emorec.export.serving_module import SERVE_INPUTS, ServingModule
from emorec.training.run_folder import load_run_model, run_label_names

#: ONNX opset: 17 is read by onnxruntime >= 1.14 and covers every op of the serving graph.
DEFAULT_OPSET = 17


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
    if not isinstance(model, keras.Model):
        label_names = label_names or run_label_names(model)
        model = load_run_model(model)
    label_names = list(label_names) if label_names is not None else infer_label_names(model)
    out_path = Path(out_path)
    if out_path.suffix.lower() != ".onnx":
        out_path = out_path / "model.onnx"
    out_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(model.input, dict) and SEMANTIC_INPUT in model.input:
        # The in-graph Speech2Vec front end (STFT, per-word gathers) is not taken to ONNX yet.
        raise ExportError(f"{model.name}: ONNX export covers audio-only models; a model with a semantic branch "
                          "exports as a SavedModel (emorec export --format saved_model)")
    module = ServingModule(model, label_names)
    try:
        with portable_recurrent_layers(model):
            tf2onnx.convert.from_function(module.serve, input_signature=SERVE_INPUTS, opset=opset,
                                          output_path=str(out_path))
    except Exception as error:  # noqa: BLE001 - tf2onnx raises many types; report in one line
        raise ExportError(f"{model.name}: tf2onnx could not convert the model ({type(error).__name__}: "
                          f"{str(error).splitlines()[0] if str(error) else ''})") from None
    return out_path
