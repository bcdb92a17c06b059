"""Compute precision that follows the hardware: `auto` -> `mixed_bfloat16` or `float32`.

bfloat16 pays only where the hardware computes it: Intel CPUs with AVX512_BF16 or AMX-BF16
(oneDNN uses them for matmuls and convolutions; measured x1.2 training and inference against
float32 on such a CPU), and GPUs of compute capability 8.0 and up (Ampere, Hopper). Elsewhere
oneDNN emulates bfloat16 and it is slower than float32 (x10 on an AVX2-only CPU), so `auto` picks
float32 there. `mixed_float16` is never picked: it needs loss scaling and gains nothing on CPUs.

The CNN's conv layout follows the precision (`resolve_conv_layout`): its `auto` is the 2-D
layout exactly where the precision resolves to bfloat16 compute. The CPU's flags are read by
`emorec.training.hardware.read_cpu_flags`.
"""
from __future__ import annotations

import logging
from typing import Iterable, Optional, Sequence, Tuple

from emorec.config import PRECISIONS
from emorec.errors import ConfigError
from emorec.training.hardware import read_cpu_flags

logger = logging.getLogger(__name__)

#: /proc/cpuinfo flags of native bfloat16 arithmetic.
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16")
#: The dtype each precision computes in (Keras' `Policy(name).compute_dtype`, without importing Keras).
COMPUTE_DTYPES = {"float32": "float32", "mixed_float16": "float16", "mixed_bfloat16": "bfloat16"}
#: Lowest CUDA compute capability with bfloat16 tensor cores (Ampere).
BF16_GPU_COMPUTE_CAPABILITY = (8, 0)


def gpu_compute_capabilities() -> Tuple[Tuple[int, int], ...]:
    """Compute capability `(major, minor)` of each visible GPU; `(0, 0)` where TensorFlow does not say."""
    import tensorflow as tf

    capabilities = []
    for gpu in tf.config.list_physical_devices("GPU"):
        capability = tf.config.experimental.get_device_details(gpu).get("compute_capability") or (0, 0)
        capabilities.append(tuple(int(v) for v in capability))
    return tuple(capabilities)


def choose_precision(cpu_flags: Iterable[str],
                     gpu_capabilities: Sequence[Tuple[int, int]] = ()) -> Tuple[str, str]:
    """`(precision, reason)` for `auto`. With GPUs the model runs on them, so they decide (all of
    them must have bfloat16); without, the CPU's flags decide."""
    if gpu_capabilities:
        lowest = min(tuple(c) for c in gpu_capabilities)
        described = "GPU compute capability " + ", ".join(f"{c[0]}.{c[1]}" for c in gpu_capabilities)
        if lowest >= BF16_GPU_COMPUTE_CAPABILITY:
            return "mixed_bfloat16", described
        return "float32", f"{described} (bfloat16 needs 8.0)"
    present = sorted(set(BF16_CPU_FLAGS) & set(cpu_flags))
    if present:
        return "mixed_bfloat16", "CPU has " + ", ".join(present)
    return "float32", "CPU has no " + " or ".join(BF16_CPU_FLAGS) + " (bfloat16 would be emulated)"


def resolve_precision(precision: str, cpu_flags: Optional[Iterable[str]] = None,
                      gpu_capabilities: Optional[Sequence[Tuple[int, int]]] = None) -> str:
    """A Keras dtype-policy name for `precision`: itself, or for `auto` the choice for this machine
    (logged). cpu_flags / gpu_capabilities default to this machine's."""
    if precision not in PRECISIONS:
        raise ConfigError("--precision", "training.precision", f"{precision!r} is not one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    chosen, reason = choose_precision(read_cpu_flags() if cpu_flags is None else cpu_flags,
                                      gpu_compute_capabilities() if gpu_capabilities is None else gpu_capabilities)
    logger.info("precision auto -> %s: %s", chosen, reason)
    return chosen


def resolve_conv_layout(conv_layout: str, precision: str, cpu_flags: Optional[Iterable[str]] = None,
                        gpu_capabilities: Optional[Sequence[Tuple[int, int]]] = None) -> str:
    """"conv1d" or "conv2d": the layout the CNN (`model.cnn.conv_layout`) runs under `precision`
    (`training.precision`, "auto" resolved as `resolve_precision` does) on this machine, or on one
    with cpu_flags / gpu_capabilities. The CNN resolves "auto" itself from its compute dtype; this
    says in advance what it will choose (logged, and reported by benchmarks/train_speed.py)."""
    # Imported here, as TensorFlow is in gpu_compute_capabilities: reading flags needs neither.
    from emorec.models.paralinguistic import conv_layout_for_dtype

    chosen = conv_layout_for_dtype(conv_layout, COMPUTE_DTYPES[resolve_precision(precision, cpu_flags,
                                                                                 gpu_capabilities)])
    if conv_layout == "auto":
        logger.info("conv_layout auto -> %s", chosen)
    return chosen
