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
