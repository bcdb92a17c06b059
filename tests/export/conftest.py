"""Helpers of the export tests: a tiny real emorec model and generated audio. The session's tiny model,
its export and the loaded export are the fixtures `keras_model`, `exported` and `loaded` of
tests/conftest.py."""
from __future__ import annotations

import numpy as np

LABEL_NAMES = ("arousal", "valence")


def tiny_model(seed: int = 0, conv_layout: str = "auto"):
    """The real `build_model` with a tiny CNN and LSTM (random weights, fast to run and export)."""
    import keras

    from emorec.config import CNNConfig, ModelConfig
    from emorec.models import build_model

    keras.utils.set_random_seed(seed)
    config = ModelConfig(cnn=CNNConfig(filters=(4, 6, 6), conv_layout=conv_layout), lstm_units=8)
    return build_model(config, LABEL_NAMES, name="tiny_emotion_model")


def bf16_copy(keras_model):
    """`tiny_model` built under the mixed_bfloat16 policy (as `--precision auto` trains on CPUs with
    bfloat16 arithmetic), holding `keras_model`'s weights."""
    import keras

    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny_model(seed=1)
    finally:
        keras.mixed_precision.set_global_policy(previous)
    model.set_weights(keras_model.get_weights())
    return model


def speech_like(duration_s: float, sample_rate_hz: int, seed: int = 0) -> np.ndarray:
    """A voiced, pitch- and loudness-modulated signal below 4 kHz, float32 `[samples]` in [-1, 1].

    Band-limited so that 16 kHz and 44.1 kHz versions carry the same content; modulated so that
    the model's per-frame outputs vary over time.
    """
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * sample_rate_hz)) / sample_rate_hz
    pitch_hz = 140 + 40 * np.sin(2 * np.pi * 0.7 * t) + 25 * np.sin(2 * np.pi * 2.3 * t + rng.uniform(0, 6))
    phase = 2 * np.pi * np.cumsum(pitch_hz) / sample_rate_hz
    voice = sum(np.sin(k * phase) / k for k in range(1, 12))
    loudness = 0.15 + 0.6 * np.abs(np.sin(2 * np.pi * 0.4 * t)) ** 2
    return (0.5 * loudness * voice / 3).astype(np.float32)
