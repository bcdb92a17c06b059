"""No file a user receives runs code when emorec opens it.

A crafted gensim `.kv` (a pickle whose unpickling creates a marker file) is refused by the
Python API and by `semantic align` / `semantic features`, and the marker never appears. The
source scan keeps pickle-based loaders from coming back."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from emorec.cli import cli
from emorec.errors import EmorecError, InputFileError
from emorec.semantic.features import WORD2VEC_FILENAME, add_semantic_features
from emorec.semantic.word2vec import load_keyed_vectors, save_keyed_vectors, train_word2vec

REPO = Path(__file__).resolve().parents[2]


class _CreatesMarker:
    """Unpickling this calls open(marker, "w"): the file's existence proves code ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, "w")


@pytest.fixture
def evil(tmp_path):
    marker = tmp_path / "code_ran.marker"
    payload = pickle.dumps(_CreatesMarker(marker), protocol=4)
    paths = {}
    for name in ("evil.kv", "evil.bin"):  # refused by content, not by its name
        paths[name] = tmp_path / name
        paths[name].write_bytes(payload)
    return marker, paths


def test_api_refuses_a_pickle_and_runs_nothing(evil):
    marker, paths = evil
    for path in paths.values():
        with pytest.raises(InputFileError) as info:
            load_keyed_vectors(path)
        assert "pickle" in info.value.problem and "save_word2vec_format" in info.value.problem
        assert "\n" not in str(info.value)
    assert not marker.exists()
    # The check can fail: the payload does run code when unpickled.
    pickle.loads(paths["evil.kv"].read_bytes())
    assert marker.exists()


def test_cli_align_refuses_a_pickle(evil, tmp_path):
    marker, paths = evil
    result = CliRunner().invoke(cli, ["semantic", "align", str(paths["evil.kv"]), str(paths["evil.kv"]),
                                      str(tmp_path / "W.npy"),
                                      "--set", "semantic.alignment.adversarial=false"])
    assert isinstance(result.exception, EmorecError) and "save_word2vec_format" in str(result.exception)
    assert str(paths["evil.kv"]) in str(result.exception)
    assert not marker.exists() and not (tmp_path / "W.npy").exists()


def test_semantic_features_refuse_a_pickle_before_writing(evil, tmp_path):
    from tfrecords_tools.writer import write_recordings
    from emorec.data.schema import Recording

    marker, paths = evil
    artefacts = tmp_path / "artefacts"
    artefacts.mkdir()
    (artefacts / WORD2VEC_FILENAME).write_bytes(paths["evil.kv"].read_bytes())
    frames = 5
    recording = Recording(name="r", partition="train", speaker="s", num_samples=frames * 2205,
                          audio=np.zeros(frames * 2205, np.float32), label_names=["arousal"],
                          labels=np.zeros((frames, 1), np.float32), label_mask=np.ones(frames, np.float32),
                          words=["hallo"], word_start_s=[0.1], word_end_s=[0.3])
    converted = write_recordings([recording], tmp_path / "converted")
    out = tmp_path / "features"
    result = CliRunner().invoke(cli, ["semantic", "features", str(converted), "--source", "word2vec",
                                      "--artefacts", str(artefacts), "--out", str(out)])
    assert isinstance(result.exception, InputFileError), result.output
    assert "pickle" in str(result.exception) and WORD2VEC_FILENAME in str(result.exception)
    assert not marker.exists() and not out.exists()
    with pytest.raises(InputFileError):
        add_semantic_features(converted, "word2vec", "given", artefacts, output_dir=out)
    assert not marker.exists()


def test_saved_vectors_round_trip_without_pickle(tmp_path):
    keyed = train_word2vec([["a", "b", "c", "a"]] * 5, vector_size=4, min_count=1, epochs=1)
    path = save_keyed_vectors(keyed, tmp_path / "w.bin")
    assert path.read_bytes()[:1] != b"\x80" and path.read_bytes().startswith(b"3 4\n")
    loaded = load_keyed_vectors(path)
    assert loaded.index_to_key == keyed.index_to_key  # frequency order kept
    np.testing.assert_allclose(loaded.vectors, keyed.vectors)
    # The text format (MUSE, fastText) is read too.
    keyed.save_word2vec_format(str(tmp_path / "w.txt"), binary=False)
    np.testing.assert_allclose(load_keyed_vectors(tmp_path / "w.txt").vectors, keyed.vectors, atol=1e-5)


def test_word2vec_header_claiming_more_than_the_file_holds_is_refused(tmp_path):
    path = tmp_path / "liar.bin"
    path.write_bytes(b"100000 300\nword " + b"\x00" * 1200)  # 120 MB claimed, 1.2 KB held
    with pytest.raises(InputFileError, match="truncated or corrupt"):
        load_keyed_vectors(path)


def test_gensims_own_pickle_format_is_refused_with_the_way_out(tmp_path):
    keyed = train_word2vec([["a", "b", "c", "a"]] * 5, vector_size=4, min_count=1, epochs=1)
    keyed.save(str(tmp_path / "old.kv"))  # gensim's native format, a pickle
    with pytest.raises(InputFileError, match="save_word2vec_format"):
        load_keyed_vectors(tmp_path / "old.kv")
    keyed.save_word2vec_format(str(tmp_path / "new.bin"), binary=True)  # the way the message gives
    np.testing.assert_allclose(load_keyed_vectors(tmp_path / "new.bin").vectors, keyed.vectors)


def test_no_pickle_based_loader_in_the_package():
    """np.load keeps allow_pickle=False (its default), and nothing unpickles a file."""
    offenders = []
    for path in sorted((REPO / "emorec").rglob("*.py")) + sorted((REPO / "tfrecords_tools").rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"allow_pickle\s*=\s*True", code) and "np.load" in code:
                offenders.append(f"{path}:{number}: {line.strip()}")
            if re.search(r"\bpickle\.loads?\(|joblib\.load|pd\.read_pickle|torch\.load|yaml\.load\(|yaml\.unsafe_load",
                         code):
                offenders.append(f"{path}:{number}: {line.strip()}")
            if "KeyedVectors.load(" in code:
                offenders.append(f"{path}:{number}: {line.strip()}")
    assert offenders == []
