"""A CI-sized run of the fuzz script (tests/faults/fuzz_inputs.py): every generated bad or odd
file is refused cleanly or handled correctly by decode, convert and predict."""
from __future__ import annotations

import numpy as np
import pytest

from emorec.export.predict import default_model_dir
from tests.faults.fuzz_inputs import Case, check_decode, generate_cases, run_fuzz


def test_a_small_fuzz_run_has_no_crash_and_no_silent_wrong_output():
    if not default_model_dir().is_dir():
        pytest.skip("shipped model not available")
    # The fixed odd/bad cases come first (about 100): 110 covers them all plus a few random files.
    summary = run_fuzz(count=110, seed=0)
    assert summary["problems"] == []
    for verb, counts in summary["counts"].items():
        assert counts["refused"] > 30 and counts["correct"] > 30, (verb, counts)


def test_the_checker_catches_wrong_samples(tmp_path):
    """The fuzz's classification can fail: a file whose samples differ from what the case says was
    written is `silent_wrong`, not `correct`."""
    case = generate_cases(1, seed=0)[0]
    assert case.valid is not False and case.signal is not None
    path = tmp_path / "x.wav"
    path.write_bytes(case.data)
    assert check_decode(case, path) == "correct"
    lie = Case(case.name, case.data, valid=True, signal=case.signal + 0.01, rate=case.rate, tolerance=case.tolerance)
    assert check_decode(lie, path) == "silent_wrong"
    garbage = Case("garbage", case.data, valid=False)
    assert check_decode(garbage, path) == "silent_wrong"  # decoding a file that holds no valid audio
