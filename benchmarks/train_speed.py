"""Training throughput and inference speed at the paper's shapes, side by side with the reference.

    python -m benchmarks.train_speed --json                     # precision auto, paralinguistic model
    python -m benchmarks.train_speed --json --precision float32 mixed_bfloat16 --rounds 5
    python -m benchmarks.train_speed --json --model paralinguistic concat attention
    python -m benchmarks.train_speed --json --precision float32 --layout-variants conv2d --layers --rounds 5

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
- `cpu_flags`: the CPU's flags that decide these figures (AVX-512, bfloat16, AMX); `conv_layout`: the
  layout the model's `conv_layout: auto` runs at this precision; `load_average`: the machine's 1-min
  load before and after (2 on 2 cores means another job had them);
- `--layout-variants conv1d conv2d`: the model again with that conv layout forced (same precision,
  same weights), interleaved in the same rounds; its keys are prefixed with the layout
  (`conv2d_inference_x_real_time`, `conv2d_inference_speedup` over the reference,
  `conv2d_inference_over_default`, ...);
- `--layers` (`--layer-rounds`): inference time of each block on the benchmark batch (the blocks'
  own `ParalinguisticCNN.conv_block` code, and the LSTM), timed in interleaved rounds with the whole
  forward passes and a 2048 matmul, with each block's useful GFLOP/s against that matmul; and the
  inference speedup over the reference the model would reach were conv2 and conv3 at the matmul's
  speed (`inference_speedup_if_conv2_conv3_at_peak`) or every FLOP of the forward pass at it
  (`inference_speedup_if_all_at_peak`). Under `layers_median` from the median round of each,
  under `layers_best` from the fastest (the nearest to an idle machine when another job shares it).

- `--pipeline CONFIG`: the model again, trained from the real input pipeline (`make_dataset` over a
  generated converted folder, with CONFIG's `data` section: its normalisation and augmentation, at
  this run's batch and sequence length) instead of a batch held in memory, in the same interleaved
  rounds and with the same weights: `pipeline_train_audio_s_per_s` and
  `pipeline_over_in_memory`, the share of the in-memory throughput the pipeline keeps.

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
#: `--pipeline`'s generated data: sessions of 30-60 s, as converted corpora hold, so that windows
#: come from many recordings.
PIPELINE_RECORDINGS, PIPELINE_DURATION_S = 24, (30.0, 60.0)


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


def model_config(model: str, third_conv: int, conv1_impl: str = "phase_blocked", conv_layout: str = "auto"):
    from emorec.config import CNNConfig, FusionConfig, ModelConfig, SemanticFeaturesConfig

    semantic = SemanticFeaturesConfig(source="none" if model == "paralinguistic" else "aligned_speech2vec", dim=100)
    return ModelConfig(paralinguistic=model != "semantic",
                       cnn=CNNConfig(filters=(50, 125, third_conv), conv1_impl=conv1_impl, conv_layout=conv_layout),
                       semantic_features=semantic,
                       fusion=FusionConfig(kind="attention" if model == "attention" else "concat"))


def matmul_function(size: int = 2048):
    """A float32 `size` x `size` `tf.matmul` as a function of no arguments, and its FLOPs."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    a = tf.constant(rng.normal(size=(size, size)).astype(np.float32))
    b = tf.constant(rng.normal(size=(size, size)).astype(np.float32))
    return tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)[:1])), 2.0 * size ** 3


def matmul_peak_gflops(size: int = 2048, repeats: int = 5) -> float:
    """Best float32 GFLOP/s of a `size` x `size` `tf.matmul`: what this CPU's GEMM reaches now."""
    product, _ = matmul_function(size)
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
                 third_conv: int, jit: bool, conv_layout: str = "auto", dataset=None):
        import keras
        import tensorflow as tf

        from emorec.models import build_model
        from emorec.training.train import compile_model

        names = ["arousal", "valence", "liking"]
        previous = keras.mixed_precision.global_policy()
        keras.mixed_precision.set_global_policy(precision)
        try:
            keras.utils.set_random_seed(0)
            self.config = model_config(model_kind, third_conv, conv1_impl, conv_layout)
            self.model = build_model(self.config, names)
            compile_model(self.model, names, 1e-4, 5.0)
        finally:
            keras.mixed_precision.set_global_policy(previous)
        rng = np.random.default_rng(0)
        self.inputs = {"audio": tf.constant(rng.normal(0, 0.1, (batch, frames, 2205)).astype(np.float32))}
        if "semantic" in self.model.input:
            self.inputs["semantic"] = tf.constant(
                rng.normal(0, 1, (batch, frames, self.config.semantic_features.dim)).astype(np.float32))
        labels = rng.uniform(-1, 1, (batch, frames)).astype(np.float32)
        targets = {n: tf.constant(np.stack([labels, np.ones_like(labels)], -1)) for n in names}
        self.dataset = tf.data.Dataset.from_tensors((self.inputs, targets)).repeat() if dataset is None else dataset
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


def pipeline_dataset(config_path: str, batch: int, frames: int, folder):
    """Training batches from the real input pipeline, endless: generated recordings written as a
    converted folder in `folder`, read by `make_dataset` with the config's `data` section
    (normalisation, augmentation) at `batch` windows of `frames` frames."""
    import dataclasses

    from emorec.config import load_config
    from emorec.data.pipeline import make_dataset
    from emorec.experiments.demo import synthetic_recordings
    from tfrecords_tools.writer import write_recordings

    data = dataclasses.replace(load_config(config_path).data, batch_size=batch, sequence_frames=frames,
                               hop_frames=frames)
    write_recordings(synthetic_recordings(recordings={"train": PIPELINE_RECORDINGS}, duration_s=PIPELINE_DURATION_S,
                                          label_names=["arousal", "valence", "liking"]), folder)
    iterator = iter(make_dataset(folder, "train", data, training=True, seed=0, repeat=True))

    # One iterator for all rounds, as one epoch of training reads: a new one per `fit` call would
    # refill the shuffle buffer every round, which training does once per epoch.
    def batches():
        while True:
            yield next(iterator)

    return batches()


def conv_forward_flops_per_frame(filters=(50, 125, 125), kernels=(8, 6, 6), pools=(10, 5, 5),
                                 frame_length=2205) -> list:
    """2 x multiply-adds of each conv of one frame ("same" padding), in order."""
    flops, steps, channels = [], frame_length, 1
    for f, k, p in zip(filters, kernels, pools):
        flops.append(2.0 * steps * k * channels * f)
        steps, channels = steps // p, f
    return flops


def _timed(function, steps: int) -> float:
    """Seconds per call of `function`, over `steps` calls."""
    started = time.perf_counter()
    for _ in range(steps):
        function()
    return (time.perf_counter() - started) / steps


def layer_timings(fast: "Contender", reference: "Contender", variants: dict, rounds: int, steps: int,
                  third_conv: int) -> dict:
    """Inference seconds of each block of the CNN and of the LSTM on the benchmark batch, in
    interleaved rounds together with the whole forward passes (module doc, `--layers`)."""
    import tensorflow as tf

    cnn = fast.model.get_layer("paralinguistic_cnn")
    reference_cnn = reference.model.get_layer("paralinguistic_cnn")
    audio = fast.inputs["audio"]
    frame_count = int(audio.shape[0]) * int(audio.shape[1])
    frames = tf.cast(tf.reshape(audio, (frame_count, -1)), cnn.compute_dtype)
    reference_frames = tf.reshape(audio, (frame_count, -1))
    layouts = [cnn.conv_layout_in_use] + [name for name in variants if name != cnn.conv_layout_in_use]

    def block(layer, index, x, layout):
        return tf.function(lambda: layer.conv_block(index, x, layout, training=False))

    stages = {}  # name -> (function, useful FLOPs per call)
    conv_flops = [f * frame_count for f in conv_forward_flops_per_frame(filters=(50, 125, third_conv))]
    # The phase-blocked conv1 is the same matmul in either layout (its output only gains an axis).
    stages["conv1_phase_blocked_pool1"] = (block(cnn, 0, frames, layouts[0]), conv_flops[0])
    for layout in layouts:
        x1 = cnn.conv_block(0, frames, layout, training=False)
        x2 = cnn.conv_block(1, x1, layout, training=False)
        stages[f"conv2_pool2_{layout}"] = (block(cnn, 1, x1, layout), conv_flops[1])
        stages[f"conv3_pool3_{layout}"] = (block(cnn, 2, x2, layout), conv_flops[2])
        stages[f"reference_conv1_pool1_{layout}"] = (block(reference_cnn, 0, reference_frames, layout), conv_flops[0])
    # The reference's conv2 and conv3 (bias and ReLU before their pools, Keras layers), for the
    # share of the gap that is not conv1.
    r1 = reference_cnn.conv_block(0, reference_frames, "conv1d", training=False)
    r2 = reference_cnn.conv_block(1, r1, "conv1d", training=False)
    stages["reference_conv2_pool2_conv1d"] = (block(reference_cnn, 1, r1, "conv1d"), conv_flops[1])
    stages["reference_conv3_pool3_conv1d"] = (block(reference_cnn, 2, r2, "conv1d"), conv_flops[2])
    lstm = fast.model.get_layer("lstm")
    features = tf.cast(cnn(audio, training=False), lstm.compute_dtype)
    units, inputs = lstm.units, int(features.shape[-1])
    stages["lstm"] = (tf.function(lambda: lstm(features, training=False)), 2.0 * 4 * units * (inputs + units) * frame_count)
    # The peak again, in the same rounds: on a shared machine the one measured before and after
    # the benchmark need not be the one the blocks met.
    stages["matmul_2048"] = matmul_function()
    stages["whole_model"] = (lambda: fast.forward(fast.inputs), None)
    stages["whole_reference"] = (lambda: reference.forward(reference.inputs), None)
    for name, variant in variants.items():
        stages[f"whole_model_{name}"] = (lambda variant=variant: variant.forward(variant.inputs), None)

    names = list(stages)
    for name in names:
        stages[name][0]()  # trace
    seconds = {name: [] for name in names}
    for round_index in range(rounds):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(_timed(stages[name][0], steps))
    median_ms = {name: statistics.median(values) * 1e3 for name, values in seconds.items()}
    # The fastest round too: another job only ever slows a round down, so the best round is the
    # nearest to an idle machine (all figures of one statistic come from the same rounds' kind).
    best_ms = {name: min(values) * 1e3 for name, values in seconds.items()}
    result = {"layers_rounds_ms": {name: [round(v * 1e3, 2) for v in values] for name, values in seconds.items()},
              "layers_steps_per_round": steps}
    layout = layouts[0]
    seconds_of_audio = frame_count / 10.0
    forward_flops = forward_flops_per_second_of_audio(filters=(50, 125, third_conv)) * seconds_of_audio
    for statistic, times_ms in (("median", median_ms), ("best", best_ms)):
        peak = stages["matmul_2048"][1] / (times_ms["matmul_2048"] / 1e3) / 1e9
        gflops = {name: stages[name][1] / (times_ms[name] / 1e3) / 1e9 for name in names if stages[name][1]}
        # What-ifs from the measured times: conv2 and conv3 of the default layout replaced by their
        # FLOPs at the matmul peak, and the whole forward pass at the peak.
        conv23_ms = times_ms[f"conv2_pool2_{layout}"] + times_ms[f"conv3_pool3_{layout}"]
        conv23_at_peak_ms = (conv_flops[1] + conv_flops[2]) / (peak * 1e9) * 1e3
        whole, whole_reference = times_ms["whole_model"], times_ms["whole_reference"]
        result[f"layers_{statistic}"] = {
            "ms_per_batch": {name: round(v, 2) for name, v in times_ms.items()},
            "gflops": {name: round(v, 1) for name, v in gflops.items()},
            "fraction_of_peak": {name: round(v / peak, 3) for name, v in gflops.items()},
            "share_of_whole_model": {name: round(times_ms[name] / whole, 3) for name in
                                     ["conv1_phase_blocked_pool1", f"conv2_pool2_{layout}", f"conv3_pool3_{layout}",
                                      "lstm"]},
            "inference_speedup": round(whole_reference / whole, 3),
            "inference_speedup_if_conv2_conv3_at_peak": round(
                whole_reference / (whole - conv23_ms + conv23_at_peak_ms), 3),
            "inference_speedup_if_all_at_peak": round(whole_reference / (forward_flops / (peak * 1e9) * 1e3), 3),
        }
        for name, variant in variants.items():
            result[f"layers_{statistic}"][f"{name}_inference_speedup"] = round(
                whole_reference / times_ms[f"whole_model_{name}"], 3)
    result["layers_gflop_per_batch"] = {name: round(stages[name][1] / 1e9, 3) for name in names if stages[name][1]}
    # The Toeplitz matmul's own multiply-adds: 17/8 of conv1's (module doc of the CNN).
    result["conv1_phase_blocked_executed_gflop_per_batch"] = round(2.0 * 220 * 17 * 10 * 50 * frame_count / 1e9, 3)
    return result


def run(model_kind: str, precision: str, batch: int, frames: int, rounds: int, train_steps: int, infer_steps: int,
        third_conv: int, jit: bool = False, layout_variants=(), layers: bool = False,
        layer_rounds: int = 0, pipeline: str = "") -> dict:
    from emorec.training.hardware import speed_relevant_cpu_flags
    from emorec.training.precision import resolve_conv_layout, resolve_precision

    load_before = os.getloadavg()[0]
    policy = resolve_precision(precision)
    peak_before = matmul_peak_gflops()
    fast = Contender(model_kind, policy, "phase_blocked", batch, frames, third_conv, jit)
    # The plain Table 1 stack in float32, whatever layout `auto` would take at other precisions.
    reference = Contender(model_kind, "float32", "reference", batch, frames, third_conv, jit, conv_layout="conv1d")
    variants = {layout: Contender(model_kind, policy, "phase_blocked", batch, frames, third_conv, jit,
                                  conv_layout=layout) for layout in layout_variants}
    if pipeline:
        import tempfile

        scratch = tempfile.TemporaryDirectory(prefix="train_speed_pipeline_")
        variants["pipeline"] = Contender(model_kind, policy, "phase_blocked", batch, frames, third_conv, jit,
                                         dataset=pipeline_dataset(pipeline, batch, frames, scratch.name))
    reference.model.set_weights(fast.model.get_weights())  # same variables, so the same weights
    for variant in variants.values():
        variant.model.set_weights(fast.model.get_weights())

    def max_difference(contender):
        return max(float(np.abs(fast.outputs()[k] - contender.outputs()[k]).max()) for k in fast.outputs())

    difference = max_difference(reference)
    variant_differences = {layout: max_difference(variant) for layout, variant in variants.items()}
    contenders = [fast, reference, *variants.values()]
    for contender in contenders:
        contender.warm_up()
    for round_index in range(rounds):
        # Rotate which goes first, so that a drift in machine load does not favour one.
        shift = round_index % len(contenders)
        order = contenders[shift:] + contenders[:shift]
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
    result = {
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
        "cpu_flags": speed_relevant_cpu_flags(),
        "matmul_peak_gflops": round(peak, 1),
        "forward_gflop_per_audio_s": round(flops / 1e9, 4),
        "fraction_of_peak": {"train": round(3 * flops * train / 1e9 / peak, 3),
                             "inference": round(flops * infer / 1e9 / peak, 3),
                             "reference_train": round(3 * flops * reference_train / 1e9 / peak, 3),
                             "reference_inference": round(flops * reference_infer / 1e9 / peak, 3)},
        "xla_inference": jit,
        "steps_per_round": {"train": train_steps, "inference": infer_steps},
        "conv_layout": resolve_conv_layout("auto", policy) if model_kind != "semantic" else None,
        # The fastest round of each (module doc of --layers: the nearest to an idle machine).
        "best_round": {"train_audio_s_per_s": round(max(fast.train_rates), 2),
                       "inference_x_real_time": round(max(fast.infer_rates), 1),
                       "reference_train_audio_s_per_s": round(max(reference.train_rates), 2),
                       "reference_inference_x_real_time": round(max(reference.infer_rates), 1)},
    }
    if pipeline:
        rates = variants.pop("pipeline").train_rates
        result.update({"pipeline_config": pipeline, "pipeline_train_audio_s_per_s": round(statistics.median(rates), 2),
                       "pipeline_over_in_memory": round(statistics.median(rates) / train, 3)})
        result["rounds"]["pipeline_train_audio_s_per_s"] = [round(v, 2) for v in rates]
        scratch.cleanup()
    for layout, variant in variants.items():
        variant_train, variant_infer = statistics.median(variant.train_rates), statistics.median(variant.infer_rates)
        result.update({
            f"{layout}_train_audio_s_per_s": round(variant_train, 2),
            f"{layout}_inference_x_real_time": round(variant_infer, 1),
            f"{layout}_train_speedup": round(variant_train / reference_train, 3),
            f"{layout}_inference_speedup": round(variant_infer / reference_infer, 3),
            f"{layout}_train_over_default": round(variant_train / train, 3),
            f"{layout}_inference_over_default": round(variant_infer / infer, 3),
            f"{layout}_cores_used": round(statistics.median(variant.cores), 2),
            f"{layout}_max_abs_output_difference": variant_differences[layout],
        })
        result["rounds"][f"{layout}_train_audio_s_per_s"] = [round(v, 2) for v in variant.train_rates]
        result["rounds"][f"{layout}_inference_x_real_time"] = [round(v, 1) for v in variant.infer_rates]
        result["best_round"][f"{layout}_train_audio_s_per_s"] = round(max(variant.train_rates), 2)
        result["best_round"][f"{layout}_inference_x_real_time"] = round(max(variant.infer_rates), 1)
    if layers and model_kind != "semantic":
        result.update(layer_timings(fast, reference, variants, layer_rounds or rounds, infer_steps, third_conv))
    result["load_average"] = {"before": round(load_before, 2), "after": round(os.getloadavg()[0], 2)}
    return result


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
    parser.add_argument("--layout-variants", nargs="*", choices=["conv1d", "conv2d"], default=[],
                        help="also time the model with this conv layout forced (keys prefixed with the layout)")
    parser.add_argument("--layers", action="store_true",
                        help="also time each CNN block and the LSTM at inference (paralinguistic model)")
    parser.add_argument("--layer-rounds", type=int, default=0, help="rounds of --layers (default: --rounds)")
    parser.add_argument("--pipeline", nargs="?", const="configs/cross_corpus/paralinguistic.yaml", default="",
                        help="also train from the real input pipeline with this config's data section "
                             "[default when given alone: configs/cross_corpus/paralinguistic.yaml]")
    args = parser.parse_args()
    if args.threads:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    for model_kind in args.model:
        for precision in args.precision:
            result = run(model_kind, precision, args.batch, args.frames, args.rounds, args.train_steps,
                         args.infer_steps, args.third_conv, args.jit, args.layout_variants, args.layers,
                         args.layer_rounds, args.pipeline)
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
