"""`model.feature_statistics: speaker`: CNN features standardised with one speaker's statistics.

The layer standardises over its batch's real frames; the pipelines make each batch one speaker's.
Each part is checked on its own (the layer against numpy, the batches against the recordings
written) and together (a short training run and its evaluation)."""
import keras
import numpy as np
import pytest
import tensorflow as tf

from emorec.config import AugmentationConfig, CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.data.augmentation import augment_window
from emorec.data.pipeline import make_dataset, recordings_for_prediction
from emorec.data.schema import Recording
from emorec.errors import DatasetError, ExportError
from tfrecords_tools.writer import write_recordings
from emorec.models.emotion_model import build_model
from emorec.models.standardisation import FrameStatisticsStandardisation

LABELS = ["arousal", "valence"]


def recording(name, frames, speaker, partition, level):
    """Audio whose frames all hold `level` plus small noise, so a window's speaker is readable."""
    rng = np.random.default_rng(abs(hash(name)) % 2**32)
    audio = (level + 0.01 * rng.standard_normal(frames * FRAME_LENGTH_SAMPLES)).astype(np.float32)
    return Recording(name=name, partition=partition, speaker=speaker, num_samples=audio.size, audio=audio,
                     label_names=LABELS, labels=rng.normal(size=(frames, 2)).astype(np.float32),
                     label_mask=np.ones(frames, np.float32))


LEVELS = {"s1": 0.1, "s2": 0.3, "s3": 0.5, "d1": 0.7, "d2": 0.9}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    recordings = [
        recording("a", 12, "s1", "train", LEVELS["s1"]), recording("b", 7, "s2", "train", LEVELS["s2"]),
        recording("c", 9, "s1", "train", LEVELS["s1"]), recording("d", 5, "s3", "train", LEVELS["s3"]),
        recording("e", 6, "s2", "train", LEVELS["s2"]),
        recording("f", 8, "d1", "devel", LEVELS["d1"]), recording("g", 4, "d2", "devel", LEVELS["d2"]),
        recording("h", 6, "d1", "devel", LEVELS["d1"]),
    ]
    return write_recordings(recordings, tmp_path_factory.mktemp("speakers"))


def speaker_of(window_audio):
    """The speaker whose level a window's real frames hold (None for an all-padding window)."""
    real = np.any(window_audio != 0, axis=-1)
    if not real.any():
        return None
    level = float(np.mean(window_audio[real]))
    return min(LEVELS, key=lambda s: abs(LEVELS[s] - level))


def test_layer_standardises_over_the_batchs_real_frames_only():
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, 2.0, size=(3, 5, 4)).astype(np.float32)
    audio = rng.normal(size=(3, 5, 7)).astype(np.float32)
    audio[0, 3:] = 0.0  # padding: its features (whatever they are) must not count
    audio[2, 4:] = 0.0
    features[0, 3:] = 1e3
    out = np.asarray(FrameStatisticsStandardisation(epsilon=0.0)([features, audio]))
    real = np.any(audio != 0, axis=-1)
    values = features[real]  # [real frames, channels]
    expected = (features - values.mean(axis=0)) / values.std(axis=0)
    np.testing.assert_allclose(out[real], expected[real], rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(out[real].mean(axis=0), 0.0, atol=1e-4)
    np.testing.assert_allclose(out[real].std(axis=0), 1.0, atol=1e-4)


def test_model_with_speaker_statistics_saves_and_reloads(tmp_path):
    model = build_model(ModelConfig(feature_statistics="speaker", cnn=CNNConfig(filters=(4, 8, 8)), lstm_units=4),
                        LABELS)
    assert any(isinstance(layer, FrameStatisticsStandardisation) for layer in model.layers)
    cnn = model.get_layer("paralinguistic_cnn")
    assert cnn.get_config()["last_dropout"] is False  # no dropout noise in the statistics
    audio = np.random.default_rng(1).normal(size=(2, 6, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    model.save(tmp_path / "m.keras")
    reloaded = keras.saving.load_model(tmp_path / "m.keras")
    for name in LABELS:
        np.testing.assert_allclose(reloaded({"audio": audio})[name], model({"audio": audio})[name], atol=1e-6)
    # The statistics are the batch's: another speaker in the batch changes a row's output.
    other = np.random.default_rng(2).normal(5.0, 3.0, size=(1, 6, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    alone = np.asarray(model({"audio": audio})["arousal"])[0]
    mixed = np.asarray(model({"audio": np.concatenate([audio, other])})["arousal"])[0]
    assert not np.allclose(alone, mixed, atol=1e-5)


def test_training_batches_hold_one_speaker_each(folder):
    config = DataConfig(sequence_frames=3, hop_frames=3, batch_size=2, shuffle_buffer=50)
    dataset = make_dataset(folder, "train", config, training=True, seed=0, group_by_speaker=True)
    batches = list(dataset.as_numpy_iterator())
    windows = {"s1": 4 + 3, "s2": 3 + 2, "s3": 2}  # ceil(frames / 3) per recording
    assert len(batches) == int(dataset.cardinality()) == sum(-(-n // 2) for n in windows.values())
    seen = {}
    for inputs, _ in batches:
        speakers = {speaker_of(w) for w in inputs["audio"]}
        assert len(speakers) == 1, speakers
        speaker = speakers.pop()
        seen[speaker] = seen.get(speaker, 0) + len(inputs["audio"])
    assert seen == windows
    mixed = make_dataset(folder, "train", config, training=True, seed=0)  # without: speakers mix
    assert any(len({speaker_of(w) for w in inputs["audio"]}) > 1 for inputs, _ in mixed.as_numpy_iterator())


def test_development_batches_hold_all_of_a_speaker(folder):
    config = DataConfig(sequence_frames=3, hop_frames=3, batch_size=2)
    batches = list(make_dataset(folder, "devel", config, training=False, group_by_speaker=True).as_numpy_iterator())
    assert sorted((speaker_of(inputs["audio"][0]), len(inputs["audio"])) for inputs, _ in batches) == \
        [("d1", 3 + 2), ("d2", 2)]
    assert all(len({speaker_of(w) for w in inputs["audio"]}) == 1 for inputs, _ in batches)


def test_whole_recordings_come_one_speaker_per_batch(folder):
    batches = list(recordings_for_prediction(folder, "train", batch_recordings=2,
                                             group_by_speaker=True).as_numpy_iterator())
    names = sorted(sorted(n.decode() for n in batch["name"]) for batch in batches)
    assert names == [["a", "c"], ["b", "e"], ["d"]]


def test_recordings_without_a_speaker_are_refused(tmp_path):
    folder = write_recordings([recording("x", 4, "", "train", 0.2)], tmp_path / "nospeaker")
    with pytest.raises(DatasetError, match="'x' has no speaker id"):
        make_dataset(folder, "train", DataConfig(sequence_frames=3, hop_frames=3), training=True,
                     group_by_speaker=True)


def test_noise_augmentation_leaves_padding_frames_silent():
    audio = np.zeros((6, FRAME_LENGTH_SAMPLES), np.float32)
    audio[:4] = np.sin(np.arange(4 * FRAME_LENGTH_SAMPLES) / 7.0).reshape(4, -1)
    window = {"audio": tf.constant(audio), "labels": tf.zeros([6, 1]), "mask": tf.constant([1.0] * 4 + [0.0] * 2)}
    config = AugmentationConfig(enabled=True, gain_db=None, speed_factor=None, noise_snr_db=(10.0, 10.0))
    noisy = augment_window(window, tf.constant([3, 4]), config)["audio"].numpy()
    assert np.all(noisy[4:] == 0.0)
    noise = noisy[:4] - audio[:4]
    snr = 10 * np.log10(np.sum(audio[:4] ** 2) / np.sum(noise ** 2))  # over the real frames
    assert abs(snr - 10.0) < 1e-2


def test_evaluation_predicts_per_speaker_and_returns_file_order(folder):
    from emorec.config import NormalisationConfig
    from emorec.evaluation.evaluate import predict_partition

    model = build_model(ModelConfig(feature_statistics="speaker", cnn=CNNConfig(filters=(4, 8, 8)), lstm_units=4),
                        LABELS)
    results = predict_partition(model, folder, "train", LABELS, 2, normalisation=NormalisationConfig(),
                                group_by_speaker=True)
    assert [r["name"] for r in results] == ["a", "b", "c", "d", "e"]
    # Recording "a" predicted together with "c" (its speaker's other recording), as evaluation does.
    batch = next(b for b in recordings_for_prediction(folder, "train", group_by_speaker=True).as_numpy_iterator()
                 if b"a" in list(b["name"]))
    expected = np.asarray(model({"audio": batch["audio"]})["valence"])[list(batch["name"]).index(b"a"), :12]
    np.testing.assert_allclose(results[0]["predictions"][:, 1], expected, atol=1e-5)


@pytest.mark.slow
def test_a_run_trains_evaluates_and_refuses_export(folder, tmp_path):
    from emorec.evaluation import evaluate_run
    from emorec.export.saved_model import export_saved_model
    from emorec.training import train_model

    config = ExperimentConfig(
        data=DataConfig(sequence_frames=4, hop_frames=4, batch_size=2, shuffle_buffer=16),
        model=ModelConfig(feature_statistics="speaker", cnn=CNNConfig(filters=(4, 8, 8), dropout=0.0),
                          lstm_units=8, lstm_dropout=0.0),
        training=TrainingConfig(epochs=2, learning_rate=1e-2, seed=0, precision="float32"),
    )
    run_dir = tmp_path / "run"
    history = train_model(config, folder, run_dir, verbose=0)
    assert len(history["loss"]) == 2 and np.all(np.isfinite(history["loss"]))
    result = evaluate_run(run_dir, folder, "devel", plot=False, postprocess=False, echo=None, report=False)
    assert result["recordings"] == 3 and all(np.isfinite(result["ccc_raw"][name]) for name in LABELS)
    with pytest.raises(ExportError, match="feature_statistics speaker"):
        export_saved_model(run_dir, tmp_path / "export", check_ops=False)
    assert not (tmp_path / "export").exists()


def test_semantic_features_are_standardised_with_the_same_statistics():
    """A semantic model with speaker statistics: its (fixed) word features are z-scored over the
    batch's real frames, so a speaker-wide offset of every feature changes nothing."""
    config = ModelConfig(feature_statistics="speaker", paralinguistic=False, lstm_units=4)
    model = build_model(config, LABELS, semantic_dim=5)
    assert "semantic_speaker_standardisation" in [layer.name for layer in model.layers]
    rng = np.random.default_rng(3)
    audio = rng.normal(size=(2, 6, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    semantic = rng.normal(size=(2, 6, 5)).astype(np.float32)
    shifted = semantic * 3.0 + 7.0  # one speaker's scale and offset on every feature
    for name in LABELS:  # up to the variance floor (epsilon 1e-3 against variances near 1 and 9)
        np.testing.assert_allclose(model({"audio": audio, "semantic": semantic})[name],
                                   model({"audio": audio, "semantic": shifted})[name], atol=3e-3)
    plain = build_model(ModelConfig(paralinguistic=False, lstm_units=4), LABELS, semantic_dim=5)
    plain.set_weights(model.get_weights())  # the same weights without the standardisation: it matters
    change = np.abs(np.asarray(plain({"audio": audio, "semantic": semantic})["arousal"])
                    - np.asarray(plain({"audio": audio, "semantic": shifted})["arousal"]))
    assert change.max() > 0.05
