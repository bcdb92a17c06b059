"""The top-level Python API names every workflow step the CLI has."""
import emorec


def test_every_public_name_resolves_to_a_callable():
    for name in emorec.__all__:
        assert callable(getattr(emorec, name)), name


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        emorec.not_a_function  # noqa: B018
