"""Training throughput and inference speed of the paralinguistic and the full model at the paper's shapes.

    python benchmarks/train_speed.py                       # float32 and mixed_bfloat16
    python benchmarks/train_speed.py --precision float32 --train-steps 10 --threads 2
    python benchmarks/train_speed.py --precision float32 --model paralinguistic concat attention

--model: `paralinguistic` (Table 2's audio row), `concat` / `attention` (Table 3: 100-d aligned
Speech2Vec frame features + the CNN, fused by concatenation or disentangled attention with
d_u = 1024 and linear heads of 1024), `semantic` (semantic branch only).

Figures:
- training: seconds of audio trained per wall-clock second (batch 25 x 10 s sequences, one
  optimiser step each, data already in memory so the input pipeline is not measured);
- inference: times real time (10 s sequences, batch 25, `training=False`);
- FLOPs per second of audio (forward, counted analytically: 2 x multiply-adds of the convs,
  the LSTM and the output layers), so that a throughput reads against the CPU's peak; training
  costs about 3x the forward FLOPs.
Targets on 2 CPU cores: training >= 100 s of audio / s, inference >= 500x real time.
"""
from __future__ import annotations

import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402


MODELS = ("paralinguistic", "semantic", "concat", "attention")


def forward_flops_per_second_of_audio(filters=(50, 125, 125), kernels=(8, 6, 6), pools=(10, 5, 5),
                                      lstm_units=256, dimensions=3, frame_length=2205, frame_rate_hz=10,
                                      model="paralinguistic", semantic_dim=100, projection_units=1024,
                                      head_units=1024) -> float:
    """2 x multiply-adds of one forward pass over 1 s of audio ("same" padding)."""
    macs_per_frame = 0
    steps, channels = frame_length, 1
    if model != "semantic":
        for f, k, p in zip(filters, kernels, pools):
            macs_per_frame += steps * k * channels * f
            steps, channels = steps // p, f
    if model == "semantic":
        channels = semantic_dim
    elif model == "concat":
        channels += semantic_dim
    elif model == "attention":  # eq. 4 projections, one head per dimension (eq. 7 attentions are ~free)
        macs_per_frame += projection_units * (semantic_dim + channels) + dimensions * projection_units * head_units
        channels = head_units
    macs_per_frame += 4 * lstm_units * (channels + lstm_units)  # four gates
    macs_per_frame += lstm_units * dimensions
    return 2.0 * macs_per_frame * frame_rate_hz


def model_config(model: str, third_conv: int):
    from emorec.config import CNNConfig, FusionConfig, ModelConfig, SemanticConfig

    semantic = SemanticConfig(source="none" if model == "paralinguistic" else "aligned_speech2vec", dim=100)
    return ModelConfig(paralinguistic=model != "semantic", cnn=CNNConfig(filters=(50, 125, third_conv)),
                       semantic=semantic, fusion=FusionConfig(kind="attention" if model == "attention" else "concat"))


def run(precision: str, batch: int, frames: int, train_steps: int, infer_steps: int, third_conv: int,
        jit: bool = False, model_kind: str = "paralinguistic") -> dict:
    import keras
    import tensorflow as tf

    from emorec.models import build_model
    from emorec.training.train import compile_model

    names = ["arousal", "valence", "liking"]
    keras.mixed_precision.set_global_policy(precision)
    keras.utils.set_random_seed(0)
    config = model_config(model_kind, third_conv)
    model = build_model(config, names)
    compile_model(model, names, 1e-4, 5.0)
    rng = np.random.default_rng(0)
    audio = tf.constant(rng.normal(0, 0.1, (batch, frames, 2205)).astype(np.float32))
    inputs = {"audio": audio}
    if "semantic" in model.input:
        inputs["semantic"] = tf.constant(rng.normal(0, 1, (batch, frames, config.semantic.dim)).astype(np.float32))
    labels = rng.uniform(-1, 1, (batch, frames)).astype(np.float32)
    targets = {n: tf.constant(np.stack([labels, np.ones_like(labels)], -1)) for n in names}
    dataset = tf.data.Dataset.from_tensors((inputs, targets)).repeat()
    model.fit(dataset, steps_per_epoch=1, epochs=1, verbose=0)  # trace and warm up
    started = time.perf_counter()
    model.fit(dataset, steps_per_epoch=train_steps, epochs=1, verbose=0)
    train_s = time.perf_counter() - started
    audio_s_per_step = batch * frames / 10.0

    forward = tf.function(lambda x: model(x, training=False), jit_compile=jit)
    forward(inputs)
    started = time.perf_counter()
    for _ in range(infer_steps):
        outputs = forward(inputs)
    float(outputs["arousal"][0, 0])
    infer_s = time.perf_counter() - started
    keras.mixed_precision.set_global_policy("float32")
    flops = forward_flops_per_second_of_audio(filters=(50, 125, third_conv), dimensions=len(names), model=model_kind)
    return {
        "model": model_kind,
        "parameters": int(model.count_params()),
        "precision": precision,
        "xla_inference": jit,
        "batch": batch,
        "sequence_s": frames / 10.0,
        "train_audio_s_per_s": audio_s_per_step * train_steps / train_s,
        "inference_x_real_time": audio_s_per_step * infer_steps / infer_s,
        "forward_gflop_per_audio_s": flops / 1e9,
        "train_gflop_per_s": 3 * flops * audio_s_per_step * train_steps / train_s / 1e9,
        "inference_gflop_per_s": flops * audio_s_per_step * infer_steps / infer_s / 1e9,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--precision", nargs="+", default=["float32", "mixed_bfloat16"])
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--train-steps", type=int, default=5)
    parser.add_argument("--infer-steps", type=int, default=5)
    parser.add_argument("--third-conv", type=int, default=125, help="125 (paper) or 250 (authors' code)")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the inference function")
    parser.add_argument("--model", nargs="+", choices=MODELS, default=["paralinguistic"],
                        help="paralinguistic (CNN + LSTM), semantic, concat or attention (full model, Table 3)")
    parser.add_argument("--threads", type=int, default=None, help="intra-op threads (default: TensorFlow's)")
    args = parser.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    for model_kind in args.model:
        for precision in args.precision:
            result = run(precision, args.batch, args.frames, args.train_steps, args.infer_steps, args.third_conv,
                         args.jit, model_kind)
            print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
