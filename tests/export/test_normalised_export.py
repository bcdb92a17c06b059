"""Exported models scale the waveform as their run's pipeline did: the same numbers from the
evaluation pipeline and from `predict`, streamed or not; what the graph cannot reproduce is refused."""
import json

import numpy as np
import pytest

from emorec.config import ExperimentConfig, NormalisationConfig, DataConfig, save_config
from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ
from emorec.data.pipeline import recordings_for_prediction
from emorec.data.schema import Recording
from tfrecords_tools.writer import write_recordings
from emorec.export.predict import ExportedModel
from emorec.errors import ExportError
from emorec.export.saved_model import export_saved_model
from emorec.export.serving_module import STREAM_SIGNATURE

from .conftest import LABEL_NAMES, speech_like


def pipeline_predictions(model, waveform, kind, tmp_path):
    """The model's outputs on `waveform` read back through the evaluation pipeline."""
    frames = -(-waveform.size // FRAME_LENGTH_SAMPLES)
    audio = np.zeros(frames * FRAME_LENGTH_SAMPLES, np.float32)
    audio[: waveform.size] = waveform
    rec = Recording(name="r", partition="test", speaker="s", num_samples=waveform.size, audio=audio,
                    label_names=list(LABEL_NAMES), labels=np.zeros((frames, 2), np.float32),
                    label_mask=np.ones(frames, np.float32))
    folder = write_recordings([rec], tmp_path / f"data-{kind}")
    batch = next(recordings_for_prediction(folder, "test", normalisation=NormalisationConfig(kind=kind))
                 .as_numpy_iterator())
    outputs = model({"audio": batch["audio"]}, training=False)
    return {name: np.asarray(outputs[name]).reshape(1, -1)[0, :frames] for name in LABEL_NAMES}


@pytest.mark.slow
@pytest.mark.parametrize("kind, streams", [("causal", True), ("recording", False)])
def test_prediction_normalises_as_the_pipeline(keras_model, loaded, tmp_path, kind, streams):
    version = export_saved_model(keras_model, tmp_path / "m", check_ops=False,
                                 normalisation=NormalisationConfig(kind=kind))
    exported = ExportedModel(version)
    assert (exported.stream is not None) == streams
    assert exported.metadata["normalisation"]["kind"] == kind
    waveform = speech_like(3.05, SAMPLE_RATE_HZ, seed=1) * 0.05  # quiet: normalisation matters
    expected = pipeline_predictions(keras_model, waveform, kind, tmp_path)
    whole = exported.predict_waveform(waveform, chunk_s=None)
    chunked = exported.predict_waveform(waveform, chunk_s=0.7)  # causal state crosses 4 borders
    plain = loaded.predict_waveform(waveform, chunk_s=None)  # the same model exported without normalisation
    for name in LABEL_NAMES:
        np.testing.assert_allclose(whole[name], expected[name], atol=1e-5)
        np.testing.assert_allclose(chunked[name], expected[name], atol=1e-5)
        assert not np.allclose(plain[name], expected[name], atol=1e-4)  # the check can fail


def test_speaker_normalisation_is_refused_at_export(keras_model, tmp_path):
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    keras_model.save(run_dir / "best.keras")
    save_config(ExperimentConfig(data=DataConfig(normalisation=NormalisationConfig(kind="speaker"))),
                run_dir / "config.yaml")
    (run_dir / "run.json").write_text(json.dumps({"label_names": list(LABEL_NAMES), "best_model": "best.keras"}))
    with pytest.raises(ExportError, match="speaker"):
        export_saved_model(run_dir, tmp_path / "out", check_ops=False)
    assert not (tmp_path / "out").exists()
