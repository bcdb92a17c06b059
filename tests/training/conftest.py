"""Tiny configs that train in seconds (shared by the convergence and seeds tests; their data is
`tiny_run_data` of tests/conftest.py)."""
import pytest

from emorec.config import CNNConfig, DataConfig, ExperimentConfig, ModelConfig, TrainingConfig


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
