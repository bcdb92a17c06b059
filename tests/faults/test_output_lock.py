"""Issue 13, row 2 and the output lock: one writer per output folder (convert, semantic features,
train, export); a second is refused naming the first; a dead holder's lock is taken over."""
from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest

from emorec.data.locking import LOCK_FILENAME, output_lock
from emorec.data.manifest import read_manifest
from emorec.errors import FolderInUseError

from .conftest import REPO_ROOT, child_env, one_line_error, run_cli, shard_record_counts

# Conversion A in a child process: every recording waits for the parent's "go" file, so the
# conversion is certainly running (holding the lock) while the parent starts conversion B.
_SLOW_CONVERT = """
import sys, time
from pathlib import Path
import tfrecords_tools.convert as convert

ready, go, source, output = map(Path, sys.argv[1:5])
original = convert._build_one

def build_when_told(module, item, context):
    ready.write_text("converting")
    while not go.exists():
        time.sleep(0.05)
    return original(module, item, context)

convert._build_one = build_when_told
print(convert.convert_dataset("manifest", source, output, progress=False, workers=1).recordings)
"""


@pytest.mark.e2e
def test_second_conversion_into_the_same_folder_is_refused_and_the_first_completes(manifest_sources, tmp_path):
    source_a, source_b = manifest_sources
    output, ready, go = tmp_path / "converted", tmp_path / "ready", tmp_path / "go"
    first = subprocess.Popen([sys.executable, "-c", _SLOW_CONVERT, str(ready), str(go), str(source_a), str(output)],
                             env=child_env(), cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not ready.exists():
            assert first.poll() is None, first.stderr.read()[-2000:]
            assert time.monotonic() < deadline, "conversion A never started"
            time.sleep(0.05)
        second = run_cli("convert", "--layout", "manifest", "--quiet", source_b, output)
        go.write_text("go")
        stdout, stderr = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    line = one_line_error(second)
    assert second.returncode == 1
    assert f"{output}: in use by 'emorec convert --layout manifest {source_a}' (pid {first.pid} on" in line, line
    assert first.returncode == 0, stderr[-2000:]
    assert stdout.split()[-1] == "3"
    # The folder is A's conversion, whole: A's source in the manifest, A's 3 recordings in the shards.
    manifest = read_manifest(output)
    assert manifest["source"] == str(source_a.resolve())
    assert sum(shard_record_counts(output).values()) == manifest["partitions"]["train"]["recordings"] == 3
    assert not (output / LOCK_FILENAME).exists()  # released


def test_lock_names_its_holder_and_is_released(tmp_path):
    with output_lock(tmp_path / "out", "emorec train --run-dir out") as path:
        holder = json.loads(path.read_text())
        with pytest.raises(FolderInUseError, match=rf"in use by 'emorec train --run-dir out' \(pid {holder['pid']} on "):
            with output_lock(tmp_path / "out", "emorec train"):
                pass
        assert path.exists()  # the refused writer did not remove the holder's lock
    assert not path.exists()
    with output_lock(tmp_path / "out", "again"):  # free again
        pass


def test_lock_of_a_dead_process_is_taken_over_with_a_warning(tmp_path, caplog):
    import socket

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # its pid is (for the test's few milliseconds) not a running process
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / LOCK_FILENAME).write_text(json.dumps({"pid": dead.pid, "host": socket.gethostname(), "time": 0,
                                                    "command": "emorec convert (killed)", "token": "x"}))
    with caplog.at_level(logging.WARNING, logger="emorec.data.locking"):
        with output_lock(folder, "emorec convert") as path:
            assert json.loads(path.read_text())["command"] == "emorec convert"
    assert "taking over the lock of 'emorec convert (killed)'" in caplog.text
    assert not (folder / LOCK_FILENAME).exists()


def test_lock_of_another_host_is_not_taken_over(tmp_path):
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / LOCK_FILENAME).write_text(json.dumps({"pid": 1, "host": "elsewhere.invalid", "time": 0,
                                                    "command": "emorec train", "token": "x"}))
    with pytest.raises(FolderInUseError, match=f"on elsewhere.invalid.*delete {folder / LOCK_FILENAME}"):
        with output_lock(folder):
            pass


def test_train_into_a_locked_run_folder_is_refused(tiny_data, tmp_path):
    from .conftest import tiny_config
    from emorec.config import save_config

    save_config(tiny_config(), tmp_path / "config.yaml")
    with output_lock(tmp_path / "run", "emorec train --run-dir run"):
        result = run_cli("train", "--config", tmp_path / "config.yaml", "--data", tiny_data, "--run-dir", tmp_path / "run")
    assert result.returncode == 1
    assert "in use by 'emorec train --run-dir run'" in one_line_error(result)
    assert not (tmp_path / "run" / "run.json").exists()
