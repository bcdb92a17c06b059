"""The pretrained model shipped in `saved_models/emodb_paralinguistic` (`emorec predict`'s default).

It is part of the repository, so these tests fail (not skip) when it is missing or broken.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf
from click.testing import CliRunner
from scipy.io import wavfile

from emorec.cli import cli
from emorec.constants import FRAME_LENGTH_SAMPLES, SAMPLE_RATE_HZ
from emorec.export.predict import default_model_dir
from emorec.export.saved_model import resolve_version_dir
from emorec.export.serving_module import DEFAULT_SIGNATURE

from .conftest import speech_like

REPO_ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIR = REPO_ROOT / "saved_models" / "emodb_paralinguistic"
LABEL_NAMES = ("arousal", "valence", "dominance")
MAX_SIZE_BYTES = 20 * 1024 * 1024


def folder_size_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


@pytest.fixture(scope="module")
def signature():
    loaded = tf.saved_model.load(str(resolve_version_dir(SHIPPED_DIR)))
    return loaded, loaded.signatures[DEFAULT_SIGNATURE]


def test_shipped_folder_is_a_versioned_savedmodel_under_20_mb():
    assert (SHIPPED_DIR / "MODEL_CARD.md").is_file()
    version_dir = resolve_version_dir(SHIPPED_DIR)
    assert version_dir.parent == SHIPPED_DIR and version_dir.name.isdigit()
    assert (version_dir / "saved_model.pb").is_file()
    assert list((version_dir / "variables").glob("variables.data-*"))
    size = folder_size_bytes(SHIPPED_DIR)
    assert 0 < size < MAX_SIZE_BYTES, f"{SHIPPED_DIR}: {size / 2**20:.1f} MB"


def test_signature_outputs_are_named_after_the_affect_dimensions(signature):
    _, serve = signature
    outputs = serve.structured_outputs
    assert set(LABEL_NAMES) <= set(outputs)
    assert "frame_times_s" in outputs
    inputs = serve.structured_input_signature[1]
    assert inputs["waveform"].dtype == tf.float32 and inputs["waveform"].shape.as_list() == [None, None]
    assert inputs["length"].dtype == tf.int32
    # Two recordings of different lengths in one batch: [batch, frames] per dimension.
    lengths = [7 * FRAME_LENGTH_SAMPLES, 4 * FRAME_LENGTH_SAMPLES]
    waveform = np.zeros((2, max(lengths)), np.float32)
    for row, length in enumerate(lengths):
        waveform[row, :length] = speech_like(1.0, SAMPLE_RATE_HZ, seed=row)[:length]
    result = serve(waveform=tf.constant(waveform), length=tf.constant(lengths, tf.int32))
    alone = serve(waveform=tf.constant(waveform[1:, :lengths[1]]), length=tf.constant(lengths[1:], tf.int32))
    for name in LABEL_NAMES:
        assert result[name].shape == (2, 7) and result[name].dtype == tf.float32
        assert np.isfinite(result[name].numpy()).all()
        # The padded row gives what the same recording gives served alone.
        np.testing.assert_allclose(result[name].numpy()[1, :4], alone[name].numpy()[0], atol=1e-5)
    np.testing.assert_allclose(result["frame_times_s"].numpy()[0], np.arange(7) * 0.1, atol=1e-6)


def test_predict_without_model_option_uses_the_shipped_model(tmp_path, monkeypatch, signature):
    # From an unrelated working directory the default falls back to the one next to the package.
    monkeypatch.chdir(tmp_path)
    assert default_model_dir().resolve() == SHIPPED_DIR.resolve()
    duration_s = 2.34
    signal = speech_like(duration_s, SAMPLE_RATE_HZ, seed=4)
    wav = tmp_path / "speech.wav"
    wavfile.write(wav, SAMPLE_RATE_HZ, (np.clip(signal, -1, 1) * 32767).astype(np.int16))
    out = tmp_path / "out"
    result = CliRunner().invoke(cli, ["predict", str(wav), "--out", str(out)])
    assert result.exit_code == 0, result.output
    table = pd.read_csv(out / "speech.wav.csv")
    frames = int(np.ceil(duration_s * 10))  # the last partial 0.1 s frame is kept (zero-padded)
    assert len(table) == frames and set(table["file"]) == {str(wav)}
    np.testing.assert_allclose(table["start_s"], np.arange(frames) * 0.1)

    # Reference: the same file decoded by core TensorFlow (already at 22 050 Hz, mono) through the
    # SavedModel's signature directly, without emorec's client code.
    _, serve = signature
    decoded, rate = tf.audio.decode_wav(tf.io.read_file(str(wav)))
    assert int(rate) == SAMPLE_RATE_HZ
    waveform = tf.transpose(decoded)  # [1, samples]
    expected = serve(waveform=waveform, length=tf.shape(waveform)[1:2])
    for name in LABEL_NAMES:
        np.testing.assert_allclose(table[name].to_numpy(), expected[name].numpy()[0], atol=2e-5)
    assert not np.allclose(table["arousal"], table["arousal"].iloc[0])  # curves, not constants


def test_shipped_model_ranks_angry_above_bored_and_sad_speech_in_arousal(emodb_dir, signature):
    """A sanity check on real EmoDB speech (training data of the shipped model, so not a score):
    the label map rates anger far above boredom and sadness in arousal (0.73 vs -0.72 / -0.42),
    and the model should have learnt at least that much, for every speaker taken together."""
    from emorec.export.predict import ExportedModel, predict_file

    model = ExportedModel(SHIPPED_DIR)
    labels = pd.read_csv(emodb_dir / "labels.csv", dtype={"speaker": str})
    means = {}
    for emotion in ("anger", "boredom", "sadness"):
        files = labels[labels["emotion"] == emotion].sort_values("file").groupby("speaker").head(1)["file"]
        assert len(files) == 10, emotion  # one utterance per speaker
        means[emotion] = float(np.mean([predict_file(emodb_dir / "wav" / name, model)["arousal"].mean()
                                        for name in files]))
    print("mean arousal per category", means)
    assert means["anger"] > means["boredom"] + 0.2 and means["anger"] > means["sadness"] + 0.2, means
