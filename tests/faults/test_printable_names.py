"""Names from files reach the terminal escaped: `emorec convert` and `emorec info` with a file
or recording name holding an ANSI sequence ("\\x1b[2J" clears the screen)."""
from __future__ import annotations

import json

import pytest

from emorec.data.console import printable
from tests.faults.conftest import one_line_error, run_cli
from tests.faults.wav_bytes import sine, wav_bytes

CLEAR = "\x1b[2J"


@pytest.mark.parametrize("raw, shown", [
    ("a\x1b[2Jb", "a\\x1b[2Jb"),
    ("line\nbreak\r\ttab\x00", "line\\nbreak\\r\\ttab\\x00"),
    ("c1\x9bcsi\x7f", "c1\\x9bcsi\\x7f"),
    ("rlo\u202eevil", "rlo\\u202eevil"),
    ("latin1-\udce9t\udcff.wav", "latin1-\\xe9t\\xff.wav"),  # a non-UTF-8 file name's bytes, as Python holds them
    ("spk1/é 日本-ok.wav", "spk1/é 日本-ok.wav"),
])
def test_printable_escapes_what_a_terminal_acts_on_and_nothing_else(raw, shown):
    assert printable(raw) == shown


def write_source(root):
    """A manifest-layout source: one good recording, and one corrupt file whose name holds CLEAR."""
    root.mkdir()
    (root / "good.wav").write_bytes(wav_bytes(sine(16_000, 16_000), 16_000))
    (root / f"evil{CLEAR}.wav").write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    (root / "labels.csv").write_text("time_s,arousal\n0.0,0.1\n1.0,0.5\n")
    (root / "manifest.csv").write_text(f"audio,labels,partition,name\ngood.wav,labels.csv,train,good\n"
                                       f"evil{CLEAR}.wav,labels.csv,train,evil\n", encoding="utf-8")
    return root / "manifest.csv"


def test_convert_prints_a_skipped_file_name_escaped(tmp_path):
    csv = write_source(tmp_path / "src")
    result = run_cli("convert", "--layout", "manifest", csv, tmp_path / "out", "--on-error", "skip", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout + result.stderr
    assert "evil\\x1b[2J.wav: " in result.stdout, result.stdout


def test_convert_failing_on_such_a_file_prints_one_escaped_line(tmp_path):
    csv = write_source(tmp_path / "src")
    line = one_line_error(run_cli("convert", "--layout", "manifest", csv, tmp_path / "out", "--quiet"))
    assert "\x1b" not in line and "evil\\x1b[2J.wav: " in line, line


def test_info_prints_names_from_the_manifest_escaped(tmp_path):
    csv = write_source(tmp_path / "src")
    out = tmp_path / f"out{CLEAR}"
    assert run_cli("convert", "--layout", "manifest", csv, out, "--on-error", "skip", "--quiet").returncode == 0
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    manifest["recordings_without_words"] = [f"spk{CLEAR}a"]
    manifest["notes"] = ["title \x1b]0;owned\x07 set"]
    (out / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    result = run_cli("info", out)
    assert result.returncode == 0, result.stderr
    assert "\x1b" not in result.stdout and "\x07" not in result.stdout
    assert "out\\x1b[2J: schema v" in result.stdout, result.stdout
    assert "recordings without word timings: spk\\x1b[2Ja" in result.stdout, result.stdout
    assert "note: title \\x1b]0;owned\\x07 set" in result.stdout, result.stdout
