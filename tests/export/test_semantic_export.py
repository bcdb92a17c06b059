"""Export of models with a semantic branch: Speech2Vec + alignment computed in the graph."""
from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ

from .conftest import LABEL_NAMES, speech_like

DIM = 6


def tiny_encoder(seed: int = 0):
    """A randomly initialised Speech2Vec encoder (real `build_encoder_model`), MFCC stats set."""
    import keras

    from emorec.semantic.mfcc import MfccConfig
    from emorec.semantic.speech2vec import SpeechEncoder, Speech2VecConfig, build_encoder_model

    keras.utils.set_random_seed(seed)
    config = Speech2VecConfig(dim=5, encoder_units=4, max_frames=12)
    model = build_encoder_model(13, config)
    layer = model.get_layer("segment_encoder")
    rng = np.random.default_rng(seed)
    layer.feature_mean.assign(rng.normal(0, 5, 13).astype(np.float32))
    layer.feature_std.assign(rng.uniform(1, 10, 13).astype(np.float32))
    return SpeechEncoder(model, MfccConfig(), config.max_frames)


def tiny_linear_map(seed: int = 0):
    from emorec.semantic.alignment import LinearMap

    rng = np.random.default_rng(seed)
    return LinearMap(rng.normal(0, 1, (DIM, 5)).astype(np.float32), rng.normal(0, 0.1, 5).astype(np.float32))


def tiny_semantic_model(seed: int = 0):
    import keras

    from emorec.config import CNNConfig, ModelConfig
    from emorec.models import build_model

    keras.utils.set_random_seed(seed)
    config = ModelConfig(cnn=CNNConfig(filters=(4, 6, 6)), lstm_units=8)
    return build_model(config, LABEL_NAMES, semantic_dim=DIM, name="tiny_semantic_model")


@pytest.fixture(scope="module")
def front_end():
    from emorec.export.semantic_graph import SemanticFrontEnd

    return SemanticFrontEnd(tiny_encoder(), tiny_linear_map(), "aligned_speech2vec", "given")


@pytest.fixture(scope="module")
def semantic_model():
    return tiny_semantic_model()


@pytest.fixture(scope="module")
def semantic_export(tmp_path_factory, semantic_model, front_end):
    from emorec.export.saved_model import export_saved_model

    return export_saved_model(semantic_model, tmp_path_factory.mktemp("sem") / "tiny_semantic", semantic=front_end)


def keras_reference(model, encoder, linear_map, waveform, words):
    """The Keras model fed with `semantic_frame_features` (the training-time numpy path)."""
    from emorec.semantic.features import semantic_frame_features

    frames = math.ceil(len(waveform) / FRAME_LENGTH_SAMPLES)
    padded = np.zeros(frames * FRAME_LENGTH_SAMPLES, np.float32)
    padded[: len(waveform)] = waveform
    semantic = semantic_frame_features(waveform, frames, words, encoder, linear_map)
    outputs = model({"audio": padded.reshape(1, frames, -1), "semantic": semantic[None]}, training=False)
    return {name: np.asarray(outputs[name])[0] for name in LABEL_NAMES}, semantic


def word_batch(words_per_row):
    max_words = max(1, max(len(words) for words in words_per_row))
    starts = np.zeros((len(words_per_row), max_words), np.float32)
    ends = np.zeros_like(starts)
    for row, words in enumerate(words_per_row):
        for i, (start_s, end_s) in enumerate(words):
            starts[row, i], ends[row, i] = start_s, end_s
    return starts, ends, np.array([len(w) for w in words_per_row], np.int32)


@pytest.mark.slow
def test_semantic_export_equals_keras_with_numpy_features(semantic_export, semantic_model, front_end):
    rng = np.random.default_rng(4)
    lengths = [int(2.37 * SAMPLE_RATE_HZ), int(1.5 * SAMPLE_RATE_HZ), 3000]
    waveforms = [speech_like(n / SAMPLE_RATE_HZ, SAMPLE_RATE_HZ, seed=i)[:n] for i, n in enumerate(lengths)]
    # float32 boundaries, as the signature takes them: the reference sees the same values.
    f32 = lambda pairs: [(float(np.float32(s)), float(np.float32(e))) for s, e in pairs]  # noqa: E731
    words = [
        # a short word (< one MFCC window), a long one (> max_frames), two words meeting at 0.95 s,
        # one past the end of the audio, one before 0
        f32([(-0.05, 0.2), (0.31, 0.33), (0.4, 0.95), (0.95, 1.6), (1.62, 1.7), (2.2, 3.0)]),
        # overlapping words with exactly equal overlaps on frames 8 and 9: the earlier word wins
        f32([(0.1, 0.45), (0.5, 0.7), (0.7, 1.3), (0.75, 1.0)]),
        [],  # no words: semantic features are all zeros
    ]
    batch = rng.uniform(-1, 1, (3, max(lengths) + 777)).astype(np.float32)  # garbage past the lengths
    for row, waveform in enumerate(waveforms):
        batch[row, : len(waveform)] = waveform
    starts, ends, counts = word_batch(words)
    serve = tf.saved_model.load(str(semantic_export)).signatures["serving_default"]
    result = serve(waveform=tf.constant(batch), length=tf.constant(lengths, tf.int32),
                   word_start_s=tf.constant(starts), word_end_s=tf.constant(ends), num_words=tf.constant(counts))
    for row, waveform in enumerate(waveforms):
        reference, semantic = keras_reference(semantic_model, front_end.encoder, front_end.linear_map,
                                              waveform, words[row])
        frames = int(result["num_frames"].numpy()[row])
        assert frames == math.ceil(lengths[row] / FRAME_LENGTH_SAMPLES)
        if words[row]:
            assert np.abs(semantic).sum(axis=1).min() == 0 < np.abs(semantic).max()  # gaps and words
        for name in LABEL_NAMES:
            np.testing.assert_allclose(result[name].numpy()[row, :frames], reference[name], atol=1e-4, rtol=0)
    # The semantic features really matter: other boundaries, other outputs.
    moved = serve(waveform=tf.constant(batch[:1]), length=tf.constant(lengths[:1], tf.int32),
                  word_start_s=tf.constant(starts[:1] + 0.3), word_end_s=tf.constant(ends[:1] + 0.3),
                  num_words=tf.constant(counts[:1]))
    assert np.max(np.abs(moved["arousal"].numpy()[0] - result["arousal"].numpy()[0, : moved["arousal"].shape[1]])) > 1e-4


@pytest.mark.slow
def test_semantic_export_core_ops_and_metadata(semantic_export):
    from emorec.export.saved_model import list_graph_ops, read_metadata

    # export_saved_model ran the op check (check_ops=True) already; the listing reaches the encoder.
    ops = list_graph_ops(semantic_export)
    assert {"RFFT", "MatMul", "While", "Conv2D"} <= ops, sorted(ops)
    assert not [op for op in ops if "Cudnn" in op]
    metadata = read_metadata(semantic_export)
    assert metadata["semantic"]["boundaries"] == "given" and metadata["semantic"]["dim"] == DIM
    assert "serving_stream" not in metadata["signatures"]


def test_semantic_model_without_front_end_is_refused(tmp_path, semantic_model):
    from emorec.errors import ExportError
    from emorec.export.saved_model import export_saved_model

    with pytest.raises(ExportError, match="semantic branch"):
        export_saved_model(semantic_model, tmp_path / "x", check_ops=False)


def _run_dir(tmp_path, model, source, boundaries, encoder=None, linear_map=None):
    """A run folder as `emorec train` writes it, with a semantic features folder and artefacts."""
    artefacts = tmp_path / "artefacts"
    if encoder is not None:
        encoder.save(artefacts / "speech2vec")
    if linear_map is not None:
        linear_map.save(artefacts / "alignment.npy")
    features = tmp_path / "data" / "semantic" / f"{source}-{boundaries}"
    features.mkdir(parents=True)
    (features / "semantic.json").write_text(json.dumps({
        "source": source, "boundaries": boundaries, "dim": DIM, "artefacts_dir": str(artefacts),
        "segmenter": {"threshold_db": 30.0} if boundaries == "segmenter" else None, "complete": True}))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    model.save(run_dir / "best.keras")
    (run_dir / "run.json").write_text(json.dumps({
        "label_names": list(LABEL_NAMES), "best_model": "best.keras", "semantic_dim": DIM,
        "semantic_features": str(features)}))
    return run_dir


def test_word2vec_run_is_refused(tmp_path, semantic_model):
    from emorec.errors import ExportError
    from emorec.export.saved_model import export_saved_model

    run_dir = _run_dir(tmp_path, semantic_model, "word2vec", "given")
    with pytest.raises(ExportError, match="word2vec features are read from a transcript"):
        export_saved_model(run_dir, tmp_path / "out", check_ops=False)


@pytest.mark.slow
def test_segmenter_run_exports_and_predicts(tmp_path, semantic_model):
    """From a run folder (saved encoder reloaded); `predict_array` runs the segmenter client-side."""
    from emorec.export.predict import ExportedModel, predict_array
    from emorec.export.saved_model import export_saved_model
    from emorec.semantic.features import semantic_frame_features
    from emorec.semantic.segmenter import SegmenterConfig, segment_words
    from emorec.semantic.speech2vec import SpeechEncoder

    run_dir = _run_dir(tmp_path, semantic_model, "speech2vec", "segmenter", encoder=tiny_encoder(1))
    # speech2vec (no alignment) gives the encoder's dim: the tiny model wants DIM -> refused clearly.
    from emorec.errors import ExportError

    with pytest.raises(ExportError, match="semantic features"):
        export_saved_model(run_dir, tmp_path / "out", check_ops=False)

    import keras

    from emorec.config import CNNConfig, ModelConfig
    from emorec.models import build_model

    keras.utils.set_random_seed(2)
    model = build_model(ModelConfig(cnn=CNNConfig(filters=(4, 6, 6)), lstm_units=8), LABEL_NAMES, semantic_dim=5)
    (run_dir / "best.keras").unlink()
    model.save(run_dir / "best.keras")
    info = json.loads((run_dir / "run.json").read_text())
    (run_dir / "run.json").write_text(json.dumps({**info, "semantic_dim": 5}))
    version = export_saved_model(run_dir, tmp_path / "out", check_ops=False)
    exported = ExportedModel(version.parent)
    assert exported.metadata["semantic"]["boundaries"] == "segmenter"

    waveform = speech_like(2.0, SAMPLE_RATE_HZ, seed=5)
    table = predict_array(waveform, SAMPLE_RATE_HZ, exported)
    config = SegmenterConfig(threshold_db=30.0)
    words = segment_words(waveform, config)
    assert words, "the segmenter found no words in the test signal"
    encoder = SpeechEncoder.load(tmp_path / "artefacts" / "speech2vec")
    frames = math.ceil(len(waveform) / FRAME_LENGTH_SAMPLES)
    semantic = semantic_frame_features(waveform, frames, words, encoder, None)
    padded = np.zeros(frames * FRAME_LENGTH_SAMPLES, np.float32)
    padded[: len(waveform)] = waveform
    expected = model({"audio": padded.reshape(1, frames, -1), "semantic": semantic[None]}, training=False)
    np.testing.assert_allclose(table["valence"].to_numpy(), np.asarray(expected["valence"])[0], atol=1e-4, rtol=0)


@pytest.mark.slow
def test_given_boundaries_predict_needs_words(tmp_path, semantic_export, semantic_model, front_end):
    from emorec.errors import EmorecError
    from emorec.export.predict import predict_array, predict_files
    from emorec.data.audio import load_audio

    waveform = speech_like(1.3, SAMPLE_RATE_HZ, seed=7)
    with pytest.raises(EmorecError, match="word boundaries"):
        predict_array(waveform, SAMPLE_RATE_HZ, semantic_export.parent)
    # No words at all (word inputs of shape [1, 0]): zero semantic features.
    table = predict_array(waveform, SAMPLE_RATE_HZ, semantic_export.parent, words=[])
    reference, semantic = keras_reference(semantic_model, front_end.encoder, front_end.linear_map, waveform, [])
    assert not semantic.any()
    np.testing.assert_allclose(table["arousal"].to_numpy(), reference["arousal"], atol=1e-4, rtol=0)
    words = [(0.1, 0.5), (0.6, 1.1)]
    table = predict_array(waveform, SAMPLE_RATE_HZ, semantic_export.parent, words=words)
    reference, _ = keras_reference(semantic_model, front_end.encoder, front_end.linear_map, waveform, words)
    np.testing.assert_allclose(table["arousal"].to_numpy(), reference["arousal"], atol=1e-4, rtol=0)

    # Files: a word-timings CSV (file,word,start_s,end_s); a file without rows is an error.
    wav = tmp_path / "a.wav"
    other = tmp_path / "b.wav"
    for path in (wav, other):
        path.write_bytes(tf.audio.encode_wav(waveform[:, None], SAMPLE_RATE_HZ).numpy())
    csv = tmp_path / "words.csv"
    csv.write_text("file,word,start_s,end_s\na.wav,hello,0.1,0.5\na.wav,there,0.6,1.1\n")
    report = predict_files([wav, other], semantic_export.parent, out_dir=tmp_path / "out", words_csv=csv)
    assert list(report.tables) == [str(wav)] and "no word timings" in report.errors[str(other)]
    decoded = load_audio(wav, SAMPLE_RATE_HZ)
    reference, _ = keras_reference(semantic_model, front_end.encoder, front_end.linear_map, decoded, words)
    np.testing.assert_allclose(report.tables[str(wav)]["arousal"].to_numpy(), reference["arousal"], atol=1e-4)


@pytest.mark.slow
def test_cli_export_and_predict_with_words(tmp_path, semantic_model):
    """`emorec export --run-dir` of an aligned-Speech2Vec run, `emorec predict --words CSV`."""
    from click.testing import CliRunner

    from emorec.cli import cli
    from emorec.semantic.alignment import LinearMap
    from emorec.semantic.speech2vec import SpeechEncoder
    from emorec.data.audio import load_audio

    run_dir = _run_dir(tmp_path, semantic_model, "aligned_speech2vec", "given",
                       encoder=tiny_encoder(3), linear_map=tiny_linear_map(3))
    result = CliRunner().invoke(cli, ["export", "--run-dir", str(run_dir), "--out", str(tmp_path / "m")])
    assert result.exit_code == 0, result.output
    waveform = speech_like(1.6, 16000, seed=8)  # 16 kHz: resampled on the client
    wav = tmp_path / "utt.wav"
    wav.write_bytes(tf.audio.encode_wav(waveform[:, None], 16000).numpy())
    csv = tmp_path / "words.csv"
    csv.write_text("file,word,start_s,end_s\nutt,one,0.05,0.4\nutt,two,0.45,1.2\n")
    missing = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(tmp_path / "m"), "--out", str(tmp_path)])
    assert missing.exit_code != 0 and "word boundaries" in missing.output
    result = CliRunner().invoke(cli, ["predict", str(wav), "--model", str(tmp_path / "m"), "--words", str(csv),
                                      "--out", str(tmp_path / "pred")])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(tmp_path / "pred" / "utt.wav.csv")
    encoder = SpeechEncoder.load(tmp_path / "artefacts" / "speech2vec")
    linear_map = LinearMap.load(tmp_path / "artefacts" / "alignment.npy")
    reference, _ = keras_reference(semantic_model, encoder, linear_map, load_audio(wav, SAMPLE_RATE_HZ),
                                   [(0.05, 0.4), (0.45, 1.2)])
    np.testing.assert_allclose(table["valence"].to_numpy(), reference["valence"], atol=1e-4)  # CSV keeps 6 decimals


def test_onnx_refuses_semantic_model_clearly(tmp_path, semantic_model):
    from emorec.errors import ExportError

    pytest.importorskip("tf2onnx")
    from emorec.export.onnx import export_onnx

    with pytest.raises(ExportError, match="ONNX export covers audio-only models"):
        export_onnx(semantic_model, tmp_path / "m.onnx")


def test_encoder_grus_are_traced_without_cudnn(front_end):
    from emorec.export.graph_ops import portable_recurrent_layers

    grus = [layer for layer in front_end.encoder.model._flatten_layers(recursive=True) if hasattr(layer, "use_cudnn")]
    assert len(grus) == 2  # forward and backward GRU of the Bidirectional inside SegmentEncoder
    before = [gru.use_cudnn for gru in grus]
    with portable_recurrent_layers(front_end.encoder.model):
        assert all(gru.use_cudnn is False for gru in grus)
    assert [gru.use_cudnn for gru in grus] == before


@pytest.mark.slow
@pytest.mark.parametrize("rows, counts, message", [
    (1, [2, 2], "word_start_s must hold one row per waveform row"),
    (2, [2], "num_words must hold one entry per waveform row"),
    (2, [3, 1], "num_words must be <= the words given"),
    (2, [-1, 1], "num_words must be >= 0"),
], ids=["word rows", "num_words rows", "more words than given", "negative count"])
def test_inconsistent_word_inputs_are_refused_naming_the_input(semantic_export, rows, counts, message):
    # Issue 13, row 7, for the semantic signature: its word inputs are checked like waveform/length.
    serve = tf.saved_model.load(str(semantic_export)).signatures["serving_default"]
    starts = np.tile(np.array([[0.1, 0.5]], np.float32), (rows, 1))
    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        serve(waveform=tf.zeros([2, 3 * FRAME_LENGTH_SAMPLES]), length=tf.constant([3 * FRAME_LENGTH_SAMPLES] * 2),
              word_start_s=tf.constant(starts), word_end_s=tf.constant(starts + 0.2),
              num_words=tf.constant(counts, tf.int32))
