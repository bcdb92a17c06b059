"""The top-level Python API names every workflow step the CLI has."""
import emorec


def test_every_public_name_resolves_to_a_callable():
    for name in emorec.__all__:
        assert callable(getattr(emorec, name)), name


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        emorec.not_a_function  # noqa: B018


def test_workflow_entry_points_are_public():
    # `emorec predict` runs predict_files; a Python user gets the same call.
    for name in ("convert_dataset", "train_model", "evaluate_run", "export_saved_model", "predict_file",
                 "predict_files", "run_ablation", "run_demo"):
        assert name in emorec.__all__, name
