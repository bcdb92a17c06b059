"""The command line takes its choices and defaults from the library, so the two cannot drift: a
default changed in the library is the CLI's default too."""
import click

from emorec.cli import cli


def params_of(*verbs: str) -> dict:
    command = cli
    for verb in verbs:
        command = command.commands[verb]
    return {param.name: param for param in command.get_params(click.Context(command))}


def test_predict_defaults_are_predict_files(monkeypatch):
    import emorec.export.predict as predict

    def predict_files(paths, model=None, *, output_format="avec", chunk_s=12.5, batch_audio_s=0.0):
        raise AssertionError("not called")

    monkeypatch.setattr(predict, "predict_files", predict_files)
    monkeypatch.setattr(predict, "OUTPUT_FORMATS", ("avec", "csv", "other"))
    params = params_of("predict")
    assert (params["output_format"].default, params["chunk_s"].default, params["batch_audio_s"].default) == (
        "avec", 12.5, 0.0)
    assert list(params["output_format"].type.choices) == ["avec", "csv", "other"]


def test_convert_defaults_and_choices_are_the_converters():
    from tfrecords_tools.convert import DEFAULT_TARGET_SHARD_MB, ON_ERROR
    from tfrecords_tools.labels import LABEL_LENGTH_POLICIES
    from tfrecords_tools.words import WORD_TIMING_MODES

    params = params_of("convert")
    assert params["target_shard_mb"].default == DEFAULT_TARGET_SHARD_MB
    assert list(params["on_error"].type.choices) == list(ON_ERROR)
    assert list(params["label_length_policy"].type.choices) == list(LABEL_LENGTH_POLICIES)
    assert list(params["word_timing"].type.choices) == list(WORD_TIMING_MODES)
    assert (params["on_error"].default, params["label_length_policy"].default, params["word_timing"].default) == (
        "fail", "mask", "auto")


def test_semantic_partitions_default_is_the_runs(monkeypatch):
    import emorec.semantic.run as run

    def run_word2vec(source, output, config=None, *, partitions=("devel", "train")):
        raise AssertionError("not called")

    monkeypatch.setattr(run, "run_word2vec", run_word2vec)
    assert list(params_of("semantic", "word2vec")["partitions"].default) == ["devel", "train"]
    assert list(params_of("semantic", "speech2vec")["partitions"].default) == ["train"]


def test_evaluate_choices_are_the_configs():
    params = params_of("evaluate")
    assert list(params["pool"].type.choices) == ["frame", "recording"]
    assert list(params["variance"].type.choices) == ["population", "sample"]
    assert list(params["boundaries"].type.choices) == ["given", "segmenter"]
    assert list(params["output_statistics"].type.choices) == ["none", "speaker"]
    features = params_of("semantic", "features")
    assert list(features["source"].type.choices) == ["word2vec", "speech2vec", "aligned_speech2vec"]
