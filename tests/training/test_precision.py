"""`--precision auto`: bfloat16 only where the hardware computes it."""
import pytest

from emorec.errors import ConfigError
from emorec.training.precision import choose_precision, resolve_precision

# Flag sets of real CPUs (abridged /proc/cpuinfo).
AVX2_EPYC = {"sse4_2", "avx", "avx2", "fma"}
AVX512_ICELAKE = AVX2_EPYC | {"avx512f", "avx512bw", "avx512vl", "avx512_vnni"}
COOPER_LAKE = AVX512_ICELAKE | {"avx512_bf16"}
SAPPHIRE_RAPIDS = COOPER_LAKE | {"amx_tile", "amx_bf16", "amx_int8"}
AMX_WITHOUT_AVX512_BF16 = AVX512_ICELAKE | {"amx_tile", "amx_bf16"}


@pytest.mark.parametrize("flags, expected", [
    (AVX2_EPYC, "float32"),
    (AVX512_ICELAKE, "float32"),  # AVX-512 alone: bfloat16 is emulated
    (COOPER_LAKE, "mixed_bfloat16"),
    (SAPPHIRE_RAPIDS, "mixed_bfloat16"),
    (AMX_WITHOUT_AVX512_BF16, "mixed_bfloat16"),
    (set(), "float32"),  # no /proc/cpuinfo
])
def test_cpu_flags_decide_without_gpu(flags, expected):
    precision, reason = choose_precision(flags, ())
    assert precision == expected
    assert reason


@pytest.mark.parametrize("capabilities, expected", [
    ([(8, 0)], "mixed_bfloat16"),  # A100
    ([(9, 0), (9, 0)], "mixed_bfloat16"),  # H100 x2
    ([(7, 5)], "float32"),  # T4: no bfloat16 tensor cores
    ([(8, 6), (7, 0)], "float32"),  # the slowest GPU decides
])
def test_gpus_decide_over_the_cpu(capabilities, expected):
    assert choose_precision(SAPPHIRE_RAPIDS if expected == "float32" else AVX2_EPYC, capabilities)[0] == expected


def test_resolve_passes_explicit_precisions_through_and_rejects_unknown_ones():
    assert resolve_precision("mixed_bfloat16", cpu_flags=AVX2_EPYC, gpu_capabilities=()) == "mixed_bfloat16"
    assert resolve_precision("float32", cpu_flags=SAPPHIRE_RAPIDS, gpu_capabilities=()) == "float32"
    assert resolve_precision("auto", cpu_flags=COOPER_LAKE, gpu_capabilities=()) == "mixed_bfloat16"
    assert resolve_precision("auto", cpu_flags=AVX512_ICELAKE, gpu_capabilities=()) == "float32"
    with pytest.raises(ConfigError, match="float64"):
        resolve_precision("float64")


@pytest.mark.parametrize("flags, precision, expected", [
    (AVX2_EPYC, "auto", "conv1d"),
    (AVX512_ICELAKE, "auto", "conv1d"),  # this project's 2-core Xeon: float32, the 1-D layout
    (COOPER_LAKE, "auto", "conv2d"),
    (SAPPHIRE_RAPIDS, "auto", "conv2d"),
    (AMX_WITHOUT_AVX512_BF16, "auto", "conv2d"),
    (set(), "auto", "conv1d"),
    (AVX2_EPYC, "mixed_bfloat16", "conv2d"),  # asked for bfloat16: the layout follows the precision, not the CPU
    (SAPPHIRE_RAPIDS, "float32", "conv1d"),
    (SAPPHIRE_RAPIDS, "mixed_float16", "conv1d"),
])
def test_conv_layout_auto_follows_the_resolved_precision(flags, precision, expected):
    from emorec.training.precision import resolve_conv_layout

    assert resolve_conv_layout("auto", precision, cpu_flags=flags, gpu_capabilities=()) == expected


def test_explicit_conv_layouts_pass_through_and_gpus_decide():
    from emorec.training.precision import resolve_conv_layout

    assert resolve_conv_layout("conv1d", "auto", cpu_flags=SAPPHIRE_RAPIDS, gpu_capabilities=()) == "conv1d"
    assert resolve_conv_layout("conv2d", "auto", cpu_flags=AVX2_EPYC, gpu_capabilities=()) == "conv2d"
    assert resolve_conv_layout("auto", "auto", cpu_flags=AVX2_EPYC, gpu_capabilities=[(9, 0)]) == "conv2d"
    assert resolve_conv_layout("auto", "auto", cpu_flags=SAPPHIRE_RAPIDS, gpu_capabilities=[(7, 5)]) == "conv1d"
    with pytest.raises(ValueError, match="conv_layout"):
        resolve_conv_layout("conv3d", "float32")
