"""Training: the CCC loss and metric, strategies, callbacks and `train_model`."""
from emorec.training.train import train_model  # noqa: F401
