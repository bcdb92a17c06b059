"""The machine the code runs on: /proc/cpuinfo read in one place, the flags a speed figure
depends on, and the one-line description benchmark reports state."""
import os

from emorec.training.hardware import (SPEED_RELEVANT_CPU_FLAGS, machine_summary, read_cpu_flags, read_cpu_model,
                                      read_cpuinfo, speed_relevant_cpu_flags, usable_cpu_count)

CPUINFO = ("processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 fma avx512f avx512_bf16\n\n"
           "processor\t: 1\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu avx2 fma avx512f avx512_bf16\n")


def test_cpuinfo_fields_are_the_first_processors(tmp_path):
    cpuinfo = tmp_path / "cpuinfo"
    cpuinfo.write_text(CPUINFO)
    assert read_cpuinfo(cpuinfo)["model name"] == "Intel(R) Xeon(R) Processor"
    assert read_cpuinfo(cpuinfo)["flags"].split() == ["fpu", "avx2", "fma", "avx512f", "avx512_bf16"]  # file order
    assert read_cpu_flags(cpuinfo) == {"fpu", "avx2", "fma", "avx512f", "avx512_bf16"}
    assert read_cpu_model(cpuinfo) == "Intel(R) Xeon(R) Processor"


def test_a_machine_without_cpuinfo_reads_as_no_flags_and_no_model(tmp_path):
    assert read_cpuinfo(tmp_path / "missing") == {}
    assert read_cpu_flags(tmp_path / "missing") == frozenset()
    assert read_cpu_model(tmp_path / "missing") == ""


def test_speed_relevant_flags_keep_their_declared_order():
    assert speed_relevant_cpu_flags({"avx512_bf16", "fpu", "fma", "avx2"}) == ["avx2", "fma", "avx512_bf16"]
    assert set(speed_relevant_cpu_flags()) <= set(SPEED_RELEVANT_CPU_FLAGS)  # this machine's


def test_machine_summary_names_the_cores_and_architecture():
    assert machine_summary().startswith(f"{os.cpu_count()} CPU cores (")
    assert 1 <= usable_cpu_count() <= os.cpu_count()
