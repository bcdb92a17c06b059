"""The `emorec` command line: a thin click shell over the Python API.

Each verb parses options, calls one library function and prints its result. Any `EmorecError`
becomes a one-line message on stderr and exit status 1.
"""
from __future__ import annotations

import errno
import inspect
import math
import sys

import click

from emorec.config import PRECISIONS, STRATEGIES, EvaluationConfig, SemanticFeaturesConfig, literal_choices
from emorec.errors import EmorecError

CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}


class FiniteFloatRange(click.FloatRange):
    """A float option within a range that also refuses nan and inf: FloatRange lets nan through
    (every comparison with it is false), and a nan or inf duration makes no sense anywhere."""

    name = "float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


#: Seconds that must be > 0 (chunk lengths, duration limits).
POSITIVE_SECONDS = FiniteFloatRange(min=0, min_open=True)
#: Seconds that may be 0 (where 0 switches something off).
NON_NEGATIVE_SECONDS = FiniteFloatRange(min=0)


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="emorec")
@click.option("--verbose", is_flag=True,
              help="Show TensorFlow's and absl's log lines and every Keras metric (hidden by default).")
def cli(verbose) -> None:
    """Continuous speech emotion recognition: convert data, train, evaluate, export, predict."""
    from emorec.data.console import quiet_library_logs, set_verbose

    # Before any verb imports TensorFlow: its C++ log level is read once, at import.
    set_verbose(verbose)
    if not verbose:
        quiet_library_logs()


# --- convert / info (tfrecords_tools) ---------------------------------------------------------------
def _audio_limit_options(command):
    """--max-duration-s / --allow-sample-rate, shared by convert and predict (emorec.data.audio.AudioLimits)."""
    from emorec.data.audio import DEFAULT_MAX_DURATION_S

    command = click.option("--allow-sample-rate", is_flag=True,
                           help="Accept sample rates outside 1 kHz-384 kHz (usually a corrupt header).")(command)
    return click.option("--max-duration-s", type=POSITIVE_SECONDS, default=DEFAULT_MAX_DURATION_S,
                        help="Refuse audio files longer than this (seconds).")(command)


class LibraryParamsCommand(click.Command):
    """A command with options whose choices and defaults are read from the library
    (`library_params()`: a list of click params, put first or after the param named `after`),
    built when the command parses or shows its help: importing the library (TensorFlow for the
    dataset layouts, pandas for prediction) is what `emorec --help` and the other verbs must not
    wait for."""

    def __init__(self, *args, library_params, after=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.library_params = library_params
        self.after = after

    def get_params(self, ctx):
        if not hasattr(self, "base_params"):
            self.base_params = list(self.params)
        at = [param.name for param in self.base_params].index(self.after) + 1 if self.after else 0
        self.params = self.base_params[:at] + self.library_params() + self.base_params[at:]
        return super().get_params(ctx)


def default_of(function, argument: str):
    """The default of `function`'s keyword `argument`: the command line's default is the Python
    API's, written once, in the library."""
    return inspect.signature(function).parameters[argument].default


def convert_params():
    """`--layout`, the options whose choices and defaults are `convert_dataset`'s, and one option
    per distinct layout option name, its help naming the layouts that take it."""
    from tfrecords_tools import available_layouts, convert_dataset
    from tfrecords_tools.convert import ON_ERROR
    from tfrecords_tools.labels import LABEL_LENGTH_POLICIES
    from tfrecords_tools.words import WORD_TIMING_MODES

    layouts = available_layouts()
    params = [click.Option(["--layout"], type=click.Choice(list(layouts)), required=True,
                           help="Source dataset layout: " + "; ".join(f"{n}: {l.summary}" for n, l in layouts.items())),
              click.Option(["--on-error"], type=click.Choice(ON_ERROR), default=default_of(convert_dataset, "on_error"),
                           help="fail: stop at the first bad file; skip: leave it out and list it in the manifest."),
              click.Option(["--target-shard-mb"], type=float, default=default_of(convert_dataset, "target_shard_mb"),
                           help="Target size of one TFRecord shard."),
              click.Option(["--label-length-policy"], type=click.Choice(LABEL_LENGTH_POLICIES),
                           default=default_of(convert_dataset, "label_length_policy"),
                           help="Label track shorter than the audio: mask the missing frames, repeat the edge as "
                                "real, or fail."),
              click.Option(["--word-timing"], type=click.Choice(WORD_TIMING_MODES),
                           default=default_of(convert_dataset, "word_timing"),
                           help="Sentence transcripts -> word times (auto: a given word-timing file if present, "
                                "else proportional).")]
    owners = {}
    for layout in layouts.values():
        for option in layout.options:
            owners.setdefault(option.name, (option, []))[1].append(layout.name)
    for option, names in owners.values():
        kinds = {"int": {"type": int}, "flag": {"is_flag": True},
                 "file": {"type": click.Path(exists=True, dir_okay=False)}}
        default = option.default if option.default not in (None, False, [], ()) else None
        shown = f" [default: {','.join(map(str, default)) if isinstance(default, list) else default}]" \
            if default is not None and len(names) == 1 else ""
        params.append(click.Option([option.flag_name], default=None, show_default=False,
                                   help=f"{', '.join(names)}: {option.help}{shown}", **kinds.get(option.kind, {})))
    return params


@cli.command(cls=LibraryParamsCommand, library_params=convert_params, context_settings=CONTEXT)
@click.argument("source", type=click.Path(path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@click.option("--overwrite", is_flag=True, help="Replace an existing conversion in OUTPUT.")
@click.option("--workers", type=int, default=None, help="Parallel decoding threads [default: min(4, CPUs)].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_audio_limit_options
def convert(layout, source, output, on_error, overwrite, workers, target_shard_mb, label_length_policy, word_timing,
            quiet, max_duration_s, allow_sample_rate, **layout_values) -> None:
    """Convert a dataset at SOURCE into sharded TFRecords and a manifest in OUTPUT."""
    from tfrecords_tools import convert_dataset, get_layout

    given = {name: value for name, value in layout_values.items() if value not in (None, False)}
    takes = {option.name for option in get_layout(layout).options}
    foreign = sorted(name for name in given if name not in takes)
    if foreign:
        flags = ", ".join("--" + name.replace("_", "-") for name in foreign)
        raise click.UsageError(f"{flags}: not an option of --layout {layout} (its options: "
                               f"{', '.join('--' + n.replace('_', '-') for n in sorted(takes)) or 'none'})")
    report = convert_dataset(layout, source, output, on_error=on_error, overwrite=overwrite, workers=workers,
                             target_shard_mb=target_shard_mb, label_length_policy=label_length_policy,
                             word_timing=word_timing, progress=not quiet, max_duration_s=max_duration_s,
                             allow_any_sample_rate=allow_sample_rate, **given)
    click.echo(report.summary())


@cli.command(context_settings=CONTEXT)
@click.argument("directory", type=click.Path(path_type=str))
@click.option("--verify", is_flag=True,
              help="Also read every shard: checksums and record counts against the manifest (exit 1 on a mismatch).")
def info(directory, verify) -> None:
    """Print what a converted folder holds: recordings, frames, duration, words, label statistics."""
    from emorec.data.manifest import read_manifest
    from emorec.errors import DatasetError
    from tfrecords_tools.report import format_info

    manifest = read_manifest(directory)
    click.echo(format_info(manifest, directory))
    if verify:
        from emorec.data.verify import verify_converted

        problems = verify_converted(directory, manifest)
        shards = sum(len(entry["shards"]) for entry in manifest["partitions"].values())
        if problems:
            listed = "; ".join(f"{name}: {problem}" for name, problem in problems)
            raise DatasetError(f"{directory}: {len(problems)} problem(s) in {shards} shards ({listed}); "
                               "convert the dataset again")
        click.echo(f"verified: {shards} shards read to the end, record counts and checksums match")


# --- train / evaluate / demo (emorec.training, emorec.evaluation, emorec.experiments.demo) -------------
def set_option(scope: str = "the config", example: str = "data.sequence_frames=300"):
    """`--set KEY=VALUE`: the same override option on every verb that reads a config; the values
    are parsed and validated by `emorec.config.apply_overrides`."""
    return click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                        help=f"Override a value of {scope}, e.g. --set {example} "
                             "(dotted key, YAML value, checked like the file; repeatable).")


@cli.command(context_settings=CONTEXT)
@click.option("--config", "config_path", type=click.Path(path_type=str), required=True, help="Experiment YAML.")
@click.option("--data", "data_dir", type=click.Path(path_type=str), required=True, help="Converted folder.")
@click.option("--run-dir", type=click.Path(path_type=str), required=True,
              help="Run folder (config, checkpoints, logs); an unfinished run there resumes.")
@click.option("--strategy", type=click.Choice(STRATEGIES), default=None,
              help="tf.distribute strategy [default: the config's].")
@click.option("--precision", type=click.Choice(PRECISIONS), default=None,
              help="Compute precision; auto: mixed_bfloat16 where the CPU or GPU has bfloat16 arithmetic, "
                   "else float32 [default: the config's, auto unless it says otherwise].")
@click.option("--epochs", type=int, default=None, help="Epochs [default: the config's].")
@set_option()
@click.option("--seeds", type=int, default=None,
              help="Train N runs (the config's seed, +1, ...) into RUN/seed-<s>/ and report mean ± sd per dimension.")
def train(config_path, data_dir, run_dir, strategy, precision, epochs, overrides, seeds) -> None:
    """Train the model of an experiment config on a converted folder."""
    import logging

    from emorec.config import apply_overrides, load_config

    # Checked before TensorFlow is imported: a mistyped key fails in a second, and nothing is written.
    config = apply_overrides(load_config(config_path), overrides)
    from emorec.training import train_model

    # Show the precision `auto` chose (logged once by emorec.training.precision).
    precision_logger = logging.getLogger("emorec.training.precision")
    precision_logger.setLevel(logging.INFO)
    if not precision_logger.handlers:
        precision_logger.addHandler(logging.StreamHandler(sys.stderr))

    if seeds is not None:
        from emorec.training.seeds import train_seeds

        train_seeds(config, data_dir, run_dir, seeds, echo=click.echo, strategy=strategy,
                    precision=precision, epochs=epochs)
        return
    history = train_model(config, data_dir, run_dir, strategy=strategy, precision=precision,
                          epochs=epochs)
    # NaN (or absent) in every epoch: trained without a development set (data.devel_partition: null).
    scores = [value for value in history.get("val_mean_ccc", []) if value == value]
    best = f"best development mean CCC {max(scores):.4f}" if scores else "no development score"
    epochs_run = len(history.get("epoch", []))
    click.echo(f"trained {epochs_run} epoch{'' if epochs_run == 1 else 's'}; {best}; run in {run_dir}")


@cli.command(context_settings=CONTEXT)
@click.option("--run-dir", type=click.Path(path_type=str), required=True, help="Run folder written by `emorec train`.")
@click.option("--data", "data_dir", type=click.Path(path_type=str), required=True, help="Converted folder.")
@click.option("--partition", default="test", help="Partition to score (devel, test, ...).")
@click.option("--out", "output_dir", type=click.Path(path_type=str), default=None,
              help="Output folder [default: RUN/evaluation/<data folder name>-PARTITION].")
@click.option("--overwrite", is_flag=True, help="Replace an evaluation already in the output folder.")
@click.option("--postprocess/--no-postprocess", default=None,
              help="Post-processing fitted on devel [default: the run config's evaluation.postprocess].")
@click.option("--variance", type=click.Choice(literal_choices(EvaluationConfig, "variance")), default=None,
              help="CCC variance convention [default: the run config's, population as AVEC].")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots.")
@click.option("--boundaries", type=click.Choice(literal_choices(SemanticFeaturesConfig, "boundaries")), default=None,
              help="Word boundaries of a semantic model's features [default: the run config's evaluation "
                   "boundaries]; e.g. `given` scores a model evaluated the paper's way with the transcript's words too "
                   "(output folder ...-given-boundaries).")
@click.option("--pool", type=click.Choice(literal_choices(EvaluationConfig, "pool")), default=None,
              help="Outputs scored: each frame's, or each recording's mean on all its frames (one output per "
                   "recording, e.g. per EmoDB utterance, as an utterance-level baseline gives; output folder "
                   "...-recording-mean) [default: the run config's evaluation.pool].")
@click.option("--output-statistics", type=click.Choice(literal_choices(EvaluationConfig, "output_statistics")),
              default=None,
              help="speaker: each speaker's outputs standardised over their recordings in the partition and mapped "
                   "onto the training targets' mean and sd (speaker statistics, transductive; output folder "
                   "...-speaker-outputs) [default: the run config's evaluation.output_statistics].")
def evaluate(run_dir, data_dir, partition, output_dir, overwrite, postprocess, variance, no_plots, boundaries, pool,
             output_statistics) -> None:
    """Score a trained run: CCC per dimension pooled over a partition, raw and post-processed AVEC
    predictions, plots and a self-contained report.html.

    On a multi-seed folder (`train --seeds N`) each seed is scored and mean ± sd reported."""
    from emorec.evaluation import evaluate_run

    evaluate_run(run_dir, data_dir, partition, output_dir=output_dir, plot=not no_plots, postprocess=postprocess,
                 variance=variance, echo=click.echo, overwrite=overwrite, boundaries=boundaries, pool=pool,
                 output_statistics=output_statistics)


@cli.command(context_settings=CONTEXT)
@click.option("--workdir", type=click.Path(path_type=str), default="emorec-demo",
              help="Folder for the generated data, the converted data and the run.")
@click.option("--epochs", type=int, default=None, help="Epochs [default: emorec/resources/demo.yaml's].")
@set_option("emorec/resources/demo.yaml")
def demo(workdir, epochs, overrides) -> None:
    """Generate a small learnable dataset, convert, train, evaluate, and print the CCC table."""
    from emorec.config import apply_overrides
    from emorec.experiments.demo import demo_config, run_demo

    run_demo(workdir, config=apply_overrides(demo_config(), overrides), epochs=epochs, echo=click.echo)


# --- export / predict (emorec.export) -------------------------------------------------------------
@cli.command(context_settings=CONTEXT)
@click.option("--run-dir", type=click.Path(path_type=str), required=True,
              help="Training run folder (the model named in its run.json is exported: the best on development, or the last epoch without one).")
@click.option("--out", type=click.Path(path_type=str), required=True,
              help="saved_model: the model's folder in TF Serving's layout (saved_models/NAME); onnx: the .onnx file.")
@click.option("--version", "model_version", type=int, default=None, help="SavedModel version [default: next free].")
@click.option("--format", "export_format", type=click.Choice(["saved_model", "onnx"]), default="saved_model",
              help="SavedModel for TensorFlow Serving, or ONNX (needs the `onnx` extra).")
def export(run_dir, out, model_version, export_format) -> None:
    """Export a trained model for serving: SavedModel (waveform in, per-frame affect out) or ONNX."""
    if export_format == "onnx":
        from emorec.data.console import is_verbose, native_log_filter
        from emorec.export.onnx import export_onnx

        # tf2onnx's grappler pass logs through absl's C++ logging, which TF_CPP_MIN_LOG_LEVEL misses.
        with native_log_filter(enabled=not is_verbose()):
            onnx_path = export_onnx(run_dir, out)
        click.echo(f"wrote {onnx_path}")
        return
    from emorec.export.saved_model import export_saved_model

    click.echo(f"wrote {export_saved_model(run_dir, out, version=model_version)}")


def predict_params():
    """The options of `emorec predict` whose choices and defaults are `predict_files`'."""
    from emorec.export.predict import OUTPUT_FORMATS, predict_files

    return [
        click.Option(["--format", "output_format"], type=click.Choice(OUTPUT_FORMATS),
                     default=default_of(predict_files, "output_format"),
                     help="csv: header file,start_s,end_s,<dims>; avec: the headerless AVEC label layout "
                          "('name';time_s;dim1;...)."),
        click.Option(["--chunk-s"], type=POSITIVE_SECONDS, default=default_of(predict_files, "chunk_s"),
                     help="Seconds of audio per model call for longer files (LSTM state carries over)."),
        click.Option(["--batch-s", "batch_audio_s"], type=NON_NEGATIVE_SECONDS,
                     default=default_of(predict_files, "batch_audio_s"),
                     help="Padded seconds of audio per model call that batches shorter files (0: one call per file)."),
    ]


@cli.command(cls=LibraryParamsCommand, library_params=predict_params, after="out_dir", context_settings=CONTEXT)
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--model", "model_dir", type=click.Path(path_type=str), default=None,
              help="Exported model folder (saved_models/NAME or one version of it) "
                   "[default: the shipped saved_models/emodb_paralinguistic, package data in a wheel install].")
@click.option("--out", "out_dir", type=click.Path(path_type=str), default="predictions",
              help="Folder for one CSV (and PNG) per file, at its path relative to the inputs' common folder "
                   "plus .csv (spk1/talk.wav -> OUT/spk1/talk.wav.csv).")
@click.option("--overwrite", is_flag=True, help="Replace existing output files (refused otherwise).")
@click.option("--plot", is_flag=True, help="Also write a PNG of the curves per file.")
@click.option("--summary", is_flag=True,
              help="Also write OUT/summary.csv: one row per file with its duration and mean prediction per "
                   "dimension (one output per file, e.g. per utterance), and the error of any file that failed.")
@click.option("--words", "words_csv", type=click.Path(path_type=str), default=None,
              help="Word timings CSV (file,word,start_s,end_s): needed by a semantic model exported with given "
                   "boundaries; a segmenter export uses them instead of segmenting the audio.")
@click.option("--workers", type=int, default=None, help="Decoding threads [default: min(4, CPUs)].")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@_audio_limit_options
def predict(audio, model_dir, out_dir, output_format, overwrite, plot, summary, chunk_s, batch_audio_s, words_csv,
            workers, quiet, max_duration_s, allow_sample_rate) -> None:
    """Predict affect curves (10 per second) for AUDIO files of any rate, channel count and format."""
    from emorec.export.predict import default_model_dir, predict_files, text_name

    report = predict_files(audio, model_dir or default_model_dir(), out_dir=out_dir, output_format=output_format,
                           overwrite=overwrite, plot=plot, chunk_s=chunk_s, words_csv=words_csv,
                           batch_audio_s=batch_audio_s, workers=workers, progress=not quiet,
                           max_duration_s=max_duration_s, allow_any_sample_rate=allow_sample_rate, summary=summary)
    # Escaped: a file name that is not UTF-8 cannot be printed to a UTF-8 stdout as it is.
    for message in report.errors.values():
        click.echo(f"error: {text_name(message)}", err=True)
    click.echo(f"{report.summary()} -> {text_name(out_dir)}")
    if report.errors:
        raise EmorecError(f"{len(report.errors)} of {len(report.errors) + len(report.tables)} files failed")


# --- semantic branch (emorec.semantic) ------------------------------------------------------------
@cli.group("semantic", context_settings=CONTEXT)
def semantic() -> None:
    """Semantic branch: Word2Vec, Speech2Vec, alignment (eq. 1-3), frame-level features.

    Each verb's hyper-parameters are a section of an experiment config (`semantic.word2vec`,
    `semantic.speech2vec`, `semantic.alignment`, `semantic.segmenter`): --config names the file,
    --set overrides a value, e.g. --set semantic.alignment.adversarial_restarts=5."""


def _semantic_report(report: dict, as_json: bool, summary) -> None:
    """The report as a readable summary (`summary(report)`), or as JSON with --json."""
    import json

    click.echo(json.dumps(report, indent=2, default=str) if as_json else summary(report))


def json_option():
    return click.option("--json", "as_json", is_flag=True, help="Print the full report as JSON instead of a summary.")


def _semantic_section(config_path, overrides, section: str):
    """The `semantic.<section>` of the experiment config (defaults without --config), after the
    --set overrides."""
    from emorec.config import ExperimentConfig, apply_overrides, load_config

    config = load_config(config_path) if config_path else ExperimentConfig()
    return getattr(apply_overrides(config, overrides).semantic, section)


def _semantic_config_options(section: str, example: str):
    """--config and --set of a semantic verb: its hyper-parameters are the config's
    `semantic.<section>`; `example`: a `KEY=VALUE` of that section for the help."""
    def decorate(command):
        command = set_option(example=f"semantic.{section}.{example}")(command)
        return click.option("--config", "config_path", type=click.Path(exists=True, dir_okay=False, path_type=str),
                            default=None, help=f"Experiment YAML whose semantic.{section} section holds the "
                                               "settings [default: the built-in defaults].")(command)
    return decorate


def _partitions_params(function_name: str, what: str):
    """The `library_params` of a verb that reads a converted dataset: --partition (repeatable),
    its default that of `emorec.semantic.run.<function_name>`."""
    def params():
        from emorec.semantic import run

        return [click.Option(["--partition", "partitions"], multiple=True,
                             default=list(default_of(getattr(run, function_name), "partitions")),
                             help=f"Converted dataset only: partitions whose {what} are used.")]
    return params


@semantic.command("word2vec", cls=LibraryParamsCommand,
                  library_params=_partitions_params("run_word2vec", "transcripts"), context_settings=CONTEXT)
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.argument("output", type=click.Path(dir_okay=False, path_type=str))
@_semantic_config_options("word2vec", "min_count=1")
@click.option("--neighbours", default="", help="Comma-separated words whose nearest neighbours to print.")
@json_option()
def semantic_word2vec(source, output, config_path, overrides, partitions, neighbours, as_json) -> None:
    """Train Word2Vec on SOURCE (a folder of text files, or a converted dataset's transcripts) and
    save the vectors to OUTPUT (word2vec binary format, e.g. ART/word2vec.bin)."""
    config = _semantic_section(config_path, overrides, "word2vec")
    from emorec.semantic.run import format_word2vec_report, run_word2vec

    _semantic_report(run_word2vec(source, output, config, partitions=partitions,
                                  neighbours=[w for w in neighbours.split(",") if w]),
                     as_json, format_word2vec_report)


@semantic.command("speech2vec", cls=LibraryParamsCommand,
                  library_params=_partitions_params("run_speech2vec", "word segments"), context_settings=CONTEXT)
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=str))
@click.argument("output_dir", type=click.Path(file_okay=False, path_type=str))
@_semantic_config_options("speech2vec", "epochs=6")
@click.option("--hold-out-speakers", default="", help="Comma-separated speakers kept out of training and scored.")
@json_option()
def semantic_speech2vec(source, output_dir, config_path, overrides, partitions, hold_out_speakers, as_json) -> None:
    """Train Speech2Vec on the word segments of SOURCE (a converted dataset, a folder with
    word_timings.csv, or a TIMIT-style folder with .wrd files); save encoder and word vectors."""
    config = _semantic_section(config_path, overrides, "speech2vec")
    from emorec.semantic.run import format_speech2vec_report, run_speech2vec

    _semantic_report(run_speech2vec(source, output_dir, config, partitions=partitions,
                                    held_out_speakers=[s for s in hold_out_speakers.split(",") if s]),
                     as_json, format_speech2vec_report)


@semantic.command("align", context_settings=CONTEXT)
@click.argument("source_vectors", type=click.Path(exists=True, path_type=str))
@click.argument("target_vectors", type=click.Path(exists=True, dir_okay=False, path_type=str))
@click.argument("output", type=click.Path(dir_okay=False, path_type=str))
@_semantic_config_options("alignment", "adversarial_restarts=5")
@json_option()
def semantic_align(source_vectors, target_vectors, output, config_path, overrides, as_json) -> None:
    """Learn W mapping SOURCE_VECTORS (Speech2Vec folder or word2vec file) into TARGET_VECTORS' space (word2vec file);
    save W as .npy in OUTPUT and print precision at 1/5 with chance levels. Unsupervised (adversarial, then
    Procrustes refinement) unless the config says `semantic.alignment.supervised: true`."""
    config = _semantic_section(config_path, overrides, "alignment")
    from emorec.semantic.run import format_align_report, run_align

    _semantic_report(run_align(source_vectors, target_vectors, output, config),
                     as_json, format_align_report)


#: Where the frame vectors of `emorec semantic features` come from: every source but "none".
_FEATURE_SOURCES = tuple(source for source in literal_choices(SemanticFeaturesConfig, "source") if source != "none")


@semantic.command("features", context_settings=CONTEXT)
@click.argument("converted", type=click.Path(exists=True, file_okay=False, path_type=str))
@_semantic_config_options("segmenter", "threshold_db=25")
@click.option("--source", type=click.Choice(_FEATURE_SOURCES), default="aligned_speech2vec",
              help="What the frame vectors are.")
@click.option("--boundaries", type=click.Choice(literal_choices(SemanticFeaturesConfig, "boundaries")),
              default="given", help="Word boundaries: the converted word timings, or the transcript-free segmenter "
                                    "(its settings: the config's semantic.segmenter).")
@click.option("--artefacts", "artefacts_dir", type=click.Path(exists=True, file_okay=False, path_type=str),
              required=True, help="Folder with word2vec.bin, speech2vec/ and alignment.npy.")
@click.option("--partition", "partitions", multiple=True, default=None, help="Partitions [default: all].")
@click.option("--out", "output_dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Output folder [default: CONVERTED/semantic/SOURCE-BOUNDARIES].")
@json_option()
def semantic_features(converted, config_path, overrides, source, boundaries, artefacts_dir, partitions, output_dir,
                      as_json) -> None:
    """Write frame-level semantic features (zeros where no word) for every recording of CONVERTED."""
    config = _semantic_section(config_path, overrides, "segmenter")
    from emorec.semantic.run import format_features_report, run_features

    _semantic_report(run_features(converted, source, boundaries, artefacts_dir, config, partitions=partitions,
                                  output_dir=output_dir, progress=True),
                     as_json, format_features_report)


# --- ablation: the paper's tables (emorec.experiments.ablation) -------------------------------------
@cli.command(context_settings=CONTEXT)
@click.option("--configs", "first_config", required=True, type=click.Path(path_type=str),
              help="Experiment YAMLs, e.g. --configs configs/paper/table3_*.yaml (a quoted glob is expanded too).")
@click.argument("more_configs", nargs=-1, type=click.Path(path_type=str))
@click.option("--data", "data_dir", type=click.Path(path_type=str), required=True, help="Converted folder.")
@click.option("--runs", "runs_root", type=click.Path(path_type=str), required=True,
              help="Folder of run folders, one per config (named after the config file).")
@click.option("--epochs", type=int, default=None, help="Epochs for every config [default: each config's].")
@set_option("every config")
@click.option("--partition", default=None,
              help="Partition the table scores [default: the configs' evaluation.partition, else test].")
@click.option("--postprocess", is_flag=True, help="Score post-processed predictions (fitted on devel), not raw ones.")
@click.option("--seeds", type=int, default=None,
              help="Train each config with N seeds (RUNS/<config>/seed-<s>/) and print mean ± sd per cell.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=str), default=None, help="Also write the table here.")
def ablation(first_config, more_configs, data_dir, runs_root, epochs, overrides, partition, postprocess, seeds,
             out) -> None:
    """Train each config on DATA and print one markdown table: CCC per dimension and mean, a row each."""
    import glob

    from emorec.experiments.ablation import run_ablation

    paths = []
    for pattern in (first_config, *more_configs):
        paths.extend(sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern])
    run_ablation(paths, data_dir, runs_root, epochs=epochs, overrides=overrides, partition=partition,
                 postprocess=postprocess, seeds=seeds, out=out, echo=click.echo)


def main() -> None:
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(130)
    except click.ClickException as error:
        error.show()
        sys.exit(error.exit_code)
    except EmorecError as error:
        from emorec.data.console import printable

        click.echo(f"error: {printable(error)}", err=True)  # messages quote names from files
        sys.exit(1)
    except OSError as error:
        # A full disk, a read-only or forbidden folder, or a file where a folder should be: the
        # user's environment, not a bug, so one line naming the path instead of a traceback.
        # Every writer publishes by rename, so nothing complete-looking is left behind.
        advice = _OS_ERROR_ADVICE.get(error.errno)
        if advice is None:
            raise
        click.echo(f"error: {error.filename or error.filename2 or 'output'}: {error.strerror}; {advice}", err=True)
        sys.exit(1)


_OS_ERROR_ADVICE = {
    errno.ENOSPC: "free some space or write elsewhere",
    errno.EDQUOT: "free some space or write elsewhere",
    errno.EROFS: "the file system is read-only; write elsewhere",
    errno.EACCES: "no permission to write there; write elsewhere",
    errno.EPERM: "no permission to write there; write elsewhere",
    errno.ENOTDIR: "a file stands where a folder is needed; choose another path",
    errno.EEXIST: "a file stands where a folder is needed; choose another path",
    errno.EISDIR: "a folder stands where a file is needed; choose another path",
}


if __name__ == "__main__":
    main()
