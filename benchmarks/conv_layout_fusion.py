"""Why the height-1 Conv2D layout speeds up the plain conv1 (bias and ReLU before the pool) and not
the phase-blocked path: TensorFlow's graph rewrites fuse Conv2D + bias + ReLU only where no
Squeeze (which the 1-D layout puts after every conv) stands between them.

    python -m benchmarks.conv_layout_fusion                  # grappler's remapper on (TensorFlow's default)
    python -m benchmarks.conv_layout_fusion --remapper off   # the same without the fusing rewrite

Table 1's conv1 (kernel 8, 1 -> 50 channels) + ReLU + pool 10 on `--frames` 2205-sample frames,
float32, each variant timed `--steps` calls per round in `--rounds` rounds, interleaved in one
process; prints the best and the median round in ms per call.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remapper", choices=["on", "off"], default="on")
    parser.add_argument("--frames", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3)
    args = parser.parse_args()

    import numpy as np
    import tensorflow as tf
    from keras import ops

    from emorec.config import CNNConfig
    from emorec.models import ParalinguisticCNN
    from emorec.models.paralinguistic import conv_height1, max_pool_height1

    if args.remapper == "off":
        tf.config.optimizer.set_experimental_options({"remapping": False})
    cnn = ParalinguisticCNN.from_cnn_config(CNNConfig(conv1_impl="reference"))
    cnn(np.zeros((1, 1, 2205), np.float32))
    conv, pool = cnn.convs[0], cnn.pools[0]
    kernel, bias = conv.kernel, conv.bias
    frames = tf.constant(np.random.default_rng(0).normal(0, 0.1, (args.frames, 2205)).astype(np.float32))
    rows, image = frames[..., None], frames[:, None, :, None]  # [n, 2205, 1] and [n, 1, 2205, 1]
    variants = {
        "keras_conv1d_layers": lambda: pool(conv(rows)),
        "conv1d_add_relu_pool": lambda: ops.max_pool(ops.relu(ops.conv(rows, kernel, padding="same") + bias), 10, 10),
        "conv1d_biasadd_relu_pool": lambda: ops.max_pool(
            tf.nn.relu(tf.nn.bias_add(ops.conv(rows, kernel, padding="same"), bias)), 10, 10),
        "conv2d_add_relu_pool": lambda: max_pool_height1(ops.relu(conv_height1(image, kernel, "same") + bias), 10),
        "conv2d_biasadd_relu_pool": lambda: max_pool_height1(
            tf.nn.relu(tf.nn.bias_add(conv_height1(image, kernel, "same"), bias)), 10),
        "conv1d_conv_only": lambda: ops.conv(rows, kernel, padding="same"),
        "conv2d_conv_only": lambda: conv_height1(image, kernel, "same"),
    }
    functions = {name: tf.function(body) for name, body in variants.items()}
    for function in functions.values():
        function()
    seconds = {name: [] for name in functions}
    names = list(functions)
    for round_index in range(args.rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            started = time.perf_counter()
            for _ in range(args.steps):
                functions[name]()
            seconds[name].append((time.perf_counter() - started) / args.steps)
    print(f"remapper {args.remapper}, {args.frames} frames, load average {os.getloadavg()[0]:.2f}")
    for name, values in seconds.items():
        print(f"{name:26s} best {min(values) * 1e3:6.1f} ms  median {statistics.median(values) * 1e3:6.1f} ms")


if __name__ == "__main__":
    main()
