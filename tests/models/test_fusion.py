"""Fusion layers (equations 4 to 7) against NumPy references written from the paper's equations."""
from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from emorec.config import FusionConfig, config_from_dict
from emorec.errors import ConfigError
from emorec.models.fusion import (
    ConcatFusion,
    DisentangledAttentionFusion,
    PairAttention,
    fusion_from_config,
    resolve_head_order,
)

D_S, D_P, D_U = 5, 7, 8  # tiny semantic, paralinguistic and projection widths
SEWA = ["arousal", "valence", "liking"]


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def _inputs(batch: int = 3, frames: int = 4, seed: int = 0):
    rng = _rng(seed)
    x_s = rng.normal(size=(batch, frames, D_S)).astype("float32")
    x_p = rng.normal(size=(batch, frames, D_P)).astype("float32")
    return x_s, x_p


# ---- NumPy references ------------------------------------------------------------------------


def np_softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def np_attention(a: np.ndarray, b: np.ndarray, q: np.ndarray):
    """Equation 6: α = softmax([a·q, b·q] / sqrt(d)) over the two inputs; α_a a + α_b b."""
    d = a.shape[-1]
    weights = np_softmax(np.stack([a @ q, b @ q], axis=-1) / math.sqrt(d))
    return weights[..., :1] * a + weights[..., 1:] * b, weights


def np_dense(x: np.ndarray, layer: keras.layers.Dense, relu: bool = False) -> np.ndarray:
    kernel, bias = [np.asarray(w) for w in layer.get_weights()]
    y = x @ kernel + bias
    return np.maximum(y, 0.0) if relu else y


def np_disentangled(layer: DisentangledAttentionFusion, x_s, x_p, order, relu=False):
    """Equations 4-7 with the layer's own weights, heads folded left in `order`."""
    proj_s = np_dense(x_s, layer.semantic_projection)
    proj_p = np_dense(x_p, layer.paralinguistic_projection)
    fused, _ = np_attention(proj_s, proj_p, np.asarray(layer.feature_attention.query))
    heads = {name: np_dense(fused, layer.heads[i], relu) for i, name in enumerate(layer.dimension_names)}
    out = heads[order[0]]
    for attention, name in zip(layer.head_attentions, order[1:]):
        out, _ = np_attention(out, heads[name], np.asarray(attention.query))
    return out


def _set_query(attention: PairAttention, query: np.ndarray) -> None:
    attention.query.assign(query.astype("float32"))


# ---- PairAttention ----------------------------------------------------------------------------


def test_pair_attention_matches_equation_6_and_weights_sum_to_one():
    rng = _rng(1)
    a = rng.normal(size=(2, 6, D_U)).astype("float32")
    b = rng.normal(size=(2, 6, D_U)).astype("float32")
    layer = PairAttention()
    layer.build([a.shape, b.shape])
    query = rng.normal(size=D_U) * 2
    _set_query(layer, query)
    output, weights = layer([a, b], return_attention=True)
    expected_output, expected_weights = np_attention(a, b, query)
    np.testing.assert_allclose(np.asarray(weights), expected_weights, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.asarray(output), expected_output, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(np.asarray(weights).sum(axis=-1), 1.0, atol=1e-6)
    # The weights really vary per frame (a per-frame softmax, not one pair for all frames).
    assert np.asarray(weights)[..., 0].std() > 1e-3


@pytest.mark.parametrize("target", ["a", "b"])
def test_pair_attention_large_query_selects_one_input(target):
    rng = _rng(2)
    direction = np.zeros(D_U)
    direction[0] = 1.0
    # Inputs whose component along `direction` is +1 (a) and -1 (b); other components random.
    a = rng.normal(size=(2, 5, D_U)).astype("float32")
    b = rng.normal(size=(2, 5, D_U)).astype("float32")
    a[..., 0], b[..., 0] = 1.0, -1.0
    layer = PairAttention()
    layer.build([a.shape, b.shape])
    sign = 1.0 if target == "a" else -1.0
    _set_query(layer, sign * 50.0 * direction)  # score gap 100 / sqrt(8) ≈ 35
    output, weights = layer([a, b], return_attention=True)
    chosen = a if target == "a" else b
    np.testing.assert_allclose(np.asarray(output), chosen, atol=1e-5)
    index = 0 if target == "a" else 1
    np.testing.assert_allclose(np.asarray(weights)[..., index], 1.0, atol=1e-6)


def test_pair_attention_rejects_unequal_widths():
    with pytest.raises(ValueError, match="same known width"):
        PairAttention().build([(None, None, 4), (None, None, 5)])


# ---- ConcatFusion ------------------------------------------------------------------------------


def test_concat_fusion_concatenates_features():
    x_s, x_p = _inputs()
    output = np.asarray(ConcatFusion()([x_s, x_p]))
    assert output.shape == (3, 4, D_S + D_P)
    np.testing.assert_array_equal(output, np.concatenate([x_s, x_p], axis=-1))


# ---- DisentangledAttentionFusion ---------------------------------------------------------------


def _disentangled(**kwargs) -> DisentangledAttentionFusion:
    kwargs.setdefault("dimension_names", SEWA)
    kwargs.setdefault("projection_units", D_U)
    layer = DisentangledAttentionFusion(**kwargs)
    layer.build([(None, None, D_S), (None, None, D_P)])
    # Queries large enough that the attention weights are far from 1/2 and orders differ clearly.
    rng = _rng(3)
    for attention in [layer.feature_attention, *layer.head_attentions]:
        _set_query(attention, rng.normal(size=attention.width) * 3)
    return layer


@pytest.mark.parametrize(
    "head_order, fold_order",
    [
        ("paper", ["arousal", "liking", "valence"]),
        ("authors_code", ["arousal", "valence", "liking"]),
        (["liking", "arousal", "valence"], ["liking", "arousal", "valence"]),
    ],
)
def test_disentangled_fusion_matches_equations_4_to_7(head_order, fold_order):
    x_s, x_p = _inputs()
    layer = _disentangled(head_order=head_order)
    assert layer.fold_order == fold_order
    output, attention = layer([x_s, x_p], return_attention=True)
    output = np.asarray(output)
    assert output.shape == (3, 4, D_U)
    np.testing.assert_allclose(output, np_disentangled(layer, x_s, x_p, fold_order), rtol=1e-4, atol=1e-5)
    # The order matters: folding in another order gives another result with the same weights.
    other = fold_order[::-1]
    assert not np.allclose(output, np_disentangled(layer, x_s, x_p, other), atol=1e-3)
    assert np.asarray(attention["features"]).shape == (3, 4, 2)
    assert np.asarray(attention["heads"]).shape == (3, 4, 2, 2)
    for weights in (attention["features"], attention["heads"]):
        np.testing.assert_allclose(np.asarray(weights).sum(axis=-1), 1.0, atol=1e-6)


def test_disentangled_fusion_authors_code_heads():
    x_s, x_p = _inputs()
    layer = _disentangled(head_order="authors_code", head_units=6, head_activation="relu")
    output = np.asarray(layer([x_s, x_p]))
    assert output.shape == (3, 4, 6)
    expected = np_disentangled(layer, x_s, x_p, ["arousal", "valence", "liking"], relu=True)
    np.testing.assert_allclose(output, expected, rtol=1e-4, atol=1e-5)


def test_disentangled_fusion_large_feature_query_selects_semantic_branch():
    x_s, x_p = _inputs()
    x_s, x_p = np.tanh(x_s), np.tanh(x_p)  # bounded inputs, so the biases below dominate
    layer = _disentangled()
    direction = np.zeros(D_U, dtype="float32")
    direction[0] = 1.0
    for projection, sign in [(layer.semantic_projection, 1.0), (layer.paralinguistic_projection, -1.0)]:
        kernel, _ = projection.get_weights()
        projection.set_weights([kernel * 0.01, sign * 10.0 * direction])
    _set_query(layer.feature_attention, 10.0 * direction)  # score gap ≈ 200 / sqrt(8)
    output, attention = layer([x_s, x_p], return_attention=True)
    np.testing.assert_allclose(np.asarray(attention["features"])[..., 0], 1.0, atol=1e-6)
    # Reference that uses the semantic projection alone in place of equation 5's attention.
    proj_s = np_dense(x_s, layer.semantic_projection)
    heads = {n: np_dense(proj_s, layer.heads[i]) for i, n in enumerate(layer.dimension_names)}
    expected = heads["arousal"]
    for attention_layer, name in zip(layer.head_attentions, ["liking", "valence"]):
        expected, _ = np_attention(expected, heads[name], np.asarray(attention_layer.query))
    np.testing.assert_allclose(np.asarray(output), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("names", [["arousal"], ["valence", "arousal"], ["a", "b", "c", "d"]])
def test_disentangled_fusion_any_number_of_dimensions(names):
    x_s, x_p = _inputs()
    layer = _disentangled(dimension_names=names)
    output, attention = layer([x_s, x_p], return_attention=True)
    assert np.asarray(attention["heads"]).shape == (3, 4, len(names) - 1, 2)
    assert len(layer.heads) == len(names) and len(layer.head_attentions) == len(names) - 1
    np.testing.assert_allclose(
        np.asarray(output), np_disentangled(layer, x_s, x_p, layer.fold_order), rtol=1e-4, atol=1e-5
    )


# ---- head order and config ---------------------------------------------------------------------


def test_resolve_head_order():
    assert resolve_head_order("paper", SEWA) == ["arousal", "liking", "valence"]
    assert resolve_head_order("authors_code", SEWA) == ["arousal", "valence", "liking"]
    # Presets order the names they know and keep the others afterwards, in data order.
    assert resolve_head_order("paper", ["valence", "arousal"]) == ["arousal", "valence"]
    assert resolve_head_order("paper", ["x", "valence", "y"]) == ["valence", "x", "y"]
    with pytest.raises(ValueError, match="not a permutation"):
        resolve_head_order(["arousal", "liking"], SEWA)
    with pytest.raises(ValueError, match="unknown head_order preset"):
        resolve_head_order("reversed", SEWA)
    with pytest.raises(ValueError, match="at least one"):
        resolve_head_order("paper", [])


def test_fusion_from_config():
    config = config_from_dict(
        {"kind": "attention", "projection_units": D_U, "head_order": ["liking", "valence", "arousal"],
         "head_activation": "relu", "head_units": 4},
        cls=FusionConfig,
    )
    layer = fusion_from_config(config, SEWA)
    assert isinstance(layer, DisentangledAttentionFusion)
    assert layer.fold_order == ["liking", "valence", "arousal"]
    assert layer.output_units == 4 and layer.head_activation == "relu"
    assert isinstance(fusion_from_config(FusionConfig(kind="concat"), SEWA), ConcatFusion)
    with pytest.raises(ConfigError, match="model.fusion.head_order"):
        fusion_from_config(config, ["arousal", "valence"], source="table3.yaml")


def test_fusion_dropout_is_the_papers_and_acts_in_training_only():
    assert FusionConfig().dropout == 0.5  # the paper: dropout 0.5 on every non-recurrent layer
    layer = fusion_from_config(FusionConfig(kind="attention", projection_units=D_U, dropout=0.5), SEWA)
    assert layer.dropout == 0.5
    x_s, x_p = _inputs(batch=2, frames=50)
    inference = np.asarray(layer([x_s, x_p], training=False))
    # Without dropout, the layer is equations 4-7 exactly; with it, training outputs differ.
    np.testing.assert_allclose(inference, np_disentangled(layer, x_s, x_p, layer.fold_order), rtol=1e-4, atol=1e-5)
    keras.utils.set_random_seed(0)
    trained = np.asarray(layer([x_s, x_p], training=True))
    assert not np.allclose(trained, inference)
    # Saved without a rate (before dropout existed) loads as none.
    config = layer.get_config()
    del config["dropout"]
    assert DisentangledAttentionFusion.from_config(config).dropout == 0.0


# ---- serialisation -----------------------------------------------------------------------------

LAYER_FACTORIES = {
    "concat": lambda: ConcatFusion(name="fusion"),
    "attention_paper": lambda: DisentangledAttentionFusion(SEWA, projection_units=D_U, name="fusion"),
    "attention_authors_code": lambda: DisentangledAttentionFusion(
        SEWA, head_order="authors_code", projection_units=D_U, head_units=6, head_activation="relu",
        name="fusion",
    ),
    "attention_list_one_dim": lambda: DisentangledAttentionFusion(
        ["arousal"], head_order=["arousal"], projection_units=D_U, name="fusion"
    ),
    "attention_dropout": lambda: DisentangledAttentionFusion(SEWA, projection_units=D_U, dropout=0.5, name="fusion"),
}


def _functional(layer: keras.layers.Layer) -> keras.Model:
    x_s = keras.Input((None, D_S), name="x_s")
    x_p = keras.Input((None, D_P), name="x_p")
    return keras.Model([x_s, x_p], layer([x_s, x_p]))


@pytest.mark.parametrize("kind", sorted(LAYER_FACTORIES))
def test_get_config_round_trip(kind):
    x_s, x_p = _inputs()
    layer = LAYER_FACTORIES[kind]()
    expected = np.asarray(layer([x_s, x_p]))
    clone = type(layer).from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()
    clone.build([x_s.shape, x_p.shape])
    clone.set_weights(layer.get_weights())
    np.testing.assert_array_equal(np.asarray(clone([x_s, x_p])), expected)


@pytest.mark.parametrize("kind", sorted(LAYER_FACTORIES))
def test_keras_file_round_trip(kind, tmp_path):
    x_s, x_p = _inputs(frames=5)
    model = _functional(LAYER_FACTORIES[kind]())
    expected = np.asarray(model([x_s, x_p]))
    path = tmp_path / "fusion.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)  # no custom_objects: the layers are registered
    fusion = loaded.get_layer("fusion")
    assert type(fusion) is type(model.get_layer("fusion"))
    assert fusion.get_config() == model.get_layer("fusion").get_config()
    np.testing.assert_array_equal(np.asarray(loaded([x_s, x_p])), expected)


# ---- masks and variable frames -----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(LAYER_FACTORIES))
def test_masked_variable_frames_in_functional_model(kind):
    """Padded frames are masked through the fusion: an LSTM after it sees only the real frames."""
    lengths = [6, 3, 1]
    x_s, x_p = _inputs(batch=len(lengths), frames=max(lengths), seed=4)
    for row, length in enumerate(lengths):
        x_s[row, length:] = 0.0
        x_p[row, length:] = 0.0
    in_s = keras.Input((None, D_S))
    in_p = keras.Input((None, D_P))
    masked = [keras.layers.Masking(0.0)(in_s), keras.layers.Masking(0.0)(in_p)]
    fused = LAYER_FACTORIES[kind]()(masked)
    final = keras.layers.LSTM(4, seed=0)(fused)
    model = keras.Model([in_s, in_p], [fused, final])
    fused_padded, final_padded = (np.asarray(t) for t in model([x_s, x_p]))
    assert np.isfinite(fused_padded).all() and np.isfinite(final_padded).all()
    for row, length in enumerate(lengths):
        fused_alone, final_alone = (
            np.asarray(t) for t in model([x_s[row : row + 1, :length], x_p[row : row + 1, :length]])
        )
        # Per-frame fusion: real frames do not depend on the padding or on other recordings.
        np.testing.assert_allclose(fused_padded[row, :length], fused_alone[0], rtol=1e-5, atol=1e-6)
        # The mask reached the LSTM: its final state ignores the padded frames.
        np.testing.assert_allclose(final_padded[row], final_alone[0], rtol=1e-5, atol=1e-6)


def test_attention_weights_as_model_outputs():
    x_s, x_p = _inputs()
    in_s = keras.Input((None, D_S))
    in_p = keras.Input((None, D_P))
    layer = DisentangledAttentionFusion(SEWA, projection_units=D_U)
    output, attention = layer([in_s, in_p], return_attention=True)
    model = keras.Model([in_s, in_p], {"fused": output, **attention})
    result = model([x_s, x_p])
    assert tuple(result["fused"].shape) == (3, 4, D_U)
    np.testing.assert_allclose(np.asarray(result["features"]).sum(-1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.asarray(result["heads"]).sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("kind", sorted(LAYER_FACTORIES))
def test_output_mask_is_valid_only_where_both_inputs_are(kind):
    x_s, x_p = _inputs(batch=2, frames=4)
    mask_s = np.array([[True, True, False, True], [True, False, False, False]])
    mask_p = np.array([[True, False, True, True], [True, True, False, False]])
    layer = LAYER_FACTORIES[kind]()
    combined = layer.compute_mask([x_s, x_p], [mask_s, mask_p])
    np.testing.assert_array_equal(np.asarray(combined), mask_s & mask_p)
    assert layer.compute_mask([x_s, x_p], [None, mask_p]) is mask_p
    assert layer.compute_mask([x_s, x_p], None) is None


def test_disentangled_fusion_mixed_precision():
    x_s, x_p = _inputs()
    layer = DisentangledAttentionFusion(SEWA, projection_units=D_U, dtype="mixed_float16")
    output, attention = layer([x_s, x_p], return_attention=True)
    assert output.dtype == "float16" and layer.heads[0].compute_dtype == "float16"
    assert layer.feature_attention.query.dtype == "float32"  # variables stay float32
    assert np.isfinite(np.asarray(output)).all()
    np.testing.assert_allclose(np.asarray(attention["features"], "float32").sum(-1), 1.0, atol=1e-2)
    clone = DisentangledAttentionFusion.from_config(layer.get_config())
    assert clone.heads[0].compute_dtype == "float16"
