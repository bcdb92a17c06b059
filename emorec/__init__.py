"""emorec: continuous speech emotion recognition from raw audio and semantic features.

Implements Tzirakis, Nguyen, Zafeiriou and Schuller, "Speech Emotion Recognition Using Semantic
Information" (ICASSP 2021), as an installable TensorFlow/Keras toolkit.

Everything the CLI does is one call here::

    import emorec
    emorec.convert_dataset("emodb", "../shared/data/emodb", "converted/emodb")
    config = emorec.load_config("configs/emodb_paralinguistic.yaml")
    emorec.train_model(config, "converted/emodb", "runs/emodb")
    emorec.evaluate_run("runs/emodb", "converted/emodb", "test")
    emorec.export_saved_model("runs/emodb", "saved_models/emodb")
    emorec.predict_file("talk.wav", "saved_models/emodb")

The heavy entry points are imported on first use, so `import emorec` stays cheap.
"""
from importlib import import_module
from typing import Any

from emorec.config import ExperimentConfig, load_config  # noqa: F401
from emorec.constants import PACKAGE_VERSION as __version__, installed_version  # noqa: F401
from emorec.errors import ConfigError, DatasetError, EmorecError, InputFileError  # noqa: F401


#: Public name -> module that defines it (the CLI verb in brackets).
_LAZY = {
    "convert_dataset": "tfrecords_tools",  # convert
    "format_info": "tfrecords_tools",  # info
    "read_manifest": "emorec.data.manifest",
    "make_dataset": "emorec.data.pipeline",
    "build_model": "emorec.models",
    "train_model": "emorec.training",  # train
    "run_ablation": "emorec.experiments.ablation",  # ablation
    "evaluate_run": "emorec.evaluation",  # evaluate
    "ccc": "emorec.evaluation",
    "export_saved_model": "emorec.export.saved_model",  # export
    "export_onnx": "emorec.export.onnx",  # export --format onnx
    "predict_file": "emorec.export.predict",  # predict
    "predict_files": "emorec.export.predict",  # predict (several files, errors collected)
    "predict_array": "emorec.export.predict",
    "run_demo": "emorec.experiments.demo",  # demo
}

__all__ = ["ExperimentConfig", "load_config", "ConfigError", "DatasetError", "EmorecError",
           "InputFileError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'emorec' has no attribute {name!r}")
