"""Choosing a `tf.distribute` strategy by name.

- `auto`: `MirroredStrategy` over all GPUs when there are several, the default strategy otherwise.
- `default`: the default (no-op) strategy: one device.
- `mirrored`: `MirroredStrategy` over all visible GPUs, or over all logical CPUs when there is no
  GPU (how the tests exercise it with two logical CPU devices).
- `multiworker`: `MultiWorkerMirroredStrategy`, configured by the `TF_CONFIG` environment variable
  (`{"cluster": {"worker": ["host:port", ...]}, "task": {"type": "worker", "index": i}}`).
"""
from __future__ import annotations

import json
import os
from typing import Optional

import tensorflow as tf

from emorec.config import STRATEGIES
from emorec.errors import ConfigError


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """A strategy for `name` (one of `STRATEGIES`); a `ConfigError` for anything else."""
    if name not in STRATEGIES:
        raise ConfigError("--strategy", "training.strategy", f"{name!r} is not one of {', '.join(STRATEGIES)}")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError("TF_CONFIG", "training.strategy", "multiworker needs the TF_CONFIG environment variable")
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        return tf.distribute.MirroredStrategy() if len(gpus) > 1 else tf.distribute.get_strategy()
    devices = [d.name for d in gpus] or [d.name for d in tf.config.list_logical_devices("CPU")]
    return tf.distribute.MirroredStrategy(devices)


def is_chief(strategy: Optional[tf.distribute.Strategy] = None) -> bool:
    """True unless this process is a non-chief worker of a multi-worker cluster (which must not
    write shared files such as checkpoints and logs)."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return True
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}"))
    task = tf_config.get("task", {})
    if "chief" in tf_config.get("cluster", {}):
        return task.get("type") == "chief"
    return task.get("type", "worker") == "worker" and int(task.get("index", 0)) == 0
