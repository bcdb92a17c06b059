"""The `emorec` command line: a thin click shell over the Python API.

Each verb parses options, calls one library function and prints its result. Any `EmorecError`
becomes a one-line message on stderr and exit status 1.
"""
from __future__ import annotations

import sys
from pathlib import Path

import click

from emorec.errors import EmorecError

CONTEXT = {"show_default": True, "help_option_names": ["-h", "--help"]}


@click.group(context_settings=CONTEXT)
@click.version_option(package_name="emorec")
def cli() -> None:
    """Continuous speech emotion recognition: convert data, train, evaluate, export, predict."""


# --- convert / info (tfrecords_tools) ---------------------------------------------------------------
def _speaker_list(value):
    return None if value is None else [s for s in value.replace(",", " ").split() if s]


@cli.command(context_settings=CONTEXT)
@click.option("--layout", type=click.Choice(["sewa", "emodb", "manifest"]), required=True, help="Source dataset layout.")
@click.argument("source", type=click.Path(path_type=str))
@click.argument("output", type=click.Path(path_type=str))
@click.option("--on-error", type=click.Choice(["fail", "skip"]), default="fail",
              help="fail: stop at the first bad file; skip: leave it out and list it in the manifest.")
@click.option("--overwrite", is_flag=True, help="Replace an existing conversion in OUTPUT.")
@click.option("--workers", type=int, default=None, help="Parallel decoding threads [default: min(4, CPUs)].")
@click.option("--target-shard-mb", type=float, default=256.0, help="Target size of one TFRecord shard.")
@click.option("--label-length-policy", type=click.Choice(["mask", "pad_edge", "error"]), default="mask",
              help="Label track shorter than the audio: mask the missing frames, repeat the edge as real, or fail.")
@click.option("--word-timing", type=click.Choice(["auto", "given", "proportional", "pocketsphinx"]), default="auto",
              help="Sentence transcripts -> word times (auto: a given word-timing file if present, else proportional).")
@click.option("--train-speakers", default=None, help="emodb: train speakers, e.g. '03,08,09,10,12,13' [default: see docs].")
@click.option("--devel-speakers", default=None, help="emodb: devel speakers [default: 11,14].")
@click.option("--test-speakers", default=None, help="emodb: test speakers [default: 15,16].")
@click.option("--label-map", type=click.Path(exists=True, dir_okay=False), default=None,
              help="emodb: category -> arousal/valence/dominance YAML [default: the packaged NRC VAD map].")
@click.option("--sessions", type=int, default=0, help="emodb: join each speaker's utterances into sessions of N (0: off).")
@click.option("--seed", type=int, default=0, help="emodb: seed of the session order.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def convert(layout, source, output, on_error, overwrite, workers, target_shard_mb, label_length_policy, word_timing,
            train_speakers, devel_speakers, test_speakers, label_map, sessions, seed, quiet) -> None:
    """Convert a dataset at SOURCE into sharded TFRecords and a manifest in OUTPUT."""
    from tfrecords_tools import convert_dataset

    layout_options = {}
    if layout == "emodb":
        layout_options = {"train_speakers": _speaker_list(train_speakers), "devel_speakers": _speaker_list(devel_speakers),
                          "test_speakers": _speaker_list(test_speakers), "label_map": label_map,
                          "sessions": sessions, "seed": seed}
    elif any([train_speakers, devel_speakers, test_speakers, label_map, sessions, seed]):
        raise click.UsageError("--train/devel/test-speakers, --label-map, --sessions and --seed apply to --layout emodb only")
    report = convert_dataset(layout, source, output, on_error=on_error, overwrite=overwrite, workers=workers,
                             target_shard_mb=target_shard_mb, label_length_policy=label_length_policy,
                             word_timing=word_timing, progress=not quiet, **layout_options)
    click.echo(report.summary())


@cli.command(context_settings=CONTEXT)
@click.argument("directory", type=click.Path(path_type=str))
def info(directory) -> None:
    """Print what a converted folder holds: recordings, frames, duration, words, label statistics."""
    from emorec.data.manifest import read_manifest
    from tfrecords_tools.report import format_info

    click.echo(format_info(read_manifest(directory), directory))


# --- export / predict (emorec.export) -------------------------------------------------------------
@cli.command(context_settings=CONTEXT)
@click.option("--run-dir", type=click.Path(path_type=str), required=True,
              help="Training run folder (its best .keras model is exported).")
@click.option("--out", type=click.Path(path_type=str), required=True,
              help="saved_model: the model's folder in TF Serving's layout (saved_models/NAME); onnx: the .onnx file.")
@click.option("--version", "model_version", type=int, default=None, help="SavedModel version [default: next free].")
@click.option("--format", "export_format", type=click.Choice(["saved_model", "onnx"]), default="saved_model",
              help="SavedModel for TensorFlow Serving, or ONNX (needs the `onnx` extra).")
def export(run_dir, out, model_version, export_format) -> None:
    """Export a trained model for serving: SavedModel (waveform in, per-frame affect out) or ONNX."""
    if export_format == "onnx":
        from emorec.export.onnx import export_onnx

        click.echo(f"wrote {export_onnx(run_dir, out)}")
        return
    from emorec.export.saved_model import export_saved_model

    click.echo(f"wrote {export_saved_model(run_dir, out, version=model_version)}")


@cli.command(context_settings=CONTEXT)
@click.argument("audio", nargs=-1, required=True, type=click.Path(path_type=str))
@click.option("--model", "model_dir", type=click.Path(path_type=str), default=None,
              help="Exported model folder (saved_models/NAME or one version of it) "
                   "[default: saved_models/emodb_paralinguistic].")
@click.option("--out", "out_dir", type=click.Path(path_type=str), default="predictions",
              help="Folder for one AVEC-layout CSV (and PNG) per file.")
@click.option("--plot", is_flag=True, help="Also write a PNG of the curves per file.")
@click.option("--chunk-s", type=float, default=30.0, help="Seconds of audio per model call (LSTM state carries over).")
def predict(audio, model_dir, out_dir, plot, chunk_s) -> None:
    """Predict affect curves (10 per second) for AUDIO files of any rate, channel count and format."""
    from emorec.export.predict import default_model_dir, predict_files

    report = predict_files(audio, model_dir or default_model_dir(), out_dir=out_dir, plot=plot, chunk_s=chunk_s)
    for path in audio:
        if str(path) in report.tables:
            click.echo(f"{path}: {len(report.tables[str(path)])} frames -> {Path(out_dir) / Path(path).stem}.csv")
        else:
            click.echo(f"error: {report.errors[str(path)]}", err=True)
    if report.errors:
        raise EmorecError(f"{len(report.errors)} of {len(audio)} files failed")


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
        click.echo(f"error: {error}", err=True)
        sys.exit(1)


if __name__ == "__main__":
    main()
