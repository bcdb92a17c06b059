"""Training throughput and inference speed at the paper's shapes, side by side with the reference.

    python benchmarks/train_speed.py --json                     # precision auto, paralinguistic model
    python benchmarks/train_speed.py --json --precision float32 mixed_bfloat16 --rounds 5
    python benchmarks/train_speed.py --json --model paralinguistic concat attention

Every figure is measured in one process, against a reference measured in the same process in
interleaved rounds (fast, reference, reference, fast, ...), so a busy or different machine changes
the ratios little: read `train_speedup` and `inference_speedup`, not the absolute figures.

- the model: emorec's default (phase-blocked conv1, `--precision`, `auto` choosing mixed_bfloat16
  only where the CPU or GPU computes bfloat16);
- the reference: the same architecture with the plain Keras Conv1D -> MaxPooling1D stack of
  Table 1 (`conv1_impl="reference"`), float32, with the same weights (`max_abs_output_difference`
  is the largest difference of their outputs on the benchmark batch before training);
- training: seconds of audio trained per wall-clock second (batch 25 x 10 s sequences, one
  optimiser step each, data already in memory so the input pipeline is not measured); the median
  over rounds; `cores_used` is the process's CPU time over wall time while training;
- inference: times real time (10 s sequences, batch 25, `training=False`), median over rounds;
- FLOPs per second of audio (forward, counted analytically: 2 x multiply-adds of the convs,
  the LSTM and the output layers; training costs about 3x), and `fraction_of_peak`: the achieved
  useful GFLOP/s over `matmul_peak_gflops`, a large float32 `tf.matmul` timed in the same run;
- `cpu_flags`: the CPU's flags that decide these figures (AVX-512, bfloat16, AMX).

--model: `paralinguistic` (Table 2's audio row), `concat` / `attention` (Table 3: 100-d aligned
Speech2Vec frame features + the CNN, fused by concatenation or disentangled attention with
d_u = 1024 and linear heads of 1024), `semantic` (semantic branch only: no conv1, speedup ~1).
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
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


def model_config(model: str, third_conv: int, conv1_impl: str = "phase_blocked"):
    from emorec.config import CNNConfig, FusionConfig, ModelConfig, SemanticConfig

    semantic = SemanticConfig(source="none" if model == "paralinguistic" else "aligned_speech2vec", dim=100)
    return ModelConfig(paralinguistic=model != "semantic",
                       cnn=CNNConfig(filters=(50, 125, third_conv), conv1_impl=conv1_impl),
                       semantic=semantic, fusion=FusionConfig(kind="attention" if model == "attention" else "concat"))


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of a `size` x `size` `tf.matmul`: what this CPU's GEMM reaches now."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.normal(size=(size, size)).astype(np.float32))
    b = tf.constant(rng.normal(size=(size, size)).astype(np.float32))
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1]))
    product().numpy()
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        product().numpy()
        best = min(best, time.perf_counter() - started)
    return 2.0 * size ** 3 / best / 1e9


class Contender:
    """One model with its data, warmed up, timed a few steps at a time."""

    def __init__(self, model_kind: str, precision: str, conv1_impl: str, batch: int, frames: int,
                 third_conv: int, jit: bool):
        import keras
        import tensorflow as tf

        from emorec.models import build_model
        from emorec.training.train import compile_model

        names = ["arousal", "valence", "liking"]
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(precision)
        try:
            keras.utils.set_random_seed(0)
            self.config = model_config(model_kind, third_conv, conv1_impl)
            self.model = build_model(self.config, names)
            compile_model(self.model, names, 1e-4, 5.0)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        rng = np.random.default_rng(0)
        self.inputs = {"audio": tf.constant(rng.normal(0, 0.1, (batch, frames, 2205)).astype(np.float32))}
        if "semantic" in self.model.input:
            self.inputs["semantic"] = tf.constant(
                rng.normal(0, 1, (batch, frames, self.config.semantic.dim)).astype(np.float32))
        labels = rng.uniform(-1, 1, (batch, frames)).astype(np.float32)
        targets = {n: tf.constant(np.stack([labels, np.ones_like(labels)], -1)) for n in names}
        self.dataset = tf.data.Dataset.from_tensors((self.inputs, targets)).repeat()
        self.forward = tf.function(lambda x: self.model(x, training=False), jit_compile=jit)
        self.audio_s_per_step = batch * frames / 10.0
        self.train_rates, self.infer_rates, self.cores = [], [], []

    def outputs(self):
        return {k: np.asarray(v, np.float32) for k, v in self.forward(self.inputs).items()}

    def warm_up(self) -> None:
        self.model.fit(self.dataset, steps_per_epoch=1, epochs=1, verbose=0)  # trace
        self.outputs()

    def train_round(self, steps: int) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        self.model.fit(self.dataset, steps_per_epoch=steps, epochs=1, verbose=0)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        self.train_rates.append(self.audio_s_per_step * steps / wall)
        self.cores.append(cpu / wall)

    def infer_round(self, steps: int) -> None:
        started = time.perf_counter()
        for _ in range(steps):
            outputs = self.forward(self.inputs)
        float(outputs["arousal"][0, 0])
        self.infer_rates.append(self.audio_s_per_step * steps / (time.perf_counter() - started))


def run(model_kind: str, precision: str, batch: int, frames: int, rounds: int, train_steps: int, infer_steps: int,
        third_conv: int, jit: bool = False) -> dict:
    from emorec.training.precision import SPEED_RELEVANT_CPU_FLAGS, read_cpu_flags, resolve_precision

    policy = resolve_precision(precision)
    peak_before = matmul_peak_gflops()
    fast = Contender(model_kind, policy, "phase_blocked", batch, frames, third_conv, jit)
    reference = Contender(model_kind, "float32", "reference", batch, frames, third_conv, jit)
    reference.model.set_weights(fast.model.get_weights())  # same variables, so the same weights
    difference = max(float(np.abs(fast.outputs()[k] - reference.outputs()[k]).max()) for k in fast.outputs())
    fast.warm_up()
    reference.warm_up()
    for round_index in range(rounds):
        # Alternate which goes first, so that a drift in machine load does not favour one.
        order = (fast, reference) if round_index % 2 == 0 else (reference, fast)
        for contender in order:
            contender.train_round(train_steps)
        for contender in order:
            contender.infer_round(infer_steps)
    peak = max(peak_before, matmul_peak_gflops())
    flops = forward_flops_per_second_of_audio(filters=(50, 125, third_conv), dimensions=3, model=model_kind)
    train = statistics.median(fast.train_rates)
    infer = statistics.median(fast.infer_rates)
    reference_train = statistics.median(reference.train_rates)
    reference_infer = statistics.median(reference.infer_rates)
    flags = read_cpu_flags()
    return {
        "model": model_kind,
        "precision": policy,
        "precision_requested": precision,
        "batch": batch,
        "sequence_s": frames / 10.0,
        "train_audio_s_per_s": round(train, 2),
        "inference_x_real_time": round(infer, 1),
        "reference_train_audio_s_per_s": round(reference_train, 2),
        "reference_inference_x_real_time": round(reference_infer, 1),
        "train_speedup": round(train / reference_train, 3),
        "inference_speedup": round(infer / reference_infer, 3),
        "max_abs_output_difference": difference,
        "rounds": {"train_audio_s_per_s": [round(v, 2) for v in fast.train_rates],
                   "reference_train_audio_s_per_s": [round(v, 2) for v in reference.train_rates],
                   "inference_x_real_time": [round(v, 1) for v in fast.infer_rates],
                   "reference_inference_x_real_time": [round(v, 1) for v in reference.infer_rates]},
        "cores_used": round(statistics.median(fast.cores), 2),
        "reference_cores_used": round(statistics.median(reference.cores), 2),
        "cpu_count": os.cpu_count(),
        "cpu_flags": [flag for flag in SPEED_RELEVANT_CPU_FLAGS if flag in flags],
        "matmul_peak_gflops": round(peak, 1),
        "forward_gflop_per_audio_s": round(flops / 1e9, 4),
        "fraction_of_peak": {"train": round(3 * flops * train / 1e9 / peak, 3),
                             "inference": round(flops * infer / 1e9 / peak, 3),
                             "reference_train": round(3 * flops * reference_train / 1e9 / peak, 3),
                             "reference_inference": round(flops * reference_infer / 1e9 / peak, 3)},
        "xla_inference": jit,
        "steps_per_round": {"train": train_steps, "inference": infer_steps},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="one JSON object per line (default: a short summary)")
    parser.add_argument("--precision", nargs="+", default=["auto"],
                        choices=["auto", "float32", "mixed_float16", "mixed_bfloat16"])
    parser.add_argument("--batch", type=int, default=25)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds of model and reference")
    parser.add_argument("--train-steps", type=int, default=3, help="optimiser steps per round")
    parser.add_argument("--infer-steps", type=int, default=3, help="inference batches per round")
    parser.add_argument("--third-conv", type=int, default=125, help="125 (paper) or 250 (authors' code)")
    parser.add_argument("--jit", action="store_true", help="XLA-compile the inference functions")
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
            result = run(model_kind, precision, args.batch, args.frames, args.rounds, args.train_steps,
                         args.infer_steps, args.third_conv, args.jit)
            if args.json:
                print(json.dumps(result), flush=True)
            else:
                print(f"{result['model']} {result['precision']}: training {result['train_audio_s_per_s']} s/s "
                      f"(x{result['train_speedup']} the reference), inference {result['inference_x_real_time']}x "
                      f"real time (x{result['inference_speedup']}), {result['cores_used']} cores, "
                      f"{result['fraction_of_peak']['inference']:.0%} of the {result['matmul_peak_gflops']} GFLOP/s "
                      f"matmul peak at inference", flush=True)


if __name__ == "__main__":
    main()
