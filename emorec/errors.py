"""Exception types. Each message names the file (or key) and the problem in one line."""
from __future__ import annotations

from pathlib import Path
from typing import Optional, Union

PathLike = Union[str, Path]


class EmorecError(Exception):
    """Base class: the CLI turns any of these into a one-line message and exit status 1."""


class InputFileError(EmorecError):
    """A user's input file is missing, unreadable or malformed."""

    def __init__(self, path: PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class ConfigError(EmorecError):
    """A config file has an unknown key, a wrong type or a bad value.

    key: the dotted key (`training.epochs`), or None for a problem of the whole file (not found,
    not YAML), where the message is just `<source>: <problem>`.
    """

    def __init__(self, source: PathLike, key: Optional[str], problem: str):
        self.source = str(source)
        self.key = key
        self.problem = problem
        super().__init__(f"{self.source}: {key}: {problem}" if key else f"{self.source}: {problem}")


class DatasetError(EmorecError):
    """A converted dataset folder is missing, incomplete or of another schema version."""


class ExportError(EmorecError):
    """A model or run folder cannot be exported, or an exported folder cannot be used."""


class OutputExistsError(EmorecError):
    """An output (file or folder) already holds results that a call would replace; the message
    says how to replace them on purpose (`--overwrite`) or where else to write."""

    def __init__(self, path: PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class FolderInUseError(EmorecError):
    """Another process is writing into an output folder (it holds `.emorec.lock` there)."""

    def __init__(self, path: PathLike, problem: str):
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")
