"""What a user sees while emorec works: progress of long steps and the log levels of the libraries.

Progress goes to stderr: a tqdm bar (count, rate, ETA) on a terminal; elsewhere (a log file, a
pipe, CI) plain lines with the same count and ETA, without carriage returns or ANSI codes, so a
log reads as one line per step. Keras training lines follow the same rule (`keras_verbose`).

TensorFlow's own start-up and info lines are silenced by `quiet_library_logs`, which must run
before TensorFlow is imported (the C++ level is read once, at import); the `emorec` CLI calls it
unless `--verbose` is given. Some C++ lines (absl's `I0000 ...` format) ignore that level; the
few places that emit them (ONNX conversion's grappler pass) run inside `native_log_filter`.

Names that come from files (recordings, audio files, manifest notes) are printed through
`printable`, so that a control character in a name is shown as an escape, not acted on.

Nothing here imports TensorFlow. It lives in emorec.data, the lowest layer that the semantic
steps, training and the CLI all import (see ARCHITECTURE.md).
"""
from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import tempfile
import time
from typing import Iterator, Optional, TextIO

#: Set by the CLI's `--verbose`: full Keras metric lines and the libraries' own logging.
_verbose = False

#: A line of TensorFlow's C++ logging (TSL `2026-01-01 12:00:00.000000: I path.cc:12] ...` or absl
#: `I0000 00:00:1700000000.000000  1234 path.cc:76] ...`) and absl's pre-initialisation notice.
NATIVE_LOG_LINE = re.compile(
    r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d+: [IWE] \S+:\d+\]"
    r"|[IWE]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ \S+:\d+\]"
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR)")


#: What a terminal acts on instead of showing: C0 controls (ESC starts the sequences that clear
#: the screen or retitle the window; CR and LF break a one-line message), DEL, C1 controls (0x9b
#: is a one-byte CSI) and the bidirectional overrides that make a name display as another. Also
#: surrogates: Python holds a file name's non-UTF-8 bytes as such, and printing one would fail.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _escape(match: "re.Match[str]") -> str:
    character = match.group()
    if "\udc80" <= character <= "\udcff":  # the file name's byte, as os.fsencode would give it back
        return f"\\x{ord(character) - 0xDC00:02x}"
    return character.encode("unicode_escape", "backslashreplace").decode("ascii")


def printable(text: object) -> str:
    """`text` made safe to print: each character a terminal would act on is written as its
    escape (`\\x1b`, `\\n`, `\\u202e`), as `repr` writes it. For whatever reaches the user from
    a file: file and recording names, and messages that quote them."""
    return _UNPRINTABLE.sub(_escape, str(text))


def set_verbose(verbose: bool) -> None:
    global _verbose
    _verbose = bool(verbose)


def is_verbose() -> bool:
    """True when the user asked for everything (`emorec --verbose`)."""
    return _verbose


def is_terminal(stream: Optional[TextIO] = None) -> bool:
    """Whether `stream` (default stdout) is an interactive terminal."""
    stream = sys.stdout if stream is None else stream
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # closed or replaced streams (pytest's capture, StringIO)
        return False


def keras_verbose(verbose="auto"):
    """Keras' `verbose` for fit/predict: "auto" becomes 1 (a live bar) on a terminal and 2 (one
    line per epoch) otherwise. Keras' own "auto" means 1 always, and its bar then writes ANSI
    codes, backspaces and carriage returns into log files."""
    if verbose == "auto":
        return 1 if is_terminal(sys.stdout) else 2
    return verbose


def quiet_library_logs() -> None:
    """Silence TensorFlow's start-up lines, its info/warning/error logging (C++ and Python) and
    absl's Python logging. Call before TensorFlow is imported; an explicit TF_CPP_MIN_LOG_LEVEL in
    the environment is kept. Errors that matter reach the user as exceptions, not log lines."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    # tf.get_logger() is this logger; setting it by name does not import TensorFlow.
    logging.getLogger("tensorflow").setLevel(logging.ERROR)
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        from absl import logging as absl_logging  # a TensorFlow dependency; absent: nothing to quiet

        absl_logging.set_verbosity(absl_logging.ERROR)
    except ImportError:
        pass


@contextlib.contextmanager
def native_log_filter(enabled: bool = True) -> Iterator[None]:
    """Drop TensorFlow's C++ log lines written to file descriptor 2 inside the block; every other
    line written there (Python warnings, tracebacks) is replayed to stderr when the block ends.

    For the C++ lines that TF_CPP_MIN_LOG_LEVEL does not reach (absl's `I0000 ...` format). The
    block's stderr arrives at its end, so use it around a bounded call, not a long training loop.
    """
    if not enabled:
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as capture:
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            kept = [line for line in capture.read().decode("utf-8", "replace").splitlines(keepends=True)
                    if not NATIVE_LOG_LINE.match(line)]
            if kept:
                sys.stderr.write("".join(kept))
                sys.stderr.flush()


class LineProgress:
    """tqdm's counters and ETA as plain lines, for output that is not a terminal: one line each
    `line_every` updates and at the end, never a carriage return or an ANSI code."""

    def __init__(self, total: Optional[int], description: str, unit: str, line_every: int = 1,
                 file: Optional[TextIO] = None):
        self.total, self.description, self.unit = total, description, unit
        self.line_every = max(1, int(line_every))
        self.file = file
        self.n = 0
        self.postfix = ""
        self._start = time.monotonic()
        self._last_line_at = 0

    def update(self, n: int = 1) -> None:
        self.n += n
        if self.n - self._last_line_at >= self.line_every or (self.total is not None and self.n >= self.total):
            self._line()

    def set_postfix_str(self, postfix: str, refresh: bool = True) -> None:
        self.postfix = postfix

    def _line(self) -> None:
        from tqdm import tqdm

        self._last_line_at = self.n
        line = tqdm.format_meter(self.n, self.total, time.monotonic() - self._start, prefix=self.description,
                                 unit=self.unit, postfix=self.postfix or None,
                                 bar_format="{desc}: {n_fmt}/{total_fmt} {unit} [{elapsed}<{remaining}, "
                                            "{rate_fmt}{postfix}]")
        print(line, file=self.file or sys.stderr, flush=True)

    def close(self) -> None:
        if self.n != self._last_line_at:
            self._line()

    def __enter__(self) -> "LineProgress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def progress_bar(total: Optional[int], description: str, *, unit: str = "step", enabled: bool = True,
                 line_every: int = 1, file: Optional[TextIO] = None):
    """A progress bar on stderr with count and ETA: tqdm on a terminal, `LineProgress` (a line
    each `line_every` steps) elsewhere, a silent tqdm when not `enabled`. Use as a context
    manager; call `update(n)` and optionally `set_postfix_str`."""
    from tqdm import tqdm

    stream = file or sys.stderr
    if not enabled:
        return tqdm(total=total, disable=True)
    if is_terminal(stream):
        return tqdm(total=total, desc=description, unit=unit, file=stream, dynamic_ncols=True)
    return LineProgress(total, description, unit, line_every=line_every, file=file)
