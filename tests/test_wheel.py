"""The wheel is what `pip install emorec` gives a user: it must carry the default model, and
`emorec predict` without `--model` must work from it, away from any checkout.

The wheel is built from a copy of the source tree (so no build/ folder of an earlier build can
leak files into it) and installed with `pip install --no-deps --target`: a fresh folder holding
only the wheel's files, put first on PYTHONPATH, while TensorFlow and the other dependencies come
from this environment. The predict run happens in an empty working directory, so the model can
only come from the installed package's data.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from scipy.io import wavfile

#: Builds a wheel and runs a fresh interpreter on it.
pytestmark = pytest.mark.e2e

REPO_ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "emodb_paralinguistic"
PACKAGED_MODEL = f"emorec/resources/models/{MODEL_NAME}/"
MAX_MODEL_BYTES = 20 * 1024 * 1024
#: What the wheel is built from: the packages, the shipped model and the packaging files.
SOURCE_PARTS = ("setup.py", "README.md", "MANIFEST.in", "emorec", "tfrecords_tools", f"saved_models/{MODEL_NAME}")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source")
    for part in SOURCE_PARTS:
        path = REPO_ROOT / part
        if path.is_dir():
            shutil.copytree(path, source / part, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(path, source / part)
    out = tmp_path_factory.mktemp("wheel")
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), str(source)]
    if importlib.util.find_spec("setuptools") is not None:
        command.insert(4, "--no-build-isolation")  # offline and fast; without setuptools pip fetches it
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel_path,) = out.glob("emorec-*.whl")
    return wheel_path


def test_wheel_contains_the_default_model(wheel):
    with zipfile.ZipFile(wheel) as archive:
        sizes = {info.filename: info.file_size for info in archive.infolist()
                 if info.filename.startswith(PACKAGED_MODEL)}
    shipped = {str(path.relative_to(REPO_ROOT / "saved_models" / MODEL_NAME)): path.stat().st_size
               for path in (REPO_ROOT / "saved_models" / MODEL_NAME).rglob("*") if path.is_file()}
    # Every file of the checkout's model, byte for byte the same size, and nothing else.
    assert {name[len(PACKAGED_MODEL):]: size for name, size in sizes.items()} == shipped
    assert any(name.endswith("/saved_model.pb") for name in sizes)
    assert 0 < sum(sizes.values()) < MAX_MODEL_BYTES


def test_predict_from_the_installed_wheel_uses_the_packaged_model(wheel, tmp_path):
    target = tmp_path / "site"
    result = subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "--quiet", "--target", str(target),
                             str(wheel)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (target / "saved_models").exists()  # the model travels inside the package only
    work = tmp_path / "work"  # no saved_models/ here or above: not a checkout
    work.mkdir()
    rng = np.random.default_rng(0)
    audio = (0.2 * np.sin(2 * np.pi * 180 * np.arange(16000 * 2) / 16000) + 0.01 * rng.standard_normal(32000))
    wavfile.write(work / "talk.wav", 16000, (audio * 32767).astype(np.int16))
    env = dict(os.environ, PYTHONPATH=str(target))
    script = ("import sys, emorec; print('imported', emorec.__file__); "
              "from emorec.cli import main; sys.argv = ['emorec', 'predict', 'talk.wav', '--out', 'predictions']; main()")
    result = subprocess.run([sys.executable, "-c", script], cwd=work, env=env, capture_output=True, text=True,
                            timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    # The package (and so its data) came from the wheel, not from this checkout.
    assert f"imported {target / 'emorec' / '__init__.py'}" in result.stdout, result.stdout
    outputs = [path for path in (work / "predictions").rglob("*.csv")]
    assert len(outputs) == 1 and outputs[0].read_text().strip(), result.stdout


def test_the_demo_config_is_packaged(wheel):
    """`emorec demo` from a wheel trains the checkout's demo: its config is a package resource."""
    with zipfile.ZipFile(wheel) as archive:
        packaged = archive.read("emorec/resources/demo.yaml")
    assert packaged == (REPO_ROOT / "emorec" / "resources" / "demo.yaml").read_bytes()
