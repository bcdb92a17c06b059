"""The machine the code runs on: /proc/cpuinfo read once, the usable cores, and the one-line
description that benchmark reports state beside their figures.

`read_cpu_flags` feeds `precision.choose_precision` (bfloat16 hardware or not); the rest tells a
reader what a speed or accuracy figure was measured on (benchmarks/*.py).

Example:
    >>> speed_relevant_cpu_flags({"fpu", "avx2", "fma"})
    ['avx2', 'fma']
"""
from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import AbstractSet, Dict, FrozenSet, List, Optional

from emorec.errors import PathLike

CPUINFO_PATH = "/proc/cpuinfo"
#: Flags that tell what a CPU-speed figure means (vector width, FMA, bfloat16 and AMX units).
SPEED_RELEVANT_CPU_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16",
                            "amx_tile", "amx_bf16", "amx_int8")


def read_cpuinfo(cpuinfo_path: PathLike = CPUINFO_PATH) -> Dict[str, str]:
    """The fields of /proc/cpuinfo, each as its first processor states it, e.g.
    `{"model name": "Intel(R) Xeon(R) ...", "flags": "fpu vme ... avx2"}`; empty where there is no
    such file (macOS, Windows)."""
    try:
        text = Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: Dict[str, str] = {}
    for line in text.splitlines():
        key, separator, value = line.partition(":")
        if separator:
            fields.setdefault(key.strip(), value.strip())
    return fields


def read_cpu_flags(cpuinfo_path: PathLike = CPUINFO_PATH) -> FrozenSet[str]:
    """The CPU's feature flags (the first `flags` line of /proc/cpuinfo); empty where there is no
    such file, which `precision.choose_precision` reads as "no bfloat16 hardware"."""
    return frozenset(read_cpuinfo(cpuinfo_path).get("flags", "").split())


def read_cpu_model(cpuinfo_path: PathLike = CPUINFO_PATH) -> str:
    """The CPU's `model name` from /proc/cpuinfo, e.g. `Intel(R) Xeon(R) Processor`; "" where unknown."""
    return read_cpuinfo(cpuinfo_path).get("model name", "")


def speed_relevant_cpu_flags(flags: Optional[AbstractSet[str]] = None) -> List[str]:
    """Those of SPEED_RELEVANT_CPU_FLAGS the CPU has (default: this machine's), in that order."""
    flags = read_cpu_flags() if flags is None else flags
    return [flag for flag in SPEED_RELEVANT_CPU_FLAGS if flag in flags]


def usable_cpu_count() -> int:
    """The cores this process may run on (its affinity mask where the OS has one, else all)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_summary() -> str:
    """One line for a report, e.g. `2 CPU cores (x86_64), CPU only`: logical CPUs and the
    architecture; the benchmarks that state it train and score on the CPU."""
    return f"{os.cpu_count()} CPU cores ({platform.machine()}), CPU only"
