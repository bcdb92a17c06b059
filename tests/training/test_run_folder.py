"""The one rule that picks a run's model, shared by evaluation, export, the ablation and the demo."""
import json

import pytest

from emorec.errors import InputFileError
from emorec.training.run_folder import find_run_model


def test_run_json_names_the_model_and_a_missing_one_is_an_error_not_a_fallback(tmp_path):
    (tmp_path / "run.json").write_text(json.dumps({"best_model": "best.keras"}))
    (tmp_path / "last.keras").write_bytes(b"")
    with pytest.raises(InputFileError, match="best.keras"):
        find_run_model(tmp_path)
    (tmp_path / "best.keras").write_bytes(b"")
    assert find_run_model(tmp_path) == tmp_path / "best.keras"
    assert find_run_model(tmp_path, "last.keras") == tmp_path / "last.keras"


def test_a_folder_without_run_json_gives_its_newest_best_model(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    (tmp_path / "checkpoints" / "best.keras").write_bytes(b"")
    (tmp_path / "other.keras").write_bytes(b"")
    assert find_run_model(tmp_path) == tmp_path / "checkpoints" / "best.keras"
    with pytest.raises(InputFileError, match="not found"):
        find_run_model(tmp_path / "missing")
