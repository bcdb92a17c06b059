"""`evaluate_run`: score a trained run on one partition, AVEC style.

Each recording is predicted whole; CCC is pooled over all recordings of the partition
(concatenated), frames whose label mask is 0 excluded. Writes into the output folder
(default `RUN/evaluation/<data folder name>-<partition>/`, so that scoring another converted
folder or partition never replaces an earlier evaluation; an existing one is refused unless
`overwrite=True`):

    predictions_raw/<name>.csv            the model's outputs as they are, AVEC format (no header,
                                          `'<name>';<s>;<values>` rows)
    predictions_postprocessed/<name>.csv  the same after post-processing (only when it is on)
    scores.json                           `ccc_raw` and `ccc_postprocessed` (null when off), the
                                          post-processing parameters, what was evaluated
    plots/<name>.png                      gold and predictions over time, first `plot_recordings`
    report.html                           all of it on one self-contained page

Post-processed predictions are shifted and rescaled (see postprocess.py), so they are never
written under a neutral name.
"""
from __future__ import annotations

import dataclasses

import json
import shutil
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import keras
import numpy as np

from emorec.config import ExperimentConfig, NormalisationConfig, load_config
from emorec.constants import AUDIO_INPUT, SEMANTIC_INPUT, installed_version
from emorec.data.manifest import require_labelled_partition, unlabelled_partition_message
from emorec.data.pipeline import label_statistics, recording_names, recording_speakers, recordings_for_prediction
from emorec.data.schema import recording_path
from emorec.data.semantic_features import resolve_semantic_features
from emorec.data.verify import require_intact
from emorec.errors import DatasetError, EmorecError, InputFileError, OutputExistsError, PathLike
from emorec.evaluation.ccc import ccc_per_dimension
from emorec.evaluation.html_report import write_html_report
from emorec.evaluation.outputs import (OUTPUT_STATISTICS, POOLS, output_protocol_name, pool_recordings,
                                       standardise_per_speaker)
from emorec.evaluation.postprocess import Postprocessor
from emorec.evaluation.report import format_table, plot_recording, write_avec_predictions
from emorec.training.run_folder import (CONFIG_FILENAME, RUN_INFO_FILENAME, find_run_model, load_run_info, load_run_model,
                                        read_history)

from emorec.training.seeds import aggregate_ccc, format_seed_summary, seed_run_dirs

PREDICTIONS_RAW_DIRNAME = "predictions_raw"
PREDICTIONS_POSTPROCESSED_DIRNAME = "predictions_postprocessed"
PLOTS_DIRNAME = "plots"
SCORES_FILENAME = "scores.json"
REPORT_FILENAME = "report.html"
#: Mean ± sd over the seeds of a multi-seed folder, in `RUN/evaluation/<the seeds' evaluation folder name>/`.
SEED_SCORES_FILENAME = "seed_scores.json"


def postprocess_path(run_dir: PathLike, data_dir: PathLike) -> Path:
    """`RUN/postprocess-<data folder name>.json`: the post-processing fitted on that folder's devel
    partition. One per data folder, so scoring another folder never changes what an earlier
    evaluation of this one was post-processed with."""
    return Path(run_dir) / f"postprocess-{Path(data_dir).resolve().name}.json"


def protocol_predictions_dirname(protocol: str) -> str:
    """The predictions folder of an output protocol (`outputs.output_protocol_name`): the model's
    outputs as they are go to `predictions_raw`, those of another protocol never under that name."""
    return f"predictions_{protocol.replace('-', '_')}" if protocol else PREDICTIONS_RAW_DIRNAME


#: Everything evaluate_run writes into its folder: what makes a folder "an existing evaluation",
#: and all that `overwrite=True` removes (nothing else there is touched).
EVALUATION_OUTPUTS = (*dict.fromkeys(protocol_predictions_dirname(output_protocol_name(pool, statistics))
                                     for pool in POOLS for statistics in OUTPUT_STATISTICS),
                      PREDICTIONS_POSTPROCESSED_DIRNAME, PLOTS_DIRNAME, SCORES_FILENAME, REPORT_FILENAME)


def default_output_dir(run_dir: PathLike, data_dir: PathLike, partition: str) -> Path:
    """`RUN/evaluation/<data folder name>-<partition>`: one folder per scored data set and partition."""
    return Path(run_dir) / "evaluation" / f"{Path(data_dir).resolve().name}-{partition}"


def predict_partition(model: keras.Model, data_dir: PathLike, partition: str, label_names: List[str],
                      batch_recordings: int = 8, semantic_dir: Optional[PathLike] = None, *,
                      normalisation: NormalisationConfig, group_by_speaker: bool = False) -> List[dict]:
    """Per recording (file order): `name`, `predictions`/`gold` `[frames, dims]`, `mask` `[frames]`.

    semantic_dir: the semantic features folder, for a model with a `semantic` input.
    normalisation: the run's `data.normalisation` (required: the model expects its inputs scaled so).
    group_by_speaker: each model call gets one speaker's recordings together, for a model that
    standardises features with its batch's statistics (`model.feature_statistics: speaker`).
    """
    results = []
    for batch in recordings_for_prediction(data_dir, partition, batch_recordings=batch_recordings,
                                           semantic_dir=semantic_dir, normalisation=normalisation,
                                           group_by_speaker=group_by_speaker):
        inputs = {AUDIO_INPUT: batch["audio"]}
        if SEMANTIC_INPUT in batch:
            inputs[SEMANTIC_INPUT] = batch[SEMANTIC_INPUT]
        outputs = model(inputs, training=False)
        predictions = np.stack([np.asarray(outputs[name], np.float64) for name in label_names], axis=-1)
        all_gold = batch["labels"].numpy()
        for i, name in enumerate(batch["name"].numpy()):
            frames = int(batch["num_frames"][i])
            results.append({
                "name": name.decode(),
                "predictions": predictions[i, :frames],
                "gold": all_gold[i, :frames],
                "mask": batch["label_mask"].numpy()[i, :frames],
            })
    if not results:
        raise InputFileError(data_dir, f"partition {partition!r} has no recordings")
    if group_by_speaker:  # batches came speaker by speaker: back to the file order
        order = {name: index for index, name in enumerate(recording_names(data_dir, partition))}
        results.sort(key=lambda result: order[result["name"]])
    return results


def pooled_scores(results: List[dict], label_names: List[str], key: str = "predictions",
                  variance: str = "population") -> Dict[str, float]:
    return ccc_per_dimension(
        np.concatenate([r["gold"] for r in results]),
        np.concatenate([r[key] for r in results]),
        label_names,
        mask=np.concatenate([r["mask"] for r in results]),
        variance=variance,
    )


def evaluate_run(
    run_dir: PathLike,
    data_dir: PathLike,
    partition: str,
    *,
    output_dir: Optional[PathLike] = None,
    plot: bool = True,
    postprocess: Optional[bool] = None,
    variance: Optional[str] = None,
    model_file: Optional[str] = None,
    echo: Optional[Callable[[str], None]] = print,
    semantic_dir: Optional[PathLike] = None,
    overwrite: bool = False,
    report: bool = True,
    boundaries: Optional[str] = None,
    pool: Optional[str] = None,
    output_statistics: Optional[str] = None,
) -> dict:
    """Evaluate the run in `run_dir` on `partition` of the converted folder `data_dir`.

    output_dir defaults to `default_output_dir`; a folder that already holds an evaluation raises
    `OutputExistsError` unless `overwrite` (which replaces only the files listed in
    EVALUATION_OUTPUTS, once the new results are computed). report: also write `report.html`.

    model_file defaults to the run's model in run.json (the best on development; the last epoch for
    a run trained without a development partition). postprocess/variance default to the run
    config's `evaluation` section. Post-processing is fitted on the development partition (saved
    as `RUN/postprocess-<data folder name>.json` with the model, data folder and variance it was
    fitted with, and refitted when any of them differs) and applied unchanged to the other
    partitions of the same folder; a run without a
    development partition has nothing to fit it on, so the config's default is skipped with a
    note and an explicit `postprocess=True` is an error. A semantic model reads `semantic_dir`, by default
    `<data_dir>/semantic/<source>-<evaluation boundaries>/` of the run config (the run's own
    features folder when `data_dir` is the folder it trained on and the boundaries are the same).
    boundaries (`given` or `segmenter`): score a semantic model with these word boundaries instead
    of its config's evaluation boundaries, e.g. a model the paper's way (given in training, the
    segmenter at evaluation) also with the transcript's words, to measure what discarding the text
    costs; the default output folder then ends in `-<boundaries>-boundaries`.
    pool (`frame` or `recording`) and output_statistics (`none` or `speaker`), default the run
    config's `evaluation` section: the outputs scored (`emorec.evaluation.outputs`); other than
    frame/none, the default output folder ends in `-recording-mean` and/or `-speaker-outputs`,
    the predictions are written to `predictions_<protocol>/`, `ccc_raw` scores them (before any
    post-processing, which is refused with them) and `outputs` in scores.json names the protocol
    and the training targets' statistics used. Returns the content of `scores.json`:
    `{"partition", "variance", "label_names", "recordings", "frames", "ccc_raw": {dim: .., "mean": ..},
    "ccc_postprocessed": {...} or None, "postprocessing": Postprocessor.to_dict() or None,
    "predictions": {"raw": folder, "postprocessed": folder or None}, "output_dir", ...}`.
    A multi-seed folder (`emorec train --seeds N`) is evaluated by `evaluate_seeds` and returns what
    that returns.
    """
    run_dir = Path(run_dir)
    if not (run_dir / RUN_INFO_FILENAME).is_file() and seed_run_dirs(run_dir):
        return evaluate_seeds(run_dir, data_dir, partition, output_dir=output_dir, plot=plot, postprocess=postprocess,
                              variance=variance, model_file=model_file, echo=echo, semantic_dir=semantic_dir,
                              overwrite=overwrite, boundaries=boundaries, pool=pool,
                              output_statistics=output_statistics)
    plan = plan_evaluation(run_dir, data_dir, partition, output_dir=output_dir, postprocess=postprocess,
                           variance=variance, model_file=model_file, echo=echo, overwrite=overwrite,
                           boundaries=boundaries, pool=pool, output_statistics=output_statistics)
    scored = score_partition(plan, semantic_dir)
    return write_evaluation(plan, scored, plot=plot, report=report, echo=echo)


@dataclasses.dataclass
class EvaluationPlan:
    """What `evaluate_run` scores and where it writes, settled before the model is loaded.

    config: the run's config, with the requested evaluation boundaries; label_names: the run's
    (run.json); model_path: the model file scored (`model_file` of the run folder, or its best);
    postprocess: whether post-processed predictions are fitted and scored too; protocol:
    `output_protocol_name(pool, output_statistics)`, "" for the frame outputs as they are;
    existing: the EVALUATION_OUTPUTS already in `output_dir` (replaced, with `overwrite`, once the
    new results are computed).
    """

    run_dir: Path
    data_dir: PathLike
    partition: str
    info: dict
    config: ExperimentConfig
    label_names: List[str]
    model_file: Optional[str]
    model_path: Path
    postprocess: bool
    variance: str
    pool: str
    output_statistics: str
    protocol: str
    output_dir: Path
    existing: List[str]

    @property
    def folders(self) -> Dict[str, Optional[str]]:
        """The predictions folders under `output_dir`: `raw` (named for the protocol) and
        `postprocessed` (None when post-processing is off)."""
        return {"raw": protocol_predictions_dirname(self.protocol),
                "postprocessed": PREDICTIONS_POSTPROCESSED_DIRNAME if self.postprocess else None}


def plan_evaluation(run_dir: PathLike, data_dir: PathLike, partition: str, *, output_dir: Optional[PathLike] = None,
                    postprocess: Optional[bool] = None, variance: Optional[str] = None,
                    model_file: Optional[str] = None, echo: Optional[Callable[[str], None]] = print,
                    overwrite: bool = False, boundaries: Optional[str] = None, pool: Optional[str] = None,
                    output_statistics: Optional[str] = None) -> EvaluationPlan:
    """Check the partition, read the run's config and settle the protocol, the model file and the
    output folder (arguments as `evaluate_run`'s); raises for a setting that cannot be scored and,
    without `overwrite`, for an output folder that holds an evaluation. Loads no model."""
    run_dir = Path(run_dir)
    # Before loading the model: a partition without labels would score n/a everywhere, and a
    # damaged or extended shard would be scored as if it were the data set.
    require_labelled_partition(data_dir, partition)
    require_intact(data_dir, [partition])
    info = load_run_info(run_dir)
    config, boundaries_changed = _with_evaluation_boundaries(load_config(run_dir / CONFIG_FILENAME), boundaries,
                                                             run_dir)
    label_names = list(info["label_names"])
    postprocess, pool, output_statistics, protocol = _scored_outputs(
        config, run_dir, echo, postprocess, boundaries=boundaries if boundaries_changed else None, pool=pool,
        output_statistics=output_statistics)
    model_path = find_run_model(run_dir, model_file)
    variance = variance or config.evaluation.variance
    if output_dir is None:
        output_dir = default_output_dir(run_dir, data_dir, partition)
        if boundaries_changed:  # never over the scores of the run's own protocol
            output_dir = output_dir.with_name(f"{output_dir.name}-{boundaries}-boundaries")
        if protocol:  # nor over the frame outputs' scores
            output_dir = output_dir.with_name(f"{output_dir.name}-{protocol}")
    output_dir = Path(output_dir)
    # Checked before minutes of prediction; removed only after them, so a failed run keeps the old one.
    existing = [name for name in EVALUATION_OUTPUTS if (output_dir / name).exists()]
    if existing and not overwrite:
        raise OutputExistsError(output_dir, f"holds an evaluation ({', '.join(existing)}); pass --overwrite to "
                                            "replace it or --out to write elsewhere")
    return EvaluationPlan(run_dir, data_dir, partition, info, config, label_names, model_file,
                          model_path, postprocess, variance, pool, output_statistics, protocol, output_dir, existing)


def _with_evaluation_boundaries(config: ExperimentConfig, boundaries: Optional[str],
                                run_dir: Path) -> Tuple[ExperimentConfig, bool]:
    """`config` scoring its semantic model with `boundaries` (None: the config's evaluation
    boundaries), and whether those differ from the config's own."""
    semantic = config.model.semantic_features
    boundaries_changed = boundaries is not None and boundaries != semantic.at_evaluation().boundaries
    if boundaries is not None:
        if boundaries not in ("given", "segmenter"):
            raise EmorecError(f"boundaries must be 'given' or 'segmenter', got {boundaries!r}")
        if semantic.source == "none":
            raise EmorecError(f"{run_dir}: the model has no semantic branch, so it has no word boundaries to choose")
        config = dataclasses.replace(config, model=dataclasses.replace(
            config.model, semantic_features=dataclasses.replace(semantic, evaluation_boundaries=boundaries)))
    return config, boundaries_changed


def _scored_outputs(config: ExperimentConfig, run_dir: Path, echo: Optional[Callable[[str], None]],
                    postprocess: Optional[bool], *, boundaries: Optional[str], pool: Optional[str],
                    output_statistics: Optional[str]) -> Tuple[bool, str, str, str]:
    """`(postprocess, pool, output_statistics, protocol)`: the outputs scored (None: the config's
    `evaluation` section) and whether post-processing is on. It is fitted on a development
    partition, with the run's own boundaries (`boundaries`: others requested, else None), on frame
    outputs: where one of these is missing an explicit `postprocess=True` is refused, and the
    config's default is turned off (with a note)."""
    evaluation = config.evaluation
    if config.data.devel_partition is None:
        if postprocess:
            raise EmorecError(f"{run_dir}: post-processing is fitted on a development partition and this run "
                              "has none (data.devel_partition is null); evaluate without --postprocess")
        if postprocess is None and evaluation.postprocess and echo is not None:
            echo("no post-processing: this run has no development partition to fit it on")
        postprocess = False
    if boundaries is not None:
        # The post-processing is fitted on devel with the run's own boundaries; fitting or applying
        # it with other boundaries would mix the two protocols.
        if postprocess:
            raise EmorecError(f"{run_dir}: post-processing is fitted with the run's own evaluation boundaries; "
                              f"score raw predictions with boundaries {boundaries!r} (no --postprocess)")
        postprocess = False
    pool = pool or evaluation.pool
    output_statistics = output_statistics or evaluation.output_statistics
    protocol = output_protocol_name(pool, output_statistics)
    if protocol:
        if postprocess:
            raise EmorecError(f"{run_dir}: post-processing is fitted on frame outputs; score the outputs of pool "
                              f"{pool!r} and output_statistics {output_statistics!r} without --postprocess")
        if postprocess is None and evaluation.postprocess and echo is not None:
            echo(f"no post-processing: it is fitted on frame outputs, and these are scored as {protocol}")
        postprocess = False
    postprocess = evaluation.postprocess if postprocess is None else postprocess
    return postprocess, pool, output_statistics, protocol


@dataclasses.dataclass
class PartitionScores:
    """What `score_partition` computes: `results` per recording as `predict_partition` gives them
    (the protocol's outputs as `predictions`, plus `postprocessed` `[frames, dims]` when
    post-processing is on), CCC per dimension of the raw and of the post-processed predictions,
    the fitted `postprocessor`, what scores.json records of the output protocol (None for frame
    outputs), the features folder read, and the console table (row name -> scores)."""

    results: List[dict]
    scores: Dict[str, float]
    processed_scores: Optional[Dict[str, float]]
    postprocessor: Optional[Postprocessor]
    outputs: Optional[dict]
    semantic_dir: Optional[Path]
    table: Dict[str, Dict[str, float]]


def score_partition(plan: EvaluationPlan, semantic_dir: Optional[PathLike] = None) -> PartitionScores:
    """Load the planned model, predict every recording of the partition and score it, pooled over
    the partition's labelled frames; with post-processing, fit it on development (or load the one
    fitted there) and score its predictions too. Writes nothing into the output folder."""
    config, label_names = plan.config, plan.label_names
    model = load_run_model(plan.run_dir, plan.model_file)
    semantic_dir = _semantic_dir(plan.info, config, plan.data_dir, semantic_dir, plan.run_dir)
    results = predict_partition(model, plan.data_dir, plan.partition, label_names, config.evaluation.batch_recordings,
                                semantic_dir, normalisation=config.data.normalisation,
                                group_by_speaker=config.model.feature_statistics == "speaker")
    if not any(float(r["mask"].sum()) > 0 for r in results):  # a manifest without labelled_frames
        raise DatasetError(unlabelled_partition_message(plan.data_dir, plan.partition))
    outputs = None
    if plan.protocol:
        outputs = _apply_output_protocol(results, plan.run_dir, plan.info, config, plan.data_dir, plan.partition,
                                         plan.pool, plan.output_statistics)
    scores = pooled_scores(results, label_names, variance=plan.variance)
    table = {f"{plan.partition} {plan.protocol or 'raw'}": scores}
    processed_scores = postprocessor = None
    if plan.postprocess:
        postprocessor = _postprocessor(plan.run_dir, model, plan.model_path, plan.data_dir, config, label_names,
                                       plan.partition, results, plan.variance, semantic_dir)
        for result, processed in zip(results, postprocessor.apply([r["predictions"] for r in results])):
            result["postprocessed"] = processed
        processed_scores = pooled_scores(results, label_names, "postprocessed", plan.variance)
        table[f"{plan.partition} post-processed"] = processed_scores
    return PartitionScores(results, scores, processed_scores, postprocessor, outputs, semantic_dir, table)


def write_evaluation(plan: EvaluationPlan, scored: PartitionScores, *, plot: bool = True, report: bool = True,
                     echo: Optional[Callable[[str], None]] = print) -> dict:
    """Replace the previous evaluation in the planned output folder (`plan.existing`) with the
    predictions, plots, scores.json and (with `report`) report.html of `scored`; returns the
    content of scores.json."""
    folders, label_names, output_dir = plan.folders, plan.label_names, plan.output_dir
    drawn = sorted(scored.results, key=lambda r: r["name"])[: max(plan.config.evaluation.plot_recordings, 0)]
    files = _recording_files(output_dir, folders, scored.results, drawn if plot else [], plan.data_dir)
    for name in plan.existing:  # overwrite: nothing of the previous evaluation may mix with this one
        path = output_dir / name
        if path.is_dir():
            shutil.rmtree(path)
        else:
            path.unlink()
    _write_recording_files(files, scored.results, drawn, label_names)
    summary = _scores_summary(plan, scored, folders)
    (output_dir / SCORES_FILENAME).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if report:
        write_html_report(output_dir / REPORT_FILENAME, summary=summary, recordings=drawn,
                          history=read_history(plan.run_dir), postprocessing=summary["postprocessing"],
                          emorec_version=installed_version())
    if echo is not None:
        echo(format_table(scored.table, label_names))
        echo(f"predictions ({', '.join(f for f in folders.values() if f)}), scores.json"
             + (", plots" if plot and drawn else "") + (" and report.html" if report else "") + f" in {output_dir}")
    return summary


def _scores_summary(plan: EvaluationPlan, scored: PartitionScores, folders: Dict[str, Optional[str]]) -> dict:
    """The content of scores.json (see `evaluate_run`)."""
    results = scored.results
    return {
        "partition": plan.partition,
        "data_dir": str(plan.data_dir),
        "run_dir": str(plan.run_dir),
        "variance": plan.variance,
        "label_names": plan.label_names,
        "recordings": len(results),
        "frames": int(sum(float(r["mask"].sum()) for r in results)),
        "ccc_raw": scored.scores,
        "ccc_postprocessed": scored.processed_scores,
        "postprocessing": None if scored.postprocessor is None else scored.postprocessor.to_dict(),
        "predictions": folders,
        "model": str(plan.model_path),
        "normalisation": plan.config.data.normalisation.kind,  # the protocol behind these numbers
        "outputs": scored.outputs or {"pool": "frame", "output_statistics": "none"},
        "semantic_features": None if scored.semantic_dir is None else str(scored.semantic_dir),
        "output_dir": str(plan.output_dir),
    }


def _recording_files(output_dir: Path, folders: Dict[str, Optional[str]], results: List[dict], plotted: List[dict],
                     data_dir: PathLike) -> Dict[str, List[Path]]:
    """Each recording's prediction files and plots, all mapped through `recording_path` before
    anything is removed or written: a name from a converted folder made (or edited) elsewhere
    cannot place a file outside `output_dir`, nor leave half an evaluation behind when refused."""
    def paths(folder: Optional[str], chosen: List[dict], suffix: str) -> List[Path]:
        return [recording_path(output_dir / folder, r["name"], suffix, data_dir) for r in chosen] if folder else []

    return {"raw": paths(folders["raw"], results, ".csv"),
            "postprocessed": paths(folders["postprocessed"], results, ".csv"),
            "plots": paths(PLOTS_DIRNAME, plotted, ".png")}


def _write_recording_files(files: Dict[str, List[Path]], results: List[dict], drawn: List[dict],
                           label_names: List[str]) -> None:
    for result, path in zip(results, files["raw"]):
        write_avec_predictions(path, result["name"], result["predictions"], label_names)
    for result, path in zip(results, files["postprocessed"]):
        write_avec_predictions(path, result["name"], result["postprocessed"], label_names)
    for result, path in zip(drawn, files["plots"]):
        path.parent.mkdir(parents=True, exist_ok=True)  # a name may hold subfolders (`spk1/a`)
        plot_recording(path, result["name"], result["gold"], result["predictions"], result["mask"], label_names,
                       result.get("postprocessed"))


def evaluate_seeds(run_dir: PathLike, data_dir: PathLike, partition: str, *, output_dir: Optional[PathLike] = None,
                   echo: Optional[Callable[[str], None]] = print, **evaluate_kwargs) -> dict:
    """Evaluate every `seed-<s>/` run of a multi-seed folder (each into its own
    `seed-<s>/evaluation/<folder>/`, named as `evaluate_run` names it) and write the mean ± sd over
    seeds per dimension to `output_dir` (default `RUN/evaluation/<folder>/`) as `seed_scores.json`:
    `{"partition", "label_names", "seeds", "ccc_raw": {key: {"mean", "sd", "values"}} (see
    `aggregate_ccc`), "ccc_postprocessed": the same or None, "runs": {seed: its scores.json}}`. `evaluate_kwargs` go to `evaluate_run`.
    """
    run_dir = Path(run_dir)
    runs = seed_run_dirs(run_dir)
    if not runs:
        raise InputFileError(run_dir, "no seed-<s>/ run folders (written by `emorec train --seeds N`)")
    per_seed = {seed: evaluate_run(folder, data_dir, partition, echo=None, **evaluate_kwargs)
                for seed, folder in runs.items()}
    label_names = next(iter(per_seed.values()))["label_names"]
    raw = aggregate_ccc({seed: s["ccc_raw"] for seed, s in per_seed.items()}, label_names)
    processed = {seed: s["ccc_postprocessed"] for seed, s in per_seed.items() if s["ccc_postprocessed"]}
    processed = aggregate_ccc(processed, label_names) if len(processed) == len(runs) else None
    summary = {
        "partition": partition,
        "label_names": label_names,
        "seeds": list(runs),
        "ccc_raw": raw["ccc"],
        "ccc_postprocessed": processed["ccc"] if processed else None,
        "runs": {seed: str(Path(s["output_dir"]) / "scores.json") for seed, s in per_seed.items()},
    }
    # The seeds' folders are named for their protocol (boundaries, outputs): the summary's the same.
    seed_folder_name = Path(next(iter(per_seed.values()))["output_dir"]).name
    output_dir = Path(output_dir) if output_dir is not None else run_dir / "evaluation" / seed_folder_name
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / SEED_SCORES_FILENAME).write_text(json.dumps(summary, indent=2), encoding="utf-8")
    if echo is not None:
        echo(format_seed_summary(raw, partition))
        if processed:
            echo(format_seed_summary(processed, f"{partition} post-processed"))
        echo(f"per-seed results in {run_dir}/seed-*/evaluation/{seed_folder_name}; "
             f"summary in {output_dir / SEED_SCORES_FILENAME}")
    return summary


def _apply_output_protocol(results: List[dict], run_dir: Path, info: dict, config: ExperimentConfig, data_dir: PathLike,
                           partition: str, pool: str, output_statistics: str) -> dict:
    """Replace each result's `predictions` with the protocol's outputs; what scores.json records of it."""
    predictions = [r["predictions"] for r in results]
    outputs: dict = {"pool": pool, "output_statistics": output_statistics}
    if pool == "recording":
        predictions = pool_recordings(predictions)
    if output_statistics == "speaker":
        speakers = recording_speakers(data_dir, partition, needed_by="output_statistics 'speaker'")
        # The targets the model was trained towards: the training partition of the folder it
        # trained on (the scored folder's when run.json does not say).
        train_dir = info.get("data_dir") or data_dir
        if not Path(train_dir).is_dir():
            train_dir = data_dir
        require_intact(train_dir, [config.data.train_partition])
        mean, sd = label_statistics(train_dir, config.data.train_partition)
        predictions = standardise_per_speaker(predictions, [speakers[r["name"]] for r in results], mean, sd)
        label_names = list(info["label_names"])
        outputs.update(target_mean=dict(zip(label_names, np.round(mean, 6).tolist())),
                       target_sd=dict(zip(label_names, np.round(sd, 6).tolist())),
                       target_statistics_from=f"{train_dir}: {config.data.train_partition}",
                       speakers=len(set(speakers.values())))
    for result, values in zip(results, predictions):
        result["predictions"] = values
    return outputs


def _semantic_dir(info: dict, config: ExperimentConfig, data_dir: PathLike, semantic_dir: Optional[PathLike],
                  run_dir: Path) -> Optional[Path]:
    """The semantic features folder to evaluate with (None for a model without the branch): that of
    the config's evaluation boundaries (`model.semantic_features.evaluation_boundaries`, e.g. the segmenter
    for a model trained on given boundaries), `<data_dir>/semantic/<source>-<boundaries>/`."""
    if config.model.semantic_features.source == "none":
        return None
    evaluated = config.model.semantic_features.at_evaluation()
    # The run's own features folder only when it holds the evaluation boundaries' features.
    if semantic_dir is None and info.get("semantic_features") and \
            evaluated.boundaries == config.model.semantic_features.boundaries and \
            Path(data_dir).resolve() == Path(info.get("data_dir", "")).resolve():
        semantic_dir = info["semantic_features"]
    resolved = resolve_semantic_features(data_dir, evaluated, segmenter=config.semantic.segmenter,
                                         features_dir=semantic_dir, config_source=str(run_dir / CONFIG_FILENAME))
    return resolved[0]


def evaluation_semantic_dir(run_dir: PathLike, data_dir: Optional[PathLike] = None) -> Optional[Path]:
    """The semantic features folder `evaluate_run` reads for the run in `run_dir` (None for a model
    without a semantic branch): that of the run config's evaluation boundaries on `data_dir`
    (default: the converted folder the run trained on, from run.json). Raises what `evaluate_run`
    raises for a missing folder or one its config does not describe (other boundaries, dim or
    segmenter settings)."""
    run_dir = Path(run_dir)
    info = load_run_info(run_dir)
    config: ExperimentConfig = load_config(run_dir / CONFIG_FILENAME)
    if data_dir is None:
        if not info.get("data_dir"):
            raise InputFileError(run_dir / RUN_INFO_FILENAME, "records no data_dir (the converted folder the run "
                                                              "trained on): pass the one to read the features of")
        data_dir = info["data_dir"]
    return _semantic_dir(info, config, data_dir, None, run_dir)


def _postprocessor(run_dir: Path, model, model_path: Path, data_dir, config: ExperimentConfig, label_names,
                   partition: str, results: List[dict], variance: str,
                   semantic_dir: Optional[Path] = None) -> Postprocessor:
    """Fit on devel (and save it), or load the one fitted on this folder's devel, with this model
    and variance, for any other partition."""
    path = postprocess_path(run_dir, data_dir)
    devel = config.data.devel_partition
    fitted_on = {"data_dir": str(Path(data_dir).resolve()), "partition": devel, "model": str(Path(model_path).resolve()),
                 "variance": variance}
    if partition != devel and path.is_file():
        saved = json.loads(path.read_text(encoding="utf-8"))
        if saved.get("fitted_on") == fitted_on:
            return Postprocessor.from_dict(saved)
    if partition != devel:
        require_intact(data_dir, [devel])
    devel_results = results if partition == devel else predict_partition(
        model, data_dir, devel, label_names, config.evaluation.batch_recordings, semantic_dir,
        normalisation=config.data.normalisation, group_by_speaker=config.model.feature_statistics == "speaker")
    postprocessor = Postprocessor.fit(
        [r["predictions"] for r in devel_results], [r["gold"] for r in devel_results],
        [r["mask"] for r in devel_results], label_names,
        max_delay_frames=config.evaluation.max_delay_frames,
        median_windows=config.evaluation.median_windows, variance=variance)
    path.write_text(json.dumps({"fitted_on": fitted_on, **postprocessor.to_dict()}, indent=2), encoding="utf-8")
    return postprocessor
