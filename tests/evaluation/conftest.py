"""The evaluation tests score the shared tiny run (`trained_run` in tests/conftest.py)."""
import shutil

import pytest


@pytest.fixture(scope="module")
def trained(trained_run, tmp_path_factory):
    """(converted folder, run folder): a copy of the shared 2-epoch run with post-processing on, one
    per test module, since evaluate writes its evaluations and post-processing into the run folder."""
    data, run_dir = trained_run
    return data, shutil.copytree(run_dir, tmp_path_factory.mktemp("evaluation") / "run")
