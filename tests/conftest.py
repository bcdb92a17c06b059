"""Shared fixtures. Two logical CPU devices are configured before any TensorFlow op runs, so that
MirroredStrategy can be exercised without a GPU."""
from __future__ import annotations

import os
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
