"""Fusion of the semantic (x_s) and paralinguistic (x_p) frame features, section 2.3 of the paper.

Two ways of joining the branches, both per frame (nothing mixes information across frames, so
padded or masked frames cannot leak into real ones):

* `ConcatFusion`: x_fusion = [x_s, x_p].
* `DisentangledAttentionFusion` (equations 4 to 7): project both to d_u, attend between them,
  one dense head per affect dimension, then attend over the heads, folded left in a chosen order.

`PairAttention` is the attention of equation 6, shared by both attention stages.
`fusion_from_config` builds the layer a `FusionConfig` asks for.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Optional, Sequence, Tuple, Union

import keras
from keras import ops

from emorec.config import FusionConfig
from emorec.errors import ConfigError
from emorec.text import layer_safe_name

#: Orders in which the head attention folds the affect dimensions (equation 7).
#: "paper": Attention(Attention(a, l), v) as printed in the paper;
#: "authors_code": Attention(Attention(a, v), l) as in the authors' released code.
HEAD_ORDER_PRESETS: Dict[str, Tuple[str, ...]] = {
    "paper": ("arousal", "liking", "valence"),
    "authors_code": ("arousal", "valence", "liking"),
}

HeadOrder = Union[str, Sequence[str]]


def resolve_head_order(head_order: HeadOrder, dimension_names: Sequence[str]) -> List[str]:
    """The dimension names in the order the head attention folds them.

    A preset name ("paper", "authors_code") orders the SEWA names it knows by the preset and keeps
    any other name afterwards in data order, so that a preset works for any set of dimensions
    (e.g. EmoDB's derived arousal and valence). A list must be a permutation of `dimension_names`.
    Raises `ValueError` on an unknown preset, an empty or duplicated name list, or a list that is
    not a permutation.
    """
    names = list(dimension_names)
    if not names:
        raise ValueError("fusion needs at least one affect dimension name")
    if len(set(names)) != len(names):
        raise ValueError(f"dimension names repeat: {names}")
    if isinstance(head_order, str):
        if head_order not in HEAD_ORDER_PRESETS:
            raise ValueError(
                f"unknown head_order preset {head_order!r} (known: {', '.join(HEAD_ORDER_PRESETS)}; "
                "or give a list of dimension names)"
            )
        preset = HEAD_ORDER_PRESETS[head_order]
        return [n for n in preset if n in names] + [n for n in names if n not in preset]
    order = list(head_order)
    if sorted(order) != sorted(names):
        raise ValueError(f"head_order {order} is not a permutation of the dimension names {names}")
    return order


def _combined_mask(previous_mask: Any) -> Any:
    """One frame mask for a fused output: a frame is valid only where every input's frame is."""
    if previous_mask is None:
        return None
    masks = [m for m in keras.tree.flatten(previous_mask) if m is not None]
    if not masks:
        return None
    combined = masks[0]
    for mask in masks[1:]:
        combined = ops.logical_and(combined, mask)
    return combined


def _two_shapes(input_shape: Any, layer_name: str) -> Tuple[tuple, tuple]:
    shapes = list(input_shape)
    if len(shapes) != 2 or not all(isinstance(s, (list, tuple)) for s in shapes):
        raise ValueError(f"{layer_name} expects two inputs [x_s, x_p], got input shape {input_shape}")
    return tuple(shapes[0]), tuple(shapes[1])


@keras.saving.register_keras_serializable(package="emorec")
class ConcatFusion(keras.layers.Layer):
    """x_fusion = [x_s, x_p]: concatenation on the feature axis.

    Call: `[x_s, x_p]` with x_s `[batch, frames, d_s]` and x_p `[batch, frames, d_p]`
    -> `[batch, frames, d_s + d_p]`. Frame masks of the inputs are combined with a logical and.
    """

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.supports_masking = True

    def build(self, input_shape: Any) -> None:
        _two_shapes(input_shape, self.name)
        self.built = True

    def call(self, inputs: Sequence[Any]) -> Any:
        x_s, x_p = inputs
        return ops.concatenate([x_s, x_p], axis=-1)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return _combined_mask(previous_mask)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shape_s, shape_p = _two_shapes(input_shape, self.name)
        if shape_s[-1] is None or shape_p[-1] is None:
            return shape_s[:-1] + (None,)
        return shape_s[:-1] + (shape_s[-1] + shape_p[-1],)

    def get_config(self) -> Dict[str, Any]:
        return super().get_config()


@keras.saving.register_keras_serializable(package="emorec")
class PairAttention(keras.layers.Layer):
    """Attention between two inputs of equal width, equation 6 of the paper.

    Attention(a, b) = α_a a + α_b b, with [α_a, α_b] = softmax([a·q, b·q] / sqrt(d)), where q `[d]`
    is this layer's own learnable query and the softmax runs over the two inputs, separately for
    every frame. (d is the width of a and b: d_u for the feature attention of equation 5, and the
    head width for the head attention of equation 7, which equals d_u in the paper's setting.)

    Call: `[a, b]`, each `[batch, frames, d]` -> `[batch, frames, d]`; with `return_attention=True`
    a tuple (output, weights) where weights `[batch, frames, 2]` holds [α_a, α_b] per frame.
    """

    def __init__(self, query_initializer: Any = "glorot_uniform", **kwargs: Any):
        super().__init__(**kwargs)
        self.query_initializer = keras.initializers.get(query_initializer)
        self.supports_masking = True

    def build(self, input_shape: Any) -> None:
        shape_a, shape_b = _two_shapes(input_shape, self.name)
        width = shape_a[-1]
        if width is None or shape_b[-1] != width:
            raise ValueError(
                f"{self.name}: both inputs need the same known width, got {shape_a} and {shape_b}"
            )
        self.width = int(width)
        self.query = self.add_weight(
            name="query", shape=(self.width,), initializer=self.query_initializer, trainable=True
        )
        self.built = True

    def call(self, inputs: Sequence[Any], return_attention: bool = False) -> Any:
        a, b = inputs
        query = ops.cast(self.query, a.dtype)
        # Equation 6: one score per input and frame, scaled by sqrt(d) as in dot-product attention.
        scale = 1.0 / math.sqrt(self.width)
        scores = ops.stack([ops.sum(a * query, axis=-1), ops.sum(b * query, axis=-1)], axis=-1) * scale
        weights = ops.softmax(scores, axis=-1)  # [batch, frames, 2], sums to one per frame
        output = weights[..., 0:1] * a + weights[..., 1:2] * b
        if return_attention:
            return output, weights
        return output

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return _combined_mask(previous_mask)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config["query_initializer"] = keras.initializers.serialize(self.query_initializer)
        return config


@keras.saving.register_keras_serializable(package="emorec")
class DisentangledAttentionFusion(keras.layers.Layer):
    """Disentangled attention fusion, equations 4 to 7 of the paper.

    x_s' = W_s x_s, x_p' = W_p x_p                      (eq. 4, linear, d_u = projection_units)
    a = Attention(x_s', x_p')                           (eq. 5, with eq. 6's PairAttention)
    h_k = f(W_k a) for each affect dimension k          (one dense head per dimension)
    x_fusion = Attention(...Attention(h_1, h_2)..., h_N) (eq. 7, folded left in `head_order`;
                                                          each attention has its own q)

    Args:
        dimension_names: the affect dimensions, in the data's label order (one head each, N >= 1;
            with N = 1 there is no head attention and x_fusion = h_1).
        head_order: "paper" (Attention(Attention(a, l), v)), "authors_code"
            (Attention(Attention(a, v), l)) or an explicit list of the dimension names.
            See `resolve_head_order`.
        projection_units: d_u of equation 4.
        head_units: width of each head; None means d_u (the paper). The authors' code used 512.
        head_activation: activation of the heads; the paper's heads are linear, the authors' code
            used "relu".
        use_bias: whether the projections and heads have a bias.
        dropout: rate of the dropout on the outputs of the projections and of each head (the
            paper: 0.5 on every non-recurrent layer). 0 here so that models saved before it
            existed load unchanged; the config's default (`model.fusion.dropout`) is 0.5.

    Call: `[x_s, x_p]` with x_s `[batch, frames, d_s]`, x_p `[batch, frames, d_p]`
    -> `[batch, frames, head_units]`. With `return_attention=True`, a tuple (output, attention):
    attention["features"] `[batch, frames, 2]` is [α_s, α_p] of equation 5, and attention["heads"]
    `[batch, frames, N - 1, 2]` holds, for fold step i, [α of the running result, α of the next
    head] in `self.fold_order`. Every weight pair sums to one.
    """

    def __init__(
        self,
        dimension_names: Sequence[str],
        head_order: HeadOrder = "paper",
        projection_units: int = 1024,
        head_units: Optional[int] = None,
        head_activation: Optional[str] = "linear",
        use_bias: bool = True,
        dropout: float = 0.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.dimension_names = [str(n) for n in dimension_names]
        self.head_order = head_order if isinstance(head_order, str) else [str(n) for n in head_order]
        self.fold_order = resolve_head_order(self.head_order, self.dimension_names)
        if projection_units < 1:
            raise ValueError(f"projection_units must be positive, got {projection_units}")
        if head_units is not None and head_units < 1:
            raise ValueError(f"head_units must be positive, got {head_units}")
        self.projection_units = int(projection_units)
        self.head_units = None if head_units is None else int(head_units)
        self.head_activation = head_activation
        self.use_bias = bool(use_bias)
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must lie in [0, 1), got {dropout}")
        self.dropout = float(dropout)
        self.supports_masking = True
        self._create_sublayers()

    def _create_sublayers(self) -> None:
        """Create the sublayers: the two projections (eq. 4), the feature attention (eq. 5), one head
        per dimension, the N - 1 head attentions (eq. 7) and the dropouts."""
        units = self.output_units
        # Equation 4: separate linear maps of each branch into the shared space of width d_u.
        self.semantic_projection = keras.layers.Dense(
            self.projection_units,
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="semantic_projection",
        )
        self.paralinguistic_projection = keras.layers.Dense(
            self.projection_units,
            use_bias=self.use_bias,
            dtype=self.dtype_policy,
            name="paralinguistic_projection",
        )
        # Equation 5: attention between the two projected branches, with its own q.
        self.feature_attention = PairAttention(dtype=self.dtype_policy, name="feature_attention")
        # One head per dimension, kept in data order: heads[i] belongs to dimension_names[i].
        self.heads = [
            keras.layers.Dense(
                units,
                activation=self.head_activation,
                use_bias=self.use_bias,
                dtype=self.dtype_policy,
                name=f"head_{i}_{layer_safe_name(dim)}",
            )
            for i, dim in enumerate(self.dimension_names)
        ]
        # Equation 7: N - 1 attentions, each with its own q, folding the heads left in fold_order.
        self.head_attentions = [
            PairAttention(dtype=self.dtype_policy, name=f"head_attention_{step}")
            for step in range(len(self.dimension_names) - 1)
        ]
        self._fold_indices = [self.dimension_names.index(n) for n in self.fold_order]
        # One Dropout per site (no weights, so the saved weights are unchanged by it).
        self.projection_dropout = keras.layers.Dropout(self.dropout, name="projection_dropout")
        self.head_dropout = keras.layers.Dropout(self.dropout, name="head_dropout")

    def build(self, input_shape: Any) -> None:
        shape_s, shape_p = _two_shapes(input_shape, self.name)
        self.semantic_projection.build(shape_s)
        self.paralinguistic_projection.build(shape_p)
        projected = shape_s[:-1] + (self.projection_units,)
        self.feature_attention.build([projected, projected])
        for head in self.heads:
            head.build(projected)
        head_shape = projected[:-1] + (self.output_units,)
        for attention in self.head_attentions:
            attention.build([head_shape, head_shape])
        self.built = True

    @property
    def output_units(self) -> int:
        """Width of x_fusion: head_units, or d_u when head_units is None."""
        return self.projection_units if self.head_units is None else self.head_units

    def call(self, inputs: Sequence[Any], return_attention: bool = False, training: Any = None) -> Any:
        x_s, x_p = inputs
        projected_s = self.projection_dropout(self.semantic_projection(x_s), training=training)  # eq. 4
        projected_p = self.projection_dropout(self.paralinguistic_projection(x_p), training=training)
        fused, feature_weights = self.feature_attention(
            [projected_s, projected_p], return_attention=True
        )  # eq. 5
        # [batch, frames, head_units] each
        heads = [self.head_dropout(head(fused), training=training) for head in self.heads]
        ordered = [heads[i] for i in self._fold_indices]
        output = ordered[0]
        head_weights = []
        for attention, head in zip(self.head_attentions, ordered[1:]):  # eq. 7, folded left
            output, weights = attention([output, head], return_attention=True)
            head_weights.append(weights)
        if not return_attention:
            return output
        if head_weights:
            stacked = ops.stack(head_weights, axis=-2)  # [batch, frames, N - 1, 2]
        else:
            # One dimension: no head attention, an empty [batch, frames, 0, 2] keeps the structure.
            stacked = ops.expand_dims(feature_weights, axis=-2)[..., :0, :]
        return output, {"features": feature_weights, "heads": stacked}

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return _combined_mask(previous_mask)

    def get_config(self) -> Dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "dimension_names": list(self.dimension_names),
                "head_order": self.head_order if isinstance(self.head_order, str) else list(self.head_order),
                "projection_units": self.projection_units,
                "head_units": self.head_units,
                "head_activation": self.head_activation,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
            }
        )
        return config


def fusion_from_config(
    config: FusionConfig,
    dimension_names: Sequence[str],
    name: str = "fusion",
    source: str = "<config>",
) -> keras.layers.Layer:
    """The fusion layer `config` asks for, with one head per name in `dimension_names`.

    `dimension_names` come from the data (the manifest's label_names). A head_order list that is
    not a permutation of them is a `ConfigError` naming `source` and `model.fusion.head_order`.
    """
    if config.kind == "concat":
        return ConcatFusion(name=name)
    if config.kind == "attention":
        try:
            resolve_head_order(config.head_order, dimension_names)
        except ValueError as error:
            raise ConfigError(source, "model.fusion.head_order", str(error)) from None
        return DisentangledAttentionFusion(
            dimension_names=dimension_names,
            head_order=config.head_order,
            projection_units=config.projection_units,
            head_units=config.head_units,
            head_activation=config.head_activation,
            dropout=config.dropout,
            name=name,
        )
    raise ConfigError(source, "model.fusion.kind", f"unknown fusion kind {config.kind!r}")
