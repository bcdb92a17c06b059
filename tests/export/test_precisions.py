"""A model trained under mixed_bfloat16 (`--precision auto` on CPUs with avx512_bf16 or AMX, and
on GPUs of compute capability 8.0 and up) exports and serves on every machine; bfloat16 is
emulated where the CPU lacks it, so this runs everywhere."""
from __future__ import annotations

import numpy as np

from emorec.export.predict import ExportedModel, predict_array

from .conftest import LABEL_NAMES, bf16_copy, speech_like

#: bfloat16 keeps 8 bits of mantissa: a served bf16 graph differs from float32 by about 1e-2.
BF16_ATOL = 5e-2


def test_a_bfloat16_model_exports_as_a_savedmodel_that_predicts_like_float32(tmp_path, keras_model, loaded):
    from emorec.export.saved_model import export_saved_model

    bf16_model = bf16_copy(keras_model)
    assert bf16_model.get_layer("paralinguistic_cnn").compute_dtype == "bfloat16"
    exported = ExportedModel(export_saved_model(bf16_model, tmp_path / "bf16", check_ops=False).parent)
    waveform = speech_like(1.3, 22_050, seed=11)
    served = predict_array(waveform, 22_050, exported, chunk_s=0.5)
    expected = predict_array(waveform, 22_050, loaded, chunk_s=0.5)
    assert len(served) == len(expected)
    for name in LABEL_NAMES:
        assert np.all(np.isfinite(served[name]))
        np.testing.assert_allclose(served[name], expected[name], atol=BF16_ATOL, rtol=0)
