"""The Table 1 CNN yields one feature vector per 0.1 s frame, aligned with the label grid."""
import keras
import numpy as np
import pytest

from emorec.config import CNNConfig, ModelConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.models import ParalinguisticCNN, build_model


def test_paper_shapes_and_configurable_third_conv():
    audio = np.zeros((2, 3, FRAME_LENGTH_SAMPLES), np.float32)
    cnn = ParalinguisticCNN.from_cnn_config(CNNConfig())
    assert tuple(cnn(audio).shape) == (2, 3, 125)
    assert cnn.steps_per_frame == 8  # 2205 -> 220 -> 44 -> 8
    assert [c.kernel_size[0] for c in cnn.convs] == [8, 6, 6]
    assert [c.filters for c in cnn.convs] == [50, 125, 125]
    authors = ParalinguisticCNN.from_cnn_config(CNNConfig(filters=(50, 125, 250)))
    assert tuple(authors(audio).shape) == (2, 3, 250)


def test_changing_frame_k_changes_only_features_of_frame_k():
    keras.utils.set_random_seed(1)
    cnn = ParalinguisticCNN.from_cnn_config(CNNConfig(filters=(6, 8, 8)))
    rng = np.random.default_rng(0)
    audio = rng.normal(0, 0.3, size=(1, 6, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    base = np.asarray(cnn(audio, training=False))
    k = 3
    changed = audio.copy()
    changed[0, k] = rng.normal(0, 0.3, size=FRAME_LENGTH_SAMPLES)
    after = np.asarray(cnn(changed, training=False))
    differs = np.abs(after - base).max(axis=-1)[0]
    assert differs[k] > 1e-4
    assert np.all(np.delete(differs, k) == 0.0)
    # Same input frame at another position gives the same features: no position leakage.
    shifted = np.roll(audio, 1, axis=1)
    np.testing.assert_allclose(np.asarray(cnn(shifted, training=False))[0, 1:], base[0, :-1], rtol=1e-5, atol=1e-6)


def test_build_model_outputs_and_serialisation(tmp_path):
    keras.utils.set_random_seed(2)
    config = ModelConfig(cnn=CNNConfig(filters=(4, 4, 4)), lstm_units=8)
    model = build_model(config, ["arousal", "valence", "liking"])
    audio = np.random.default_rng(1).normal(0, 0.1, size=(2, 4, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    outputs = model({"audio": audio}, training=False)
    assert list(outputs) == ["arousal", "valence", "liking"]
    assert all(tuple(o.shape) == (2, 4) and o.dtype == "float32" for o in outputs.values())
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    again = restored({"audio": audio}, training=False)
    for name in outputs:
        np.testing.assert_allclose(np.asarray(again[name]), np.asarray(outputs[name]), rtol=1e-5, atol=1e-6)


def test_semantic_input_seam():
    config = ModelConfig(cnn=CNNConfig(filters=(4, 4, 4)), lstm_units=4)
    model = build_model(config, ["arousal"], semantic_dim=7)
    assert set(model.input) == {"audio", "semantic"} if isinstance(model.input, dict) else True
    out = model({"audio": np.zeros((1, 3, FRAME_LENGTH_SAMPLES), np.float32),
                 "semantic": np.zeros((1, 3, 7), np.float32)})
    assert tuple(out["arousal"].shape) == (1, 3)
    with pytest.raises(ValueError):
        build_model(ModelConfig(paralinguistic=False), ["arousal"])


def test_lstm_input_dropout_is_one_mask_per_sequence_and_off_at_inference():
    """The LSTM's input dropout lives in a Dropout layer (Keras 3.6's cuDNN path ignores
    `training` for LSTM(dropout=...)): same mask at every frame, identity at inference."""
    import keras
    import numpy as np

    from emorec.config import CNNConfig, ModelConfig
    from emorec.models import build_model

    config = ModelConfig(cnn=CNNConfig(filters=(2, 3, 4)), lstm_units=3, lstm_dropout=0.5)
    model = build_model(config, ["arousal"])
    lstm = model.get_layer("lstm")
    assert lstm.dropout == 0 and lstm.recurrent_dropout == 0
    dropout = model.get_layer("lstm_input_dropout")
    features = keras.ops.ones((2, 7, 4))
    dropped = keras.ops.convert_to_numpy(dropout(features, training=True))
    # one mask per sequence: every frame of a sequence keeps the same channels
    assert np.all(dropped == dropped[:, :1, :])
    assert 0 < np.count_nonzero(dropped) < dropped.size
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(dropout(features, training=False)), 1.0)


def _reference_conv_relu_pool(frames, kernel, bias, pool_size, padding):
    conv = keras.layers.Conv1D(kernel.shape[-1], kernel.shape[0], padding=padding, activation="relu")
    conv.build((None, frames.shape[-1], 1))
    conv.set_weights([kernel, bias])
    return keras.layers.MaxPooling1D(pool_size, strides=pool_size)(conv(frames[..., None]))


@pytest.mark.parametrize(
    "samples, kernel_size, pool_size, padding",
    [
        (FRAME_LENGTH_SAMPLES, 8, 10, "same"),  # Table 1: 2205 = 220 x 10 + 5 samples the pool drops
        (FRAME_LENGTH_SAMPLES, 8, 10, "valid"),
        (97, 3, 4, "same"),  # odd kernel: pads equally on both sides
        (101, 12, 5, "same"),  # kernel longer than the pool: a window spans three pool blocks
        (60, 5, 6, "valid"),
    ],
)
def test_phase_blocked_conv_pool_equals_conv1d_then_maxpool(samples, kernel_size, pool_size, padding):
    from emorec.models.paralinguistic import conv_relu_pool_phase_blocked

    rng = np.random.default_rng(3)
    frames = rng.normal(0, 1, (9, samples)).astype(np.float32)  # 9: not a multiple of the loop's chunk
    # Loud samples at both edges of a frame: wrong padding or a window off by one shows here.
    frames[:, :3] = 5.0
    frames[:, -3:] = -5.0
    kernel = rng.normal(0, 0.5, (kernel_size, 1, 7)).astype(np.float32)
    bias = rng.normal(0, 0.5, 7).astype(np.float32)
    expected = np.asarray(_reference_conv_relu_pool(frames, kernel, bias, pool_size, padding))
    actual = np.asarray(conv_relu_pool_phase_blocked(frames, kernel, bias, pool_size, padding))
    assert actual.shape == expected.shape
    assert 0 < np.mean(expected > 0) < 1  # the ReLU is active on some values only
    np.testing.assert_allclose(actual, expected, atol=1e-5, rtol=1e-5)


def _cnns_with_the_same_weights(first: CNNConfig, second: CNNConfig, seed: int):
    """Two Table 1 CNNs with the same weights. Keras initialises the conv biases to zero;
    non-zero ones check that adding them after the max-pools is exact."""
    keras.utils.set_random_seed(seed)
    one, two = ParalinguisticCNN.from_cnn_config(first), ParalinguisticCNN.from_cnn_config(second)
    probe = np.zeros((1, 1, FRAME_LENGTH_SAMPLES), np.float32)
    one(probe), two(probe)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(0, 0.05, w.shape).astype(np.float32) if w.ndim == 1 else w for w in one.get_weights()]
    one.set_weights(weights)
    two.set_weights(weights)
    return one, two


def _paired_cnns(seed=4, **kwargs):
    """Table 1 CNNs, reference and phase-blocked conv1, with the same weights."""
    reference, blocked = _cnns_with_the_same_weights(CNNConfig(conv1_impl="reference", **kwargs), CNNConfig(**kwargs),
                                                     seed)
    assert blocked.conv1_impl == "phase_blocked"  # the default
    return reference, blocked


@pytest.mark.parametrize("frames", [1, 7])  # one frame; a last loop chunk that is not full
def test_phase_blocked_cnn_matches_reference_outputs_and_gradients(frames):
    import tensorflow as tf

    reference, blocked = _paired_cnns()
    audio = tf.constant(np.random.default_rng(5).normal(0, 0.3, (2, frames, FRAME_LENGTH_SAMPLES)).astype(np.float32))

    def outputs_and_gradients(cnn):
        with tf.GradientTape() as tape:
            tape.watch(audio)
            features = cnn(audio, training=False)
            loss = tf.reduce_sum(tf.sin(3.0 * features))  # a gradient that varies per feature
        return features, tape.gradient(loss, [audio] + cnn.trainable_weights)

    expected, expected_gradients = outputs_and_gradients(reference)
    actual, actual_gradients = outputs_and_gradients(blocked)
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-4, rtol=0)
    names = [w.path.split("/", 1)[1] for w in reference.trainable_weights]  # conv1/kernel, conv1/bias, ...
    assert [w.path.split("/", 1)[1] for w in blocked.trainable_weights] == names
    for name, want, got in zip(["audio"] + names,
                               expected_gradients, actual_gradients):
        scale = float(np.abs(want).max())
        assert scale > 0, name
        np.testing.assert_allclose(np.asarray(got) / scale, np.asarray(want) / scale, atol=1e-4, err_msg=name)


@pytest.mark.slow
def test_phase_blocked_trains_like_reference_under_fit():
    """A few optimiser steps through Keras fit (the tf.function training graph) stay together."""
    reference, blocked = _paired_cnns(seed=6, filters=(6, 8, 8), dropout=0.0)
    rng = np.random.default_rng(6)
    audio = rng.normal(0, 0.3, (4, 3, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    targets = rng.normal(0, 1, (4, 3, 8)).astype(np.float32)
    results = []
    for cnn in (reference, blocked):
        inputs = keras.Input((3, FRAME_LENGTH_SAMPLES))
        model = keras.Model(inputs, cnn(inputs))
        model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
        history = model.fit(audio, targets, epochs=3, batch_size=2, shuffle=False, verbose=0)
        results.append((history.history["loss"], [np.asarray(w) for w in cnn.get_weights()]))
    (reference_loss, reference_weights), (blocked_loss, blocked_weights) = results
    assert reference_loss[-1] < reference_loss[0]  # it learned something, so the comparison means something
    np.testing.assert_allclose(blocked_loss, reference_loss, rtol=1e-4)
    for want, got in zip(reference_weights, blocked_weights):
        np.testing.assert_allclose(got, want, atol=1e-4)


def test_conv1_impl_is_serialised_and_checkpoints_load_across_implementations(tmp_path):
    reference, blocked = _paired_cnns(seed=7, filters=(4, 4, 4))
    assert ParalinguisticCNN.from_config(blocked.get_config()).conv1_impl == "phase_blocked"
    assert ParalinguisticCNN.from_config(reference.get_config()).conv1_impl == "reference"
    with pytest.raises(ValueError, match="conv1_impl"):
        ParalinguisticCNN(conv1_impl="fast")
    # A model saved with the plain formulation (e.g. before conv1_impl existed) loads into the
    # phase-blocked one: the variables are the same Conv1D kernel [8, 1, C] and bias [C].
    inputs = keras.Input((2, FRAME_LENGTH_SAMPLES))
    keras.Model(inputs, reference(inputs)).save_weights(tmp_path / "reference.weights.h5")
    fresh = ParalinguisticCNN.from_cnn_config(CNNConfig(filters=(4, 4, 4)))
    inputs = keras.Input((2, FRAME_LENGTH_SAMPLES))
    model = keras.Model(inputs, fresh(inputs))
    model.load_weights(tmp_path / "reference.weights.h5")
    assert tuple(fresh.convs[0].kernel.shape) == (8, 1, 4)
    audio = np.random.default_rng(8).normal(0, 0.3, (1, 2, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(fresh(audio)), np.asarray(reference(audio)), atol=1e-5)


def _cnns_in_both_layouts(conv1_impl, seed=9, **kwargs):
    """Table 1 CNNs in the conv1d and conv2d layouts with the same (non-zero-bias) weights."""
    return _cnns_with_the_same_weights(CNNConfig(conv1_impl=conv1_impl, conv_layout="conv1d", **kwargs),
                                       CNNConfig(conv1_impl=conv1_impl, conv_layout="conv2d", **kwargs), seed)


@pytest.mark.parametrize("conv1_impl", ["phase_blocked", "reference"])
def test_conv2d_layout_matches_conv1d_outputs_and_weight_gradients(conv1_impl):
    import tensorflow as tf

    conv1d, conv2d = _cnns_in_both_layouts(conv1_impl)
    assert (conv1d.conv_layout_in_use, conv2d.conv_layout_in_use) == ("conv1d", "conv2d")
    frames = tf.constant(np.zeros((3, FRAME_LENGTH_SAMPLES), np.float32))
    # The 2-D layout really carries a height axis through the blocks (else this test compares a path with itself).
    assert len(conv2d.conv_block(0, frames, "conv2d").shape) == 4
    assert len(conv1d.conv_block(0, frames, "conv1d").shape) == 3
    audio = tf.constant(np.random.default_rng(10).normal(0, 0.3, (2, 3, FRAME_LENGTH_SAMPLES)).astype(np.float32))

    def outputs_and_gradients(cnn):
        with tf.GradientTape() as tape:
            features = cnn(audio, training=False)
            loss = tf.reduce_sum(tf.sin(3.0 * features))
        return features, tape.gradient(loss, cnn.trainable_weights)

    expected, expected_gradients = outputs_and_gradients(conv1d)
    actual, actual_gradients = outputs_and_gradients(conv2d)
    assert 0 < np.mean(np.asarray(expected) > 0) < 1  # the ReLUs are active on some values only
    np.testing.assert_allclose(np.asarray(actual), np.asarray(expected), atol=1e-5, rtol=0)
    names = [w.path.split("/", 1)[1] for w in conv1d.trainable_weights]
    assert [w.path.split("/", 1)[1] for w in conv2d.trainable_weights] == names  # the same Conv1D variables
    for name, want, got in zip(names, expected_gradients, actual_gradients):
        assert tuple(got.shape) == tuple(want.shape), name
        scale = float(np.abs(want).max())
        assert scale > 0, name
        np.testing.assert_allclose(np.asarray(got) / scale, np.asarray(want) / scale, atol=1e-5, err_msg=name)


def test_conv_layout_auto_follows_the_compute_dtype():
    from emorec.models.paralinguistic import conv_layout_for_dtype

    assert conv_layout_for_dtype("auto", "bfloat16") == "conv2d"
    assert conv_layout_for_dtype("auto", "float32") == "conv1d"
    assert conv_layout_for_dtype("auto", "float16") == "conv1d"
    assert conv_layout_for_dtype("conv1d", "bfloat16") == "conv1d"
    assert conv_layout_for_dtype("conv2d", "float32") == "conv2d"
    with pytest.raises(ValueError, match="conv_layout"):
        ParalinguisticCNN(conv_layout="conv3d")
    assert ParalinguisticCNN().conv_layout_in_use == "conv1d"  # float32, the default policy in tests
    assert ParalinguisticCNN(dtype="mixed_bfloat16").conv_layout_in_use == "conv2d"
    assert ParalinguisticCNN(dtype="mixed_bfloat16", conv_layout="conv1d").conv_layout_in_use == "conv1d"


def test_conv_layout_round_trips_through_a_keras_file_and_switches_after_loading(tmp_path):
    keras.utils.set_random_seed(11)
    config = ModelConfig(cnn=CNNConfig(filters=(4, 5, 6), conv_layout="conv2d"), lstm_units=4)
    model = build_model(config, ["arousal"])
    audio = np.random.default_rng(11).normal(0, 0.3, (2, 3, FRAME_LENGTH_SAMPLES)).astype(np.float32)
    expected = np.asarray(model({"audio": audio}, training=False)["arousal"])
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    cnn = next(layer for layer in restored.layers if isinstance(layer, ParalinguisticCNN))
    assert cnn.conv_layout == "conv2d" and cnn.get_config()["conv_layout"] == "conv2d"
    np.testing.assert_allclose(np.asarray(restored({"audio": audio}, training=False)["arousal"]), expected,
                               atol=1e-6, rtol=0)
    # The variables do not depend on the layout: the loaded model runs in the other layout as it is.
    cnn.conv_layout = "conv1d"
    np.testing.assert_allclose(np.asarray(restored({"audio": audio}, training=False)["arousal"]), expected,
                               atol=1e-5, rtol=0)
    # A layer config written before the field existed loads with the default, auto.
    old = cnn.get_config()
    del old["conv_layout"]
    assert ParalinguisticCNN.from_config(old).conv_layout == "auto"


def test_conv_layout_is_a_checked_config_field():
    from emorec.config import config_from_dict
    from emorec.errors import ConfigError

    assert CNNConfig().conv_layout == "auto"
    assert config_from_dict({"model": {"cnn": {"conv_layout": "conv2d"}}}).model.cnn.conv_layout == "conv2d"
    with pytest.raises(ConfigError, match="model.cnn.conv_layout"):
        config_from_dict({"model": {"cnn": {"conv_layout": "conv3d"}}})
