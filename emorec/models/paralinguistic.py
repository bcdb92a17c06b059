"""The paralinguistic branch: the raw-waveform CNN of Table 1, one feature vector per 0.1 s frame.

Table 1 of the paper: conv 8/1 (50, ReLU) -> max-pool 10/10 -> conv 6/1 (125, ReLU) -> max-pool
5/5 -> conv 6/1 (125, ReLU) -> max-pool 5/5, dropout 0.5 after each pool.

Frame alignment. Run over a whole 10 s sequence (220,500 samples) the pools leave 220500 / 250 =
882 steps, which does not divide into the 100 label frames, so the CNN's time axis would drift
against the label grid. Instead the conv stack runs on each 2205-sample frame on its own: frames
are folded into the batch axis (`[batch * frames, 2205, 1]`), the pools leave 8 steps per frame
("same" padding: 2205 -> 220 -> 44 -> 8), and those are pooled to one vector per frame. Feature
i therefore depends on the audio of frame i only, which `tests/models/test_paralinguistic.py`
checks. The folding is done with reshapes rather than `TimeDistributed(submodel)`, which tf2onnx
cannot convert.

conv1 + pool1 without the full-resolution activation (`conv1_impl="phase_blocked"`, the default).
Run plainly, conv1 (1 -> 50 channels, kernel 8) writes a `[frames, 2205, 50]` activation (1.1 GB
fp32 for a batch of 25 x 10 s), then adds the bias, applies the ReLU and max-pools it, each a pass
over that tensor: memory-bound, and a third of the CNN's inference time for 6.5 % of its FLOPs.
The phase-blocked form computes the same numbers from the same `kernel [8, 1, 50]` / `bias [50]`:

- pool window i (outputs 10i .. 10i+9) reads the 17 padded samples 10i .. 10i+16, so a frame is
  viewed as `[220 windows, 17]` (reshapes and one concat, no gather);
- one matmul against a `[17, 10 x 50]` Toeplitz matrix, built from the kernel in `call`, gives
  the 10 phases of the conv output of every window, and a max over the phases gives pool1;
- the max runs on chunks of a few frames in a loop, so the phase outputs of a chunk (~1 MB) stay
  in cache instead of the whole batch's 1.1 GB going through memory; the backward pass
  recomputes a chunk's phases rather than storing them (a custom gradient);
- bias and ReLU come after the max: max_p relu(y_p + b) = relu(max_p y_p + b) exactly, because
  adding b and the ReLU are monotone, so they run on 220 steps instead of 2205.

The phase-blocked path also adds conv2's and conv3's bias and applies their ReLU after their
pools (same identity). `conv1_impl="reference"` keeps the plain Keras Conv1D -> MaxPooling1D
stack; the two agree to float rounding (tests/models/test_paralinguistic.py) and share checkpoints.

Conv layout (`conv_layout`). The convs and max-pools can run as 1-D ops on `[n, steps, C]`
("conv1d") or as 2-D ops of height 1 on `[n, 1, steps, C]` with the Conv1D kernel `[k, Cin, Cout]`
viewed as `[1, k, Cin, Cout]` ("conv2d"). The variables are the same either way, so checkpoints
and SavedModels do not change and a loaded model can switch layout. On a CPU with AVX512_BF16 the
2-D form together with mixed_bfloat16 measured x1.4 training and x2.1 inference over plain
float32; `auto` therefore picks conv2d exactly when the layer computes in bfloat16,
conv1d otherwise. In float32 on a 2-core AVX-512 Xeon the two layouts run the default model
equally fast: conv2 and conv3 are the same oneDNN Conv2D either way (TensorFlow's conv1d is a
Conv2D between ExpandDims and Squeeze) and their bias and ReLU come after the pool. Only a conv
followed directly by bias + ReLU gains: the reference conv1 + ReLU + pool1 ran in half the time
as conv2d, where no Squeeze keeps TensorFlow from fusing them (per-layer timings: `layers_median` of
benchmarks/results/conv_layout.json).
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from emorec.config import CNNConfig
from emorec.constants import FRAME_LENGTH_SAMPLES
from emorec.models.standardisation import FrameStatisticsStandardisation

CONV1_IMPLEMENTATIONS = ("phase_blocked", "reference")
CONV_LAYOUTS = ("auto", "conv1d", "conv2d")
#: Frames per loop iteration of the phase-blocked conv1: 4 frames are 880 windows x 500 phase
#: outputs = 1.8 MB fp32, which stay in cache. Measured on a 2-core AVX-512 Xeon with 1 to 32
#: frames: 2 to 8 equally fast, 1 slower (loop overhead), 16 and more slower (spill to memory).
PHASE_BLOCK_CHUNK_FRAMES = 4
#: Loop iterations in flight at once, so that both cores of a small machine have a chunk to work on.
PHASE_BLOCK_PARALLEL_ITERATIONS = 4


def conv_pool_windows(frames_length_samples: int, kernel_size: int, pool_size: int, padding: str) -> int:
    """Pool windows a conv (stride 1) then a max-pool (pool_size / pool_size, "valid") leave of a frame."""
    conv_steps = frames_length_samples if padding == "same" else frames_length_samples - kernel_size + 1
    return conv_steps // pool_size


def conv_layout_for_dtype(conv_layout: str, compute_dtype: str) -> str:
    """The layout ("conv1d" or "conv2d") a CNN computing in `compute_dtype` runs: `conv_layout`
    itself, or for "auto" conv2d exactly when the compute dtype is bfloat16 (module doc)."""
    if conv_layout not in CONV_LAYOUTS:
        raise ValueError(f"conv_layout must be one of {', '.join(CONV_LAYOUTS)}, got {conv_layout!r}")
    if conv_layout != "auto":
        return conv_layout
    return "conv2d" if str(compute_dtype) == "bfloat16" else "conv1d"


def conv_height1(x, kernel, padding: str):
    """A Conv1D as a Conv2D of height 1: x `[n, 1, steps, Cin]`, kernel `[k, Cin, Cout]` (a Conv1D
    kernel, given a leading axis of 1, not copied) -> `[n, 1, steps', Cout]`, no bias."""
    return ops.conv(x, ops.expand_dims(kernel, 0), strides=1, padding=padding)


def max_pool_height1(x, pool_size: int):
    """MaxPooling1D(pool_size, strides=pool_size) as a 2-D max-pool of height 1 on `[n, 1, steps, C]`."""
    return ops.max_pool(x, (1, pool_size), (1, pool_size), "valid")


def toeplitz_selection(kernel_size: int, pool_size: int) -> np.ndarray:
    """0/1 `[window * pool_size, kernel_size]` with window = pool_size + kernel_size - 1: row
    (r, q) selects kernel tap r - q, so selection @ kernel is the Toeplitz matrix T[r, q] = w[r - q]
    whose column q computes the conv output at phase q of a pool window from its window samples r."""
    window = pool_size + kernel_size - 1
    selection = np.zeros((window, pool_size, kernel_size), np.float32)
    for phase in range(pool_size):
        for tap in range(kernel_size):
            selection[phase + tap, phase, tap] = 1.0
    return selection.reshape(window * pool_size, kernel_size)


def conv_relu_pool_phase_blocked(frames, kernel, bias, pool_size: int, padding: str = "same",
                                 chunk_frames: int = PHASE_BLOCK_CHUNK_FRAMES,
                                 parallel_iterations: int = PHASE_BLOCK_PARALLEL_ITERATIONS):
    """max_pool(relu(conv1d(frames, kernel) + bias)) of one-channel frames, without the conv's
    full-resolution output (module doc).

    frames: `[n, samples]`; kernel: `[k, 1, filters]` (a Conv1D kernel); bias: `[filters]`;
    padding: "same" (as Keras / TensorFlow pad it: (k - 1) // 2 zeros before, the rest after) or
    "valid". The pool is `pool_size / pool_size`, "valid", as `MaxPooling1D`'s default.
    Returns `[n, windows, filters]`, windows = conv steps // pool_size (220 for Table 1's conv1).
    """
    kernel_size, filters = int(kernel.shape[0]), int(kernel.shape[-1])
    samples = int(frames.shape[-1])
    windows = conv_pool_windows(samples, kernel_size, pool_size, padding)
    window = pool_size + kernel_size - 1  # samples one pool window's outputs read (17)
    # Pool window i reads padded samples [i * pool, i * pool + window): the blocks i .. i + extra of
    # the padded frame cut into pool_size-sample blocks. Samples past the frame are zeros, as in
    # "same" padding; with "valid" padding no window reaches them.
    extra = math.ceil((kernel_size - 1) / pool_size)
    before = (kernel_size - 1) // 2 if padding == "same" else 0
    needed = (windows + extra) * pool_size
    padded = ops.pad(frames, [[0, 0], [before, max(0, needed - samples - before)]])[:, :needed]
    blocks = ops.reshape(padded, (-1, windows + extra, pool_size))
    samples_per_window = ops.concatenate([blocks[:, j:j + windows] for j in range(extra + 1)], axis=-1)
    samples_per_window = samples_per_window[..., :window]  # [n, windows, 17]

    toeplitz = ops.reshape(
        ops.matmul(ops.convert_to_tensor(toeplitz_selection(kernel_size, pool_size), kernel.dtype), kernel[:, 0, :]),
        (window, pool_size * filters))  # [17, 10 * 50]: column (q, f) is filter f at phase q

    # Chunks of a few frames for the loop; a short input is one chunk (no padding to chunk_frames).
    count = ops.shape(samples_per_window)[0]
    chunk = ops.maximum(ops.minimum(chunk_frames, count), 1)
    chunks = (count + chunk - 1) // chunk
    samples_per_window = ops.pad(samples_per_window, [[0, chunks * chunk - count], [0, 0], [0, 0]])
    samples_per_window = ops.reshape(samples_per_window, (chunks, chunk * windows, window))
    pooled = _max_over_phases(samples_per_window, toeplitz, pool_size, filters, parallel_iterations)
    pooled = ops.reshape(pooled, (chunks * chunk, windows, filters))[:count]
    # After the max: exact (max commutes with + b and with the ReLU, both monotone), 10x fewer values.
    return ops.relu(pooled + bias)


def _max_over_phases(samples_per_window, toeplitz, pool_size: int, filters: int, parallel_iterations: int):
    """`[chunks, rows, window]` x `[window, pool * filters]` -> max over the pool phases `[chunks, rows, filters]`,
    one chunk at a time; the gradient recomputes each chunk's phases instead of storing them."""
    dtype = samples_per_window.dtype
    window = int(toeplitz.shape[0])

    def chunk_max(chunk_samples, weights):
        phases = ops.reshape(ops.matmul(chunk_samples, weights), (-1, pool_size, filters))
        # MaxPool rather than reduce_max: its gradient is one MaxPoolGrad op, reduce_max's four.
        return ops.reshape(tf.nn.max_pool1d(phases, pool_size, pool_size, "VALID"), (-1, filters))

    @tf.custom_gradient
    def max_over_phases(samples, weights):
        pooled = tf.map_fn(lambda chunk_samples: chunk_max(chunk_samples, weights), samples,
                           fn_output_signature=tf.TensorSpec([None, filters], dtype),
                           parallel_iterations=parallel_iterations)

        def gradient(upstream):
            def chunk_gradient(chunk_samples, chunk_upstream, wrt_weights: bool):
                with tf.GradientTape() as tape:
                    tape.watch(weights if wrt_weights else chunk_samples)
                    chunk_pooled = chunk_max(chunk_samples, weights)
                return tape.gradient(chunk_pooled, weights if wrt_weights else chunk_samples,
                                     output_gradients=chunk_upstream)

            weights_gradient = tf.foldl(
                lambda total, args: total + chunk_gradient(*args, wrt_weights=True), (samples, upstream),
                initializer=tf.zeros_like(weights), parallel_iterations=parallel_iterations)
            # A loop of its own: when nothing asks for the gradient of the audio (training), the graph
            # prunes it.
            samples_gradient = tf.map_fn(
                lambda args: chunk_gradient(*args, wrt_weights=False), (samples, upstream),
                fn_output_signature=tf.TensorSpec([None, window], dtype), parallel_iterations=parallel_iterations)
            return samples_gradient, weights_gradient

        return pooled, gradient

    return max_over_phases(samples_per_window, toeplitz)


@keras.saving.register_keras_serializable(package="emorec")
class ParalinguisticCNN(layers.Layer):
    """Raw-audio CNN applied per frame.

    Input: float32 `[batch, frames, FRAME_LENGTH_SAMPLES]`. Output: `[batch, frames, filters[-1]]`.

    Args:
        conv1_impl: "phase_blocked" (conv1 + ReLU + pool1 without the full-resolution activation,
            module doc) or "reference" (plain Conv1D -> MaxPooling1D). Same weights, same outputs
            to float rounding.
        conv_layout: "conv1d" (1-D convs and pools on `[n, steps, C]`), "conv2d" (2-D ops of
            height 1 on `[n, 1, steps, C]`, same variables) or "auto" (conv2d exactly when the
            layer computes in bfloat16; module doc). Switchable after loading: set the attribute
            before the model is traced again.
        last_dropout: False leaves out the dropout after the last conv block, for features that
            are standardised with their own statistics next (`FrameStatisticsStandardisation`):
            statistics taken over dropped-out features at training would not match those at
            evaluation (the LSTM's input dropout still follows).
    """

    def __init__(
        self,
        filters: Sequence[int] = (50, 125, 125),
        kernel_sizes: Sequence[int] = (8, 6, 6),
        pool_sizes: Sequence[int] = (10, 5, 5),
        dropout: float = 0.5,
        padding: str = "same",
        frame_pooling: str = "max",
        frame_length_samples: int = FRAME_LENGTH_SAMPLES,
        conv1_impl: str = "phase_blocked",
        last_dropout: bool = True,
        conv_layout: str = "auto",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not (len(filters) == len(kernel_sizes) == len(pool_sizes)):
            raise ValueError("filters, kernel_sizes and pool_sizes must have the same length")
        if frame_pooling not in ("max", "mean"):
            raise ValueError(f"frame_pooling must be 'max' or 'mean', got {frame_pooling!r}")
        if conv1_impl not in CONV1_IMPLEMENTATIONS:
            raise ValueError(f"conv1_impl must be one of {', '.join(CONV1_IMPLEMENTATIONS)}, got {conv1_impl!r}")
        conv_layout_for_dtype(conv_layout, "float32")  # refuses an unknown layout now, not at the first call
        self.filters = [int(f) for f in filters]
        self.kernel_sizes = [int(k) for k in kernel_sizes]
        self.pool_sizes = [int(p) for p in pool_sizes]
        self.dropout_rate = float(dropout)
        self.padding = padding
        self.frame_pooling = frame_pooling
        self.frame_length_samples = int(frame_length_samples)
        self.conv1_impl = conv1_impl
        self.last_dropout = bool(last_dropout)
        self.conv_layout = conv_layout
        self.convs = [
            layers.Conv1D(f, k, strides=1, padding=padding, activation="relu", name=f"conv{i + 1}")
            for i, (f, k) in enumerate(zip(self.filters, self.kernel_sizes))
        ]
        self.pools = [layers.MaxPooling1D(p, strides=p, name=f"pool{i + 1}") for i, p in enumerate(self.pool_sizes)]
        self.dropouts = [layers.Dropout(self.dropout_rate, name=f"dropout{i + 1}") for i in range(len(self.filters))]
        if not self.last_dropout:
            self.dropouts[-1] = layers.Identity(name=f"dropout{len(self.filters)}_off")
        steps = self.frame_length_samples
        for k, p in zip(self.kernel_sizes, self.pool_sizes):
            steps = (steps if padding == "same" else steps - k + 1) // p
        if steps < 1:
            raise ValueError(f"the conv stack leaves no time steps of a {self.frame_length_samples}-sample frame")
        #: Time steps left inside one frame after the last pool (8 with Table 1 and "same" padding).
        self.steps_per_frame = steps

    def build(self, input_shape):
        shape = (None, self.frame_length_samples, 1)
        for conv, pool in zip(self.convs, self.pools):
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
            shape = pool.compute_output_shape(shape)
        self.built = True

    @property
    def conv_layout_in_use(self) -> str:
        """"conv1d" or "conv2d": `conv_layout` with "auto" resolved for this layer's compute dtype."""
        return conv_layout_for_dtype(self.conv_layout, self.compute_dtype)

    def call(self, audio, training: Optional[bool] = None):
        batch = ops.shape(audio)[0]
        frames = ops.shape(audio)[1]
        layout = self.conv_layout_in_use
        # Fold frames into the batch: each 0.1 s frame is convolved on its own (see module doc).
        x = ops.reshape(audio, (-1, self.frame_length_samples))
        for index in range(len(self.convs)):
            x = self.conv_block(index, x, layout, training=training)
        # The few steps left per frame (8) become one vector: max keeps the strongest response of
        # each filter anywhere in the frame, the same choice as the max-pools before it.
        x = ops.max(x, axis=-2) if self.frame_pooling == "max" else ops.mean(x, axis=-2)
        return ops.reshape(x, (batch, frames, self.filters[-1]))

    def conv_block(self, index: int, x, layout: str, training: Optional[bool] = None):
        """Conv `index` (0-based) + ReLU + max-pool + dropout in `layout` ("conv1d" / "conv2d").

        x: the frames `[n, samples]` for block 0; the previous block's output after that,
        `[n, steps, C]` (conv1d) or `[n, 1, steps, C]` (conv2d), which is what this returns.
        Public so that benchmarks/train_speed.py can time one block of this very code.
        """
        conv, pool, dropout = self.convs[index], self.pools[index], self.dropouts[index]
        pool_size = pool.pool_size[0]
        kernel, bias = ops.cast(conv.kernel, x.dtype), ops.cast(conv.bias, x.dtype)
        if index == 0 and self.conv1_impl == "phase_blocked":
            x = conv_relu_pool_phase_blocked(x, kernel, bias, pool_size, self.padding)
            return dropout(ops.expand_dims(x, 1) if layout == "conv2d" else x, training=training)
        if index == 0:
            x = ops.expand_dims(x, -1)
            x = ops.expand_dims(x, 1) if layout == "conv2d" else x
        if self.conv1_impl == "reference":
            if layout == "conv1d":
                return dropout(pool(conv(x)), training=training)  # the Keras layers of Table 1 as they are
            # The same order as the Keras stack (bias, ReLU, then pool), in 2-D ops.
            return dropout(max_pool_height1(ops.relu(conv_height1(x, kernel, self.padding) + bias), pool_size),
                           training=training)
        # conv2 and conv3 of the phase-blocked path: the same exact reordering as conv1, bias and
        # ReLU after the max-pool, on 5x fewer values, instead of two more passes over the conv's output.
        if layout == "conv2d":
            x = max_pool_height1(conv_height1(x, kernel, self.padding), pool_size)
        else:
            x = pool(ops.conv(x, kernel, strides=1, padding=self.padding))
        return dropout(ops.relu(x + bias), training=training)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[1], self.filters[-1])

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_sizes=self.kernel_sizes,
            pool_sizes=self.pool_sizes,
            dropout=self.dropout_rate,
            padding=self.padding,
            frame_pooling=self.frame_pooling,
            frame_length_samples=self.frame_length_samples,
            conv1_impl=self.conv1_impl,
            last_dropout=self.last_dropout,
            conv_layout=self.conv_layout,
        )
        return config

    @classmethod
    def from_cnn_config(cls, config: CNNConfig, **kwargs) -> "ParalinguisticCNN":
        return cls(
            filters=config.filters,
            kernel_sizes=config.kernel_sizes,
            pool_sizes=config.pool_sizes,
            dropout=config.dropout,
            padding=config.padding,
            frame_pooling=config.frame_pooling,
            conv1_impl=config.conv1_impl,
            conv_layout=config.conv_layout,
            **kwargs,
        )


def paralinguistic_features(audio, config: CNNConfig, name: str = "paralinguistic_cnn", *,
                            feature_statistics: str = "none"):
    """Apply the Table 1 CNN to a symbolic `[batch, frames, 2205]` tensor: `[batch, frames, C]`.

    feature_statistics `speaker`: the features are standardised over the batch's real frames
    (`FrameStatisticsStandardisation`; the input pipeline makes a batch one speaker's)."""
    standardise = feature_statistics == "speaker"
    features = ParalinguisticCNN.from_cnn_config(config, name=name, last_dropout=not standardise)(audio)
    if standardise:
        features = FrameStatisticsStandardisation(name="speaker_standardisation")([features, audio])
    return features
