"""emorec: continuous speech emotion recognition from raw audio and semantic features.

Implements Tzirakis, Nguyen, Zafeiriou and Schuller, "Speech Emotion Recognition Using Semantic
Information" (ICASSP 2021), as an installable TensorFlow/Keras toolkit.
"""
__version__ = "0.1.0"

from emorec.config import ExperimentConfig, load_config  # noqa: E402,F401
from emorec.errors import ConfigError, DatasetError, EmorecError, InputFileError  # noqa: E402,F401
