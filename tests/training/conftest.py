"""Tiny generated data and configs that train in seconds (shared by the convergence and seeds tests)."""
import dataclasses

import pytest

from emorec.config import CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig


@pytest.fixture(scope="session")
def tiny_run_data(tmp_path_factory):
    """4 generated recordings of 3 s in train; devel holds copies of them."""
    from emorec.experiments.demo import synthetic_recordings
    from tfrecords_tools.writer import write_recordings

    recordings = list(synthetic_recordings(recordings={"train": 4}, duration_s=(3, 3), seed=3))
    devel = [dataclasses.replace(r, partition="devel", name=f"devel_{r.name}") for r in recordings]
    test = [dataclasses.replace(r, partition="test", name=f"test_{r.name}") for r in recordings[:2]]
    return write_recordings(recordings + devel + test, tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture
def tiny_experiment():
    """A factory: a tiny model's config, `training` fields overridden by keyword."""

    def make(**training) -> ExperimentConfig:
        values = dict(epochs=2, steps_per_epoch=2, learning_rate=1e-2, seed=0)
        values.update(training)
        return ExperimentConfig(
            data=DataConfig(sequence_frames=15, hop_frames=15, batch_size=8, shuffle_buffer=16),
            model=ModelConfig(cnn=CNNConfig(filters=(8, 16, 16), dropout=0.0), lstm_units=16, lstm_dropout=0.0),
            training=TrainingConfig(**values),
        )

    return make
