"""The multi-worker workaround in emorec.training.train replaces private Keras functions. These
tests fail when those functions change, so a Keras upgrade cannot silently break it.

After reviewing `_patch_keras_for_multiworker` against a new Keras release, record the new
release's source hashes in PATCHED_SOURCES_SHA256 (and widen KERAS_PATCH_VERSIONS if needed)."""
import hashlib
import inspect

import keras
import pytest

from emorec.training import train

#: sha256 of the source of each private function the patch replaces or relies on, per release.
PATCHED_SOURCES_SHA256 = {
    "3.6.0": {
        "reduce_per_replica": "2e7d54b1e6edc29a8c6a7e6b66cd4c8be3ba7842412c93753ac3afe169fa7fb8",
        "TensorFlowTrainer._maybe_symbolic_build": "4dd200dba9d41c050b54e243ed47060c1af15032e5715705e0cbe637b6332b1f",
        "Trainer._symbolic_build": "483662e2a263152498719c05be1b636ae372389bcd92e908ddc3fcf033879fe3",
    },
}


def _patched_functions():
    from keras.src.backend.tensorflow import trainer as tf_trainer
    from keras.src.trainers.trainer import Trainer

    return {
        "reduce_per_replica": getattr(tf_trainer, "reduce_per_replica", None),
        "TensorFlowTrainer._maybe_symbolic_build": tf_trainer.TensorFlowTrainer.__dict__.get("_maybe_symbolic_build"),
        "Trainer._symbolic_build": Trainer.__dict__.get("_symbolic_build"),
    }


def test_installed_keras_is_in_the_range_the_patch_was_written_for():
    assert train.keras_patch_applies(), f"Keras {keras.__version__} is outside {train.KERAS_PATCH_VERSIONS}"


def test_patched_private_functions_exist_with_the_signatures_the_patch_calls():
    functions = _patched_functions()
    missing = [name for name, function in functions.items() if function is None]
    assert not missing, f"Keras {keras.__version__} lacks {missing}"
    # The patch's replacement is called with these arguments, and calls the others with them.
    assert list(inspect.signature(functions["reduce_per_replica"]).parameters) == ["values", "strategy", "reduction"]
    for name in ("TensorFlowTrainer._maybe_symbolic_build", "Trainer._symbolic_build"):
        assert list(inspect.signature(functions[name]).parameters) == ["self", "iterator", "data_batch"], name


def test_patched_private_functions_are_the_ones_reviewed():
    recorded = PATCHED_SOURCES_SHA256.get(keras.__version__)
    assert recorded is not None, (f"Keras {keras.__version__}: review _patch_keras_for_multiworker against it, "
                                  "then record its hashes in PATCHED_SOURCES_SHA256")
    for name, function in _patched_functions().items():
        digest = hashlib.sha256(inspect.getsource(function).encode()).hexdigest()
        assert digest == recorded[name], f"Keras {keras.__version__} changed {name}: review the patch"


@pytest.mark.parametrize("version, applies", [("3.4.1", True), ("3.6.0", True), ("3.7.0", False), ("3.3.3", False),
                                              ("4.0.0", False)])
def test_version_guard(version, applies):
    assert train.keras_patch_applies(version) is applies


def test_other_keras_releases_are_left_unpatched_with_a_warning(monkeypatch):
    from keras.src.backend.tensorflow import trainer as tf_trainer

    before = tf_trainer.reduce_per_replica
    monkeypatch.setattr(keras, "__version__", "3.7.0")
    with pytest.warns(UserWarning, match="not applied"):
        train._patch_keras_for_multiworker(object(), strategy=None)
    assert tf_trainer.reduce_per_replica is before
