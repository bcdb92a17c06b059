"""The full model (Figure 1): every branch combination, fusion from config, `.keras` round trips."""
import dataclasses

import keras
import numpy as np
import pytest

from emorec.config import CNNConfig, FusionConfig, ModelConfig, SemanticFeaturesConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.errors import ConfigError
from emorec.models import build_model
from emorec.models.fusion import ConcatFusion, DisentangledAttentionFusion

LABELS = ["arousal", "valence"]
SEMANTIC_DIM = 6
FRAMES = 5


def tiny_config(paralinguistic: bool, semantic: bool, fusion: str = "concat") -> ModelConfig:
    return ModelConfig(
        paralinguistic=paralinguistic,
        cnn=CNNConfig(filters=(4, 4, 4), dropout=0.0),
        semantic_features=SemanticFeaturesConfig(source="aligned_speech2vec" if semantic else "none", dim=SEMANTIC_DIM),
        fusion=FusionConfig(kind=fusion, projection_units=8),
        lstm_units=4,
        lstm_dropout=0.0,
    )


def tiny_inputs(seed: int = 0, batch: int = 2):
    rng = np.random.default_rng(seed)
    return {
        "audio": rng.normal(0, 0.1, (batch, FRAMES, FRAME_LENGTH_SAMPLES)).astype(np.float32),
        "semantic": rng.normal(0, 1, (batch, FRAMES, SEMANTIC_DIM)).astype(np.float32),
    }


def predict(model, inputs):
    wanted = {k: v for k, v in inputs.items() if k in model.input}
    outputs = model(wanted, training=False)
    return {k: np.asarray(v) for k, v in outputs.items()}


COMBINATIONS = [
    pytest.param(False, True, "concat", None, id="semantic-only"),
    pytest.param(True, False, "concat", None, id="paralinguistic-only"),
    pytest.param(True, True, "concat", ConcatFusion, id="both-concat"),
    pytest.param(True, True, "attention", DisentangledAttentionFusion, id="both-attention"),
]


@pytest.mark.parametrize("paralinguistic, semantic, fusion, fusion_class", COMBINATIONS)
def test_every_branch_combination_runs_and_round_trips(paralinguistic, semantic, fusion, fusion_class, tmp_path):
    keras.utils.set_random_seed(0)
    model = build_model(tiny_config(paralinguistic, semantic, fusion), LABELS)
    expected_inputs = {"audio", "semantic"} if semantic else {"audio"}
    assert set(model.input) == expected_inputs
    assert any(isinstance(layer, keras.layers.Layer) and layer.name == "paralinguistic_cnn"
               for layer in model.layers) == paralinguistic
    fusion_layers = [layer for layer in model.layers if isinstance(layer, (ConcatFusion, DisentangledAttentionFusion))]
    assert [type(layer) for layer in fusion_layers] == ([fusion_class] if fusion_class else [])
    if fusion_class is DisentangledAttentionFusion:
        assert fusion_layers[0].dimension_names == LABELS and fusion_layers[0].output_units == 8

    inputs = tiny_inputs()
    outputs = predict(model, inputs)
    assert list(outputs) == LABELS
    assert all(o.shape == (2, FRAMES) and np.all(np.isfinite(o)) for o in outputs.values())

    # Each branch that is on drives the outputs; one that is off does not exist.
    other = tiny_inputs(seed=1)
    if semantic:
        changed = predict(model, {**inputs, "semantic": other["semantic"]})
        assert not np.allclose(changed["arousal"], outputs["arousal"])
    audio_changed = predict(model, {**inputs, "audio": other["audio"]})
    assert np.allclose(audio_changed["arousal"], outputs["arousal"]) != paralinguistic

    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path, compile=False)
    again = predict(restored, inputs)
    for name in LABELS:
        np.testing.assert_allclose(again[name], outputs[name], rtol=1e-5, atol=1e-6)


def test_frames_without_words_are_not_masked_out():
    """A frame with no word has an all-zero semantic vector; it must still be a step of the LSTM
    (a Masking layer would carry the previous output through it unchanged)."""
    keras.utils.set_random_seed(1)
    model = build_model(tiny_config(paralinguistic=False, semantic=True), LABELS)
    inputs = tiny_inputs()
    inputs["semantic"][:, 2] = 0.0
    outputs = predict(model, inputs)
    assert not np.allclose(outputs["arousal"][:, 2], outputs["arousal"][:, 1])
    for fusion in ("concat", "attention"):
        both = build_model(tiny_config(True, True, fusion), LABELS)
        out = predict(both, inputs)["valence"]
        assert not np.allclose(out[:, 2], out[:, 1])


def test_semantic_dim_argument_overrides_the_config_and_no_branch_is_an_error():
    model = build_model(tiny_config(paralinguistic=False, semantic=True), LABELS, semantic_dim=3)
    assert tuple(model.input["semantic"].shape) == (None, None, 3)
    with pytest.raises(ValueError, match="no features"):
        build_model(tiny_config(paralinguistic=False, semantic=False), LABELS)


def test_attention_head_order_must_fit_the_label_names():
    config = tiny_config(True, True, "attention")
    config = dataclasses.replace(config, fusion=dataclasses.replace(config.fusion, head_order=["arousal", "liking"]))
    with pytest.raises(ConfigError, match="head_order"):
        build_model(config, LABELS)


def test_custom_fuse_function_receives_semantic_then_paralinguistic():
    seen = []

    def fuse(features):
        seen.extend(int(f.shape[-1]) for f in features)
        return keras.layers.Concatenate()(features)

    build_model(tiny_config(True, True), LABELS, fuse=fuse)
    assert seen == [SEMANTIC_DIM, 4]  # [x_s, x_p]: semantic dim, then the CNN's last filters
