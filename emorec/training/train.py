"""`train_model`: one training run from a config and a converted data folder into a run folder.

The run folder holds everything evaluation and export need; its layout is in
`emorec.training.run_folder`.
"""
from __future__ import annotations

import dataclasses
import json
import shutil
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import keras
import tensorflow as tf

from emorec.config import ExperimentConfig, TrainingConfig, save_config
from emorec.data.console import keras_verbose
from emorec.data.locking import output_lock
from emorec.data.manifest import manifest_path, read_manifest
from emorec.data.pipeline import make_dataset, partition_files
from emorec.data.semantic_features import resolve_semantic_features
from emorec.data.verify import require_intact
from emorec.errors import ConfigError, DatasetError, EmorecError, PathLike
from emorec.models.emotion_model import build_model
from emorec.training.backup import AtomicBackupAndRestore, backup_exists
from emorec.training.callbacks import BestModelCheckpoint, MeanCCC, StopOnNonFiniteLoss
from emorec.training.losses import ConcordanceLoss
from emorec.training.metrics import ConcordanceCorrelation
from emorec.training.precision import resolve_conv_layout, resolve_precision
from emorec.training.progress import EpochProgress
from emorec.training.run_folder import (BACKUP_DIRNAME, BEST_MODEL_FILENAME, CONFIG_FILENAME, HISTORY_FILENAME,
                                        LAST_MODEL_FILENAME, LOGS_DIRNAME, mark_run_finished, read_history,
                                        run_finished, write_run_info)
from emorec.training.strategy import is_chief, make_strategy

#: Keras releases [first, end) that `_patch_keras_for_multiworker` was written against (setup.py
#: pins the same range). The patch replaces private Keras functions, so another release needs a
#: fresh look (tests/training/test_keras_patch.py fails when those functions change).
KERAS_PATCH_VERSIONS = ((3, 4), (3, 7))

#: The semantic features folders of training and of devel (None without a semantic branch).
SemanticDirs = Tuple[Optional[Path], Optional[Path]]


def resolve_config(
    config: ExperimentConfig,
    *,
    strategy: Optional[str] = None,
    precision: Optional[str] = None,
    epochs: Optional[int] = None,
) -> ExperimentConfig:
    """A copy of `config` with the command-line overrides applied (None keeps the config's value)."""
    training = config.training
    changes: Dict[str, Any] = {}
    if isinstance(strategy, str):
        changes["strategy"] = strategy
    if precision is not None:
        changes["precision"] = precision
    if epochs is not None:
        changes["epochs"] = int(epochs)
    return dataclasses.replace(config, training=dataclasses.replace(training, **changes))


def compile_model(model: keras.Model, label_names: Sequence[str], learning_rate, clip_norm: float) -> None:
    """Adam with global gradient-norm clipping; eq. 8 as one 1 - CCC loss per output weighted 1/D.

    learning_rate: a float or a `keras.optimizers.schedules.LearningRateSchedule`."""
    weight = 1.0 / len(label_names)
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate, global_clipnorm=clip_norm),
        loss={name: ConcordanceLoss() for name in label_names},
        loss_weights={name: weight for name in label_names},
        metrics={name: [ConcordanceCorrelation(name="ccc")] for name in label_names},
    )


def learning_rate_schedule(
    training: TrainingConfig, steps_per_epoch: int, *, validate: bool, config_source: str = "<config>"
):
    """(learning rate or `LearningRateSchedule` for the optimiser, callbacks) of `training.lr_schedule`.

    cosine decays per optimiser step over `training.epochs * steps_per_epoch` steps; the step count
    is the optimiser's, which BackupAndRestore restores, so a resumed run continues the curve.
    reduce_on_plateau watches `val_mean_ccc` (mode max) and so needs a development partition; its
    patience counter restarts on resume (the reduced rate itself is restored with the optimiser).
    """
    schedule = training.lr_schedule
    if schedule.kind == "constant":
        return training.learning_rate, []
    if schedule.kind == "cosine":
        decay_steps = max(1, training.epochs * steps_per_epoch)
        alpha = min(1.0, schedule.min_learning_rate / training.learning_rate)
        return keras.optimizers.schedules.CosineDecay(training.learning_rate, decay_steps, alpha=alpha), []
    if not validate:
        raise ConfigError(config_source, "training.lr_schedule.kind",
                          "reduce_on_plateau watches the development mean CCC, and data.devel_partition is null; "
                          "use constant or cosine")
    return training.learning_rate, [keras.callbacks.ReduceLROnPlateau(
        "val_mean_ccc", mode="max", factor=schedule.factor, patience=schedule.patience,
        min_lr=schedule.min_learning_rate, verbose=0)]


def train_model(
    config: ExperimentConfig,
    data_dir: PathLike,
    run_dir: PathLike,
    *,
    strategy: Union[None, str, tf.distribute.Strategy] = None,
    precision: Optional[str] = None,
    epochs: Optional[int] = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    verbose: Union[str, int] = "auto",
    semantic_dir: Optional[PathLike] = None,
) -> Dict[str, List[float]]:
    """Train the model of `config` on `data_dir` (a converted folder), writing into `run_dir`.

    strategy: a name (`auto`, `default`, `mirrored`, `multiworker`), a `tf.distribute.Strategy`,
    or None for the config's. precision/epochs override the config; precision "auto" becomes
    mixed_bfloat16 or float32 after this machine's hardware (`emorec.training.precision`, logged;
    config.yaml keeps "auto", run.json records the choice). A run folder holding an
    unfinished run's backup resumes it and ends after the same total number of epochs.
    semantic_dir: the semantic features folder when `config.model.semantic_features.source` is not "none"
    (default `<data_dir>/semantic/<source>-<boundaries>/`, written by `emorec semantic features`).
    verbose: Keras' (0 silent, 1 a live bar, 2 a line per epoch); "auto" is 1 on a terminal and 2
    otherwise. The lines show loss, CCC per dimension and mean CCC (`emorec.training.progress`).
    Returns the history of all epochs (`{"epoch": [...], "loss": [...], "val_mean_ccc": [...], ...}`).
    """
    config = resolve_config(config, strategy=strategy if isinstance(strategy, str) else None,
                            precision=precision, epochs=epochs)
    training = config.training
    data_dir = Path(data_dir).resolve()
    run_dir = Path(run_dir)
    manifest = read_manifest(data_dir)
    label_names = list(manifest["label_names"])
    validate = config.data.devel_partition is not None  # None: fixed epochs, no model selection
    partitions = [p for p in (config.data.train_partition, config.data.devel_partition) if p is not None]
    for partition in partitions:
        partition_files(data_dir, partition, manifest)  # a DatasetError now rather than mid-fit
    semantic = resolve_semantic_features(data_dir, config.model.semantic_features, segmenter=config.semantic.segmenter,
                                         features_dir=semantic_dir, config_source=f"config {config.name!r}")
    semantic_dir, semantic_dim = (None, None) if semantic is None else (semantic[0].resolve(), semantic[1])
    semantic_dirs = (semantic_dir, _devel_semantic_dir(config, data_dir, semantic_dir) if validate else None)

    if run_finished(run_dir):
        raise EmorecError(f"{run_dir}: holds a finished run; choose another --run-dir or delete this one")
    if not backup_exists(run_dir / BACKUP_DIRNAME) and len(read_history(run_dir).get("epoch", [])) > 1:
        # The backup is committed at the end of every epoch, so a second epoch's history row
        # without a backup means backup/ was deleted (a kill in the first epoch leaves at most one
        # row, and that epoch is simply run again): starting over would mix two runs' epochs.
        raise EmorecError(f"{run_dir}: holds an unfinished run whose {BACKUP_DIRNAME}/ is missing, so its epochs "
                          "cannot be resumed; delete the run folder to start over or choose another --run-dir")
    keras.utils.set_random_seed(training.seed)
    policy = resolve_precision(training.precision)
    if config.model.paralinguistic:
        resolve_conv_layout(config.model.cnn.conv_layout, policy)  # logs what "auto" picks with this policy
    if not isinstance(strategy, tf.distribute.Strategy):
        strategy = make_strategy(training.strategy)
    # After the strategy: reading shards runs TensorFlow ops, and a multi-worker strategy must
    # configure its collective ops before the first. A valid record appended to a shard reads
    # without error: only the recorded SHA-256 tells.
    require_intact(data_dir, partitions, manifest)
    chief = is_chief(strategy)
    # A non-chief worker of a cluster writes its (identical) files to a private folder.
    write_dir = run_dir if chief else run_dir / f".worker-{_task_index()}"
    # One writer per run folder: a second `emorec train` into it would interleave epochs and backups.
    with output_lock(write_dir, f"emorec train --run-dir {run_dir}"):
        try:
            return _train(config, data_dir, run_dir, write_dir, chief, strategy, policy, manifest, label_names,
                          validate, semantic_dirs, semantic_dim, callbacks, verbose)
        except tf.errors.DataLossError as error:
            raise _corrupt_data_error(config, data_dir, manifest, error) from None


def _devel_semantic_dir(config: ExperimentConfig, data_dir: Path, semantic_dir: Optional[Path]) -> Optional[Path]:
    """The semantic features the epoch is chosen on: those evaluation reads. A row trained on the
    transcript's word boundaries and evaluated on the segmenter's (audio only) must not choose its
    epoch with the transcript's boundaries, or the text leaks into model selection."""
    semantic = config.model.semantic_features
    if semantic_dir is None or semantic.evaluation_boundaries in (None, semantic.boundaries):
        return semantic_dir
    return resolve_semantic_features(data_dir, semantic.at_evaluation(), segmenter=config.semantic.segmenter,
                                     config_source=f"config {config.name!r}")[0].resolve()


def _corrupt_data_error(config: ExperimentConfig, data_dir: Path, manifest: Dict[str, Any],
                        error: tf.errors.DataLossError) -> DatasetError:
    """One line naming the damaged shards: TensorFlow's message names a byte offset, not the file."""
    from emorec.data.verify import corrupt_data_message, verify_converted

    partitions = [p for p in (config.data.train_partition, config.data.devel_partition) if p]
    damaged = verify_converted(data_dir, manifest, partitions) or [("a shard", (error.message or "").splitlines()[0])]
    return DatasetError(corrupt_data_message(data_dir, damaged))


def _train(config: ExperimentConfig, data_dir: Path, run_dir: Path, write_dir: Path, chief: bool,
           strategy: tf.distribute.Strategy, policy: str, manifest: Dict[str, Any], label_names: List[str],
           validate: bool,
           semantic_dirs: SemanticDirs, semantic_dim: Optional[int],
           callbacks: Sequence[keras.callbacks.Callback], verbose: Union[str, int]) -> Dict[str, List[float]]:
    """The body of `train_model`, run while holding the run folder's lock. `semantic_dirs`: the
    semantic features of training and of devel (the evaluation boundaries')."""
    training = config.training
    if chief:
        save_config(config, run_dir / CONFIG_FILENAME)
        write_run_info(run_dir, _initial_run_info(data_dir, label_names, validate, policy, semantic_dirs, semantic_dim))
    train_data, devel_data = _datasets(config, data_dir, label_names, validate, semantic_dirs)
    learning_rate, schedule_callbacks = learning_rate_schedule(
        training, training.steps_per_epoch or int(train_data.cardinality()), validate=validate,
        config_source=f"config {config.name!r}")
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(policy)
    try:
        with strategy.scope():
            model = build_model(config.model, label_names, semantic_dim=semantic_dim)
            compile_model(model, label_names, learning_rate, training.clip_norm)
        if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            _patch_keras_for_multiworker(model, strategy)
        model.fit(
            train_data,
            validation_data=devel_data,
            epochs=training.epochs,
            steps_per_epoch=training.steps_per_epoch,
            validation_steps=training.validation_steps if validate else None,
            callbacks=_run_callbacks(training, label_names, schedule_callbacks, write_dir, validate, callbacks),
            verbose=keras_verbose(verbose),
        )
        if chief and validate and not (run_dir / BEST_MODEL_FILENAME).is_file():
            # No finite development CCC in any epoch (e.g. constant predictions): keep the last.
            model.save(run_dir / BEST_MODEL_FILENAME)
        if chief:
            mark_run_finished(run_dir)
        # After the marker: a kill between the two leaves a finished run with a stale backup, never
        # an unfinished run without one.
        shutil.rmtree(write_dir / BACKUP_DIRNAME, ignore_errors=True)
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)
    return read_history(write_dir)


def _initial_run_info(data_dir: Path, label_names: List[str], validate: bool, policy: str,
                      semantic_dirs: SemanticDirs, semantic_dim: Optional[int]) -> Dict[str, Any]:
    """run.json as written before the first epoch (`finished` false)."""
    return {
        "label_names": label_names,
        "data_dir": str(data_dir),
        "manifest": str(manifest_path(data_dir)),
        # Without a devel set nothing is selected: the run's model (for export) is the last.
        "best_model": BEST_MODEL_FILENAME if validate else LAST_MODEL_FILENAME,
        "last_model": LAST_MODEL_FILENAME,
        "precision": policy,
        "semantic_dim": semantic_dim,
        "semantic_features": None if semantic_dirs[0] is None else str(semantic_dirs[0]),
        "devel_semantic_features": None if semantic_dirs[1] is None else str(semantic_dirs[1]),
        # Set to true only once fit has returned (see run_folder.run_finished).
        "finished": False,
    }


def _datasets(config: ExperimentConfig, data_dir: Path, label_names: List[str], validate: bool,
              semantic_dirs: SemanticDirs) -> Tuple[tf.data.Dataset, Optional[tf.data.Dataset]]:
    """The training dataset (repeated when `training.steps_per_epoch` is set) and the development
    one (None without `validate`), each with its semantic features folder."""
    semantic_dir, devel_semantic_dir = semantic_dirs
    training = config.training
    repeat = training.steps_per_epoch is not None
    by_speaker = config.model.feature_statistics == "speaker"  # each batch one speaker's: its statistics
    train_data = make_dataset(data_dir, config.data.train_partition, config.data, training=True,
                              label_names=label_names, seed=training.seed, repeat=repeat, semantic_dir=semantic_dir,
                              group_by_speaker=by_speaker)
    devel_data = make_dataset(data_dir, config.data.devel_partition, config.data, training=False,
                              label_names=label_names, semantic_dir=devel_semantic_dir,
                              group_by_speaker=by_speaker) if validate else None
    return train_data, devel_data


def _run_callbacks(training: TrainingConfig, label_names: List[str],
                   schedule_callbacks: Sequence[keras.callbacks.Callback], write_dir: Path, validate: bool,
                   callbacks: Sequence[keras.callbacks.Callback]) -> List[keras.callbacks.Callback]:
    """The run's callbacks, in the order they must run, with the caller's `callbacks` after the
    run's own and the progress lines last."""
    run_callbacks: List[keras.callbacks.Callback] = [
        # First: a non-finite loss or weights must stop the run before anything below saves them.
        StopOnNonFiniteLoss(f"training.learning_rate ({training.learning_rate:g})"),
        MeanCCC(label_names),  # the callbacks below read val_mean_ccc
        # Before the CSVLogger: ReduceLROnPlateau logs the epoch's learning_rate into history.csv.
        *schedule_callbacks,
        BestModelCheckpoint(write_dir / BEST_MODEL_FILENAME, monitor="val_mean_ccc", enabled=validate),
        keras.callbacks.ModelCheckpoint(str(write_dir / LAST_MODEL_FILENAME)),
        keras.callbacks.CSVLogger(str(write_dir / HISTORY_FILENAME), append=True),
        keras.callbacks.TensorBoard(str(write_dir / LOGS_DIRNAME), profile_batch=0),
    ]
    if training.early_stopping_patience is not None and validate:
        run_callbacks.append(keras.callbacks.EarlyStopping(
            "val_mean_ccc", mode="max", patience=training.early_stopping_patience))
    # Last of the run's own callbacks: an epoch counts as done only once its history row, best
    # and last models are written. A kill before the commit replays the whole epoch (its files
    # rewritten, the duplicate history row dropped by read_history); committed first, a kill
    # after the last epoch's commit would leave that epoch's models and row unwritten for good.
    run_callbacks.append(AtomicBackupAndRestore(write_dir / BACKUP_DIRNAME))
    run_callbacks.extend(callbacks)
    run_callbacks.append(EpochProgress(label_names))  # last: shows val_mean_ccc, once per metric
    return run_callbacks


def keras_patch_applies(version: Optional[str] = None) -> bool:
    """Whether `version` (default: the installed Keras) is one the multi-worker patch was written for."""
    major_minor = tuple(int(part) for part in (version or keras.__version__).split(".")[:2])
    return KERAS_PATCH_VERSIONS[0] <= major_minor < KERAS_PATCH_VERSIONS[1]


def _patch_keras_for_multiworker(model: keras.Model, strategy: tf.distribute.Strategy) -> None:
    """Work around two Keras 3.6 bugs under MultiWorkerMirroredStrategy (its TF trainer was only
    tested with MirroredStrategy):

    1. before fitting, Keras builds the model from one batch by `strategy.reduce`-ing the whole
       nested batch, which the collective strategy rejects for dict inputs ("unsupported type
       dict"); the batch only serves for shapes, so take each leaf's first local replica;
    2. the per-step logs (scalars) are reduced with `strategy.reduce("MEAN", v, axis=0)`, which
       fails on a scalar ("Invalid reduction dimension 0"); reduce scalars with axis=None.

    Other Keras releases are left unpatched (with a warning): their private functions may differ.
    """
    if not keras_patch_applies():
        first, end = KERAS_PATCH_VERSIONS
        warnings.warn(f"Keras {keras.__version__}: emorec's MultiWorkerMirroredStrategy workaround was written for "
                      f"Keras {first[0]}.{first[1]} to <{end[0]}.{end[1]} and is not applied")
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    def maybe_symbolic_build(iterator=None, data_batch=None):
        if iterator is not None:
            for _, it in iterator.enumerate_epoch():
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: strategy.experimental_local_results(v)[0]
                    if isinstance(v, tf.distribute.DistributedValues) else v, batch)
                break
        with strategy.scope():
            model._symbolic_build(data_batch=data_batch)

    model._maybe_symbolic_build = maybe_symbolic_build

    original = tf_trainer.reduce_per_replica
    if getattr(original, "_emorec_patched", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original(values, strategy, reduction)

    reduce_per_replica._emorec_patched = True
    tf_trainer.reduce_per_replica = reduce_per_replica


def _task_index() -> int:
    import os

    return int(json.loads(os.environ.get("TF_CONFIG", "{}")).get("task", {}).get("index", 0))
