"""Shared fixtures and the test tiers. Two logical CPU devices are configured before any TensorFlow
op runs, so that MirroredStrategy can be exercised without a GPU.

Tiers (markers registered in pytest.ini): `slow` trains a model or exports one, `e2e` goes through a
fresh interpreter, a built wheel, the README's commands or a browser, `corpus` needs a real corpus
in ../shared/data or ../corpora. The fast tier is `python -m pytest -q -m "not slow and not e2e" tests`.

The trained run, its data and the exported model below are session-scoped: one tiny model is
trained once and exported once per session, for every file that does not need its own. They are
read-only; a test that writes into a run (evaluate writes its post-processing and evaluations
there) takes `trained_run_copy`, or a copy of its own."""
from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

_cpus = tf.config.list_physical_devices("CPU")
try:
    tf.config.set_logical_device_configuration(
        _cpus[0], [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()]
    )
except RuntimeError:
    # Already initialised (e.g. by a plugin); tests that need two devices skip themselves.
    pass

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """`../shared/data`, or skip: a user's fresh clone does not have the corpora."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real corpora not available at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(scope="session")
def emodb_dir(shared_data: Path) -> Path:
    path = shared_data / "emodb"
    if not (path / "labels.csv").is_file():
        pytest.skip(f"EmoDB not available at {path}")
    return path


@pytest.fixture
def write_wav():
    """write_wav(path, rate_hz=16000, seconds=0.45, seed=0): an int16 tone at `path` (folders made)."""
    import numpy as np
    import scipy.io.wavfile as wavfile

    def write(path: Path, rate_hz: int = 16_000, seconds: float = 0.45, seed: int = 0) -> Path:
        path.parent.mkdir(parents=True, exist_ok=True)
        t = np.arange(int(rate_hz * seconds)) / rate_hz
        wavfile.write(path, rate_hz, (0.3 * np.sin(2 * np.pi * (120 + 40 * seed) * t) * 32767).astype(np.int16))
        return path

    return write


@pytest.fixture
def kill_after_epochs():
    """kill_after_epochs(n): a Keras callback that raises KeyboardInterrupt at the end of epoch n
    (1-based), as a run killed there would stop."""
    import keras

    class KillAfterEpochs(keras.callbacks.Callback):
        def __init__(self, epochs: int):
            super().__init__()
            self.epochs = epochs

        def on_epoch_end(self, epoch, logs=None):
            if epoch + 1 >= self.epochs:
                raise KeyboardInterrupt(f"stopped after epoch {epoch + 1}")

    return KillAfterEpochs


# --- Tiers ---------------------------------------------------------------------------------------
#: Fixtures that train or export: a test using one, directly or through another fixture, is `slow`.
#: Tests that train or export by themselves carry the marker explicitly.
SLOW_FIXTURES = frozenset({"trained_run", "exported"})
#: Fixtures that skip without the real corpora: a test using one is `corpus`.
CORPUS_FIXTURES = frozenset({"shared_data", "emodb_dir"})


def pytest_collection_modifyitems(config, items):
    for item in items:
        used = set(getattr(item, "fixturenames", ()))  # the closure: fixtures of fixtures count
        if used & SLOW_FIXTURES:
            item.add_marker(pytest.mark.slow)
        if used & CORPUS_FIXTURES:
            item.add_marker(pytest.mark.corpus)


# --- Generated data ------------------------------------------------------------------------------
@pytest.fixture(scope="session")
def tiny_run_data(tmp_path_factory) -> Path:
    """4 generated recordings of 3 s in train; devel holds copies of them (overfitting them is a
    test's point), test copies of the first two."""
    from emorec.experiments.demo import synthetic_recordings
    from tfrecords_tools.writer import write_recordings

    recordings = list(synthetic_recordings(recordings={"train": 4}, duration_s=(3, 3), seed=3))
    devel = [dataclasses.replace(r, partition="devel", name=f"devel_{r.name}") for r in recordings]
    test = [dataclasses.replace(r, partition="test", name=f"test_{r.name}") for r in recordings[:2]]
    return write_recordings(recordings + devel + test, tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture(scope="session")
def train_only_data(tmp_path_factory) -> Path:
    """3 generated recordings of 3 s, all in `train`: the folder has no devel partition."""
    from emorec.experiments.demo import synthetic_recordings
    from tfrecords_tools.writer import write_recordings

    recordings = list(synthetic_recordings(recordings={"train": 3}, duration_s=(3, 3), seed=5))
    return write_recordings(recordings, tmp_path_factory.mktemp("train_only"))


# --- Trained runs --------------------------------------------------------------------------------
#: The shared run's config: a model of a few thousand weights, post-processing on, one plot.
TRAINED_RUN_CONFIG = {
    "data": {"sequence_frames": 10, "hop_frames": 10, "batch_size": 4},
    "model": {"cnn": {"filters": [4, 8, 8]}, "lstm_units": 8},
    "training": {"epochs": 1, "learning_rate": 0.003},
    "evaluation": {"plot_recordings": 1, "postprocess": True, "max_delay_frames": 3, "median_windows": [3]},
}


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory):
    """(converted folder, run folder): `emorec train --epochs 2` of `TRAINED_RUN_CONFIG` on 3 train,
    2 devel and 2 test recordings of 2-3 s. Read-only: see `trained_run_copy`."""
    import yaml
    from click.testing import CliRunner

    from emorec.cli import cli
    from emorec.experiments.demo import synthetic_recordings
    from tfrecords_tools.writer import write_recordings

    root = tmp_path_factory.mktemp("trained_run")
    data = write_recordings(synthetic_recordings(recordings={"train": 3, "devel": 2, "test": 2}, duration_s=(2, 3)),
                            root / "data")
    config = root / "config.yaml"
    config.write_text(yaml.safe_dump(TRAINED_RUN_CONFIG))
    result = CliRunner().invoke(cli, ["train", "--config", str(config), "--data", str(data), "--run-dir",
                                      str(root / "run"), "--epochs", "2"])
    assert result.exit_code == 0, result.output
    assert "trained 2 epochs" in result.output
    return data, root / "run"


@pytest.fixture
def trained_run_copy(trained_run, tmp_path_factory):
    """(converted folder, a copy of the shared run's folder that this test may write into). The copy
    is outside the test's `tmp_path`, which stays the test's own to inspect."""
    data, run_dir = trained_run
    return data, shutil.copytree(run_dir, tmp_path_factory.mktemp("trained_run_copy") / "run")


# --- An exported model ---------------------------------------------------------------------------
@pytest.fixture(scope="session")
def keras_model():
    """The real `build_model` with a tiny CNN and an 8-unit LSTM, random weights (seed 0)."""
    from tests.export.conftest import tiny_model

    return tiny_model()


@pytest.fixture(scope="session")
def exported(tmp_path_factory, keras_model):
    """`keras_model` exported as `<tmp>/tiny/1`: a SavedModel with the serving signatures."""
    from emorec.export.saved_model import export_saved_model

    # The op check runs in its own test (tests/export/test_saved_model.py::test_graph_holds_only_core_tensorflow_ops).
    return export_saved_model(keras_model, tmp_path_factory.mktemp("saved_models") / "tiny", check_ops=False)


@pytest.fixture(scope="session")
def loaded(exported):
    """`exported` loaded for prediction (`emorec.export.predict.ExportedModel`)."""
    from emorec.export.predict import ExportedModel

    return ExportedModel(exported.parent)
