"""SavedModel export in TensorFlow Serving's layout, with signatures that take raw waveforms.

`export_saved_model` writes `NAME/<version>/saved_model.pb` + `variables/` (TF Serving loads the
highest version of `NAME`). Two signatures:

- `serving_default`: `waveform` float32 `[batch, samples]` at 22 050 Hz and `length` int32
  `[batch]` (real samples per row, so rows of unequal length batch together). The waveform is cut
  into 0.1 s frames in the graph (zero-padded to whole 2205-sample frames, samples past `length`
  zeroed) and the outputs are one float32 `[batch, frames]` tensor per affect dimension, named
  after it, plus `frame_times_s` `[batch, frames]`, `frame_mask` bool `[batch, frames]` and
  `num_frames` int32 `[batch]`.
- `serving_stream` (when the model has one unidirectional LSTM that splits it into a per-frame
  encoder and a head): the same inputs plus `lstm_state_h` / `lstm_state_c` `[batch, units]`, the
  same outputs plus the LSTM state after the chunk's last real frame (`frame_times_s` counts from
  the chunk's start). Long recordings are fed in
  chunks of whole frames, each chunk starting from the previous chunk's state, and give the same
  frames and numbers as one call over the whole recording.

Models with a semantic branch (Speech2Vec or aligned Speech2Vec features) compute the semantic
frame features in the graph (`emorec.export.semantic_graph`): `serving_default` then also takes
the word boundaries `word_start_s` / `word_end_s` float32 `[batch, max_words]` and `num_words`
int32 `[batch]`, and there is no `serving_stream` (a word may straddle a chunk border). A run
folder is exported with the boundaries it was evaluated on (`run_semantic_front_end`): for
segmenter boundaries (the paper's evaluation, also of models trained on given ones) the client
runs the segmenter, see `emorec.export.predict`.

The graph holds only core TensorFlow ops (decoding and resampling happen on the client, see
`emorec.export.predict`), so stock `tensorflow/serving` loads it. Its asserts refuse a call with an
InvalidArgumentError naming the input (a REST or gRPC error, not numbers) when the inputs are
inconsistent (ranks, batch sizes, a length outside 1..samples), the batch is empty, or a sample
within a row's `length` is NaN, infinite or beyond `emorec.constants.MAX_ABS_SAMPLE` (10) in
magnitude; samples past `length` are never read (see `graph_ops.validate_serving_inputs`).
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Set, Union

import tensorflow as tf
import keras

from emorec.config import load_config
from emorec.constants import FRAME_LENGTH_SAMPLES, FRAME_RATE_HZ, SAMPLE_RATE_HZ
from emorec.data.locking import output_lock
from emorec.errors import ExportError, InputFileError, PathLike
from emorec.evaluation.evaluate import evaluation_semantic_dir
from emorec.export.graph_ops import infer_label_names, portable_recurrent_layers, require_finite_weights
from emorec.export.semantic_graph import SemanticFrontEnd, front_end_from_features_dir
from emorec.export.serving_module import DEFAULT_SIGNATURE, STREAM_SIGNATURE, ServingModule, stream_matches_serve
from emorec.training.run_folder import (CONFIG_FILENAME, RUN_INFO_FILENAME, find_run_model, load_run_model,
                                        run_info_or_empty, run_label_names, run_normalisation)

#: Metadata written next to the SavedModel; TF Serving ignores `assets.extra`.
METADATA_PATH = Path("assets.extra") / "emorec_export.json"


# --------------------------------------------------------------------------------------------
# Loading what to export.


def run_semantic_front_end(run_dir: PathLike):
    """The `SemanticFrontEnd` of a run with a semantic branch, or None for an audio-only run: that
    of the features `emorec evaluate` reads for the run on the data it trained on
    (`evaluation_semantic_dir`: its config's `model.semantic_features.evaluation_boundaries`, else its
    training boundaries). A run folder without config.yaml: that of run.json's
    `semantic_features` folder (the one it trained on)."""
    info = run_info_or_empty(run_dir)
    if not info.get("semantic_dim"):
        return None
    features_dir = info.get("semantic_features")
    if not features_dir:
        raise InputFileError(Path(run_dir) / RUN_INFO_FILENAME,
                             "has semantic_dim but no semantic_features folder: cannot export the semantic branch")
    config_path = Path(run_dir) / CONFIG_FILENAME
    if not config_path.is_file():
        return front_end_from_features_dir(features_dir, run_dir)
    # Deployed as it was scored: a run trained on a transcript's word timings and evaluated on the
    # segmenter's words (the paper's setting) serves audio alone, segmented as its scores were.
    front_end = front_end_from_features_dir(evaluation_semantic_dir(run_dir), run_dir)
    trained_on = load_config(config_path).model.semantic_features.boundaries
    if trained_on != front_end.boundaries:
        front_end.training_boundaries = trained_on
    return front_end


def next_version(model_dir: PathLike) -> int:
    """1 + the highest integer version folder under `model_dir` (1 when there is none)."""
    model_dir = Path(model_dir)
    versions = [int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()] \
        if model_dir.is_dir() else []
    return max(versions, default=0) + 1


def export_saved_model(
    model: Union[keras.Model, PathLike],
    out_dir: PathLike,
    version: Optional[int] = None,
    label_names: Optional[Sequence[str]] = None,
    check_ops: bool = True,
    semantic=None,
    normalisation=None,
) -> Path:
    """Export a Keras model (or a run folder's best model) as `out_dir/<version>/`.

    model: a Keras model taking {"audio": float32 `[batch, frames, 2205]`} (and, with a semantic
    branch, "semantic" `[batch, frames, dim]`) with per-frame outputs per affect dimension, or a
    training run folder. out_dir: the model's name folder in TF Serving's layout
    (`saved_models/NAME`). version: integer version; the next free one if None. semantic: a
    `emorec.export.semantic_graph.SemanticFrontEnd` for a Keras model with a semantic branch (a run
    folder's comes from its run.json and semantic features folder). normalisation: the
    `data.normalisation` (a `NormalisationConfig`) the model was trained with (a run folder's comes
    from its config.yaml); `recording` exports without `serving_stream`, `speaker` is refused.
    Returns the version folder. Raises `ExportError` when the version exists already, the graph
    holds a non-core op, or the semantic source is word2vec (text, not audio).
    """
    source = model.name if isinstance(model, keras.Model) else None
    if not isinstance(model, keras.Model):
        run_dir = Path(model)
        label_names = label_names or run_label_names(run_dir)
        model = load_run_model(run_dir)
        source = str(find_run_model(run_dir))
        if semantic is None:
            semantic = run_semantic_front_end(run_dir)
        if normalisation is None:
            normalisation = run_normalisation(run_dir)
    require_finite_weights(model, source)
    label_names = list(label_names) if label_names is not None else infer_label_names(model)
    out_dir = Path(out_dir)
    # One exporter per model folder: two would pick the same next version and collide in the rename.
    with output_lock(out_dir, f"emorec export --out {out_dir}"):
        version = next_version(out_dir) if version is None else int(version)
        if version < 1:
            raise ExportError(f"{out_dir}: version must be a positive integer, got {version}")
        target = out_dir / str(version)
        if target.exists():
            raise ExportError(f"{target}: version {version} exists already (omit --version for the next free one)")

        module = ServingModule(model, label_names, semantic, normalisation)
        front_end = module.semantic.front_end if module.semantic is not None else None
        signatures = _serving_signatures(module, model, front_end)
        out_dir.mkdir(parents=True, exist_ok=True)
        _save_version(module, signatures, _export_metadata(module, model, label_names, signatures, front_end), target,
                      check_ops=check_ops)
        return target


def _serving_signatures(module: ServingModule, model: keras.Model,
                        front_end: Optional[SemanticFrontEnd]) -> Dict[str, Any]:
    """The concrete functions to export, by signature name: `serving_default`, and `serving_stream`
    when the model has an LSTM to split at and the split reproduces the model (else none, with a
    warning, and `module.lstm_units` set to 0). Traced with portable recurrent layers, those of
    the semantic `front_end`'s encoder too."""
    with portable_recurrent_layers(model), \
            (portable_recurrent_layers(front_end.encoder.model) if front_end else contextlib.nullcontext()):
        signatures = {DEFAULT_SIGNATURE: module.serve.get_concrete_function()}
        if module.lstm_units:
            if stream_matches_serve(module):
                signatures[STREAM_SIGNATURE] = module.stream.get_concrete_function()
            else:
                warnings.warn(f"{model.name}: the split at the LSTM does not reproduce the model; "
                              "exported without the streaming signature (long files in one call)")
                module.lstm_units = 0
    return signatures


def _export_metadata(module: ServingModule, model: keras.Model, label_names: List[str], signatures: Dict[str, Any],
                     front_end: Optional[SemanticFrontEnd]) -> dict:
    """The content of `assets.extra/emorec_export.json`: what a client needs besides the graph."""
    return {
        "label_names": label_names,
        "sample_rate_hz": SAMPLE_RATE_HZ,
        "frame_rate_hz": FRAME_RATE_HZ,
        "frame_length_samples": FRAME_LENGTH_SAMPLES,
        "lstm_units": module.lstm_units,
        "signatures": sorted(signatures),
        "model_name": model.name,
        "semantic": front_end.metadata() if front_end else None,
        # How the graph scales the waveform; clients of serving_stream carry the causal state.
        "normalisation": dataclasses.asdict(module.normalisation),
    }


def _save_version(module: ServingModule, signatures: Dict[str, Any], metadata: dict, target: Path, *,
                  check_ops: bool) -> None:
    """Save the SavedModel and its metadata as the version folder `target`, refusing (with
    `check_ops`) a graph that holds ops outside core TensorFlow."""
    # Write next to the target and rename: TF Serving polls the folder and must never see a
    # half-written version.
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        tf.saved_model.save(module, str(staging), signatures=signatures)
        (staging / METADATA_PATH).parent.mkdir(parents=True, exist_ok=True)
        (staging / METADATA_PATH).write_text(json.dumps(metadata, indent=2) + "\n", encoding="utf-8")
        if check_ops:
            custom = non_core_ops(list_graph_ops(staging))
            if custom:
                raise ExportError(f"{metadata['model_name']}: graph uses ops outside core TensorFlow: "
                                  f"{', '.join(custom)}")
        os.replace(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Reading an export back.


def resolve_version_dir(model_dir: PathLike) -> Path:
    """`NAME/` -> its highest version folder; a version folder itself is returned as is."""
    model_dir = Path(model_dir)
    if (model_dir / "saved_model.pb").is_file():
        return model_dir
    if not model_dir.is_dir():
        raise InputFileError(model_dir, "exported model not found (run `emorec export` or pass --model)")
    versions = [p for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()
                and (p / "saved_model.pb").is_file()]
    if not versions:
        raise InputFileError(model_dir, "no version folder with a saved_model.pb inside")
    return max(versions, key=lambda p: int(p.name))


def read_metadata(version_dir: PathLike) -> dict:
    path = Path(version_dir) / METADATA_PATH
    if not path.is_file():
        raise InputFileError(path, "not an emorec export (metadata file missing)")
    return json.loads(path.read_text(encoding="utf-8"))


def list_graph_ops(version_dir: PathLike) -> Set[str]:
    """Every op type in a SavedModel: the graph's nodes and the nodes of every library function.

    Calls of library functions by name are not ops and are left out.
    """
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString((Path(version_dir) / "saved_model.pb").read_bytes())
    ops: Set[str] = set()
    for meta_graph in proto.meta_graphs:
        graph = meta_graph.graph_def
        function_names = {function.signature.name for function in graph.library.function}
        ops.update(node.op for node in graph.node)
        for function in graph.library.function:
            ops.update(node.op for node in function.node_def)
        ops -= function_names
    return ops


_REGISTRY_SCRIPT = """
import json, sys
import tensorflow as tf  # core TensorFlow only: no tensorflow_io, no emorec
from tensorflow.python.framework import op_def_registry
ops = json.loads(sys.stdin.read())
print(json.dumps(sorted(op for op in ops if op_def_registry.get(op) is None)))
"""


def non_core_ops(ops) -> List[str]:
    """The ops in `ops` that a process with plain TensorFlow (nothing else imported) lacks.

    Checked in a fresh interpreter, because this process may have loaded tensorflow-io, whose
    ops would then look registered.
    """
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", _REGISTRY_SCRIPT], input=json.dumps(sorted(ops)),
        capture_output=True, text=True, env=env, check=False,
    )
    if result.returncode != 0:
        raise ExportError(f"op registry check failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])

