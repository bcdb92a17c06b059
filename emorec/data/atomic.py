"""Durable writes: a file is written under a temporary name in its own folder, flushed to disk
(fsync) and renamed over its final name, so that a crash or `kill -9` at any instant leaves either
the old file or the new one, never a truncated one under the final name.

The rename is made durable too (fsync of the folder): after a power cut the folder may otherwise
still list the old name.
"""
from __future__ import annotations

import os
from pathlib import Path

from emorec.errors import PathLike


def fsync_file(path: PathLike) -> None:
    """Flush a file's data to disk (a file written by a library that does not fsync, e.g. h5py)."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def fsync_folder(path: PathLike) -> None:
    """Flush a folder's entries (renames, new names) to disk; a no-op where folders cannot be opened."""
    try:
        descriptor = os.open(str(path), os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass  # some file systems refuse fsync on a folder; the rename itself is still atomic
    finally:
        os.close(descriptor)


def replace_durably(temporary: PathLike, final: PathLike) -> Path:
    """fsync `temporary`, rename it over `final` (same folder) and fsync the folder."""
    fsync_file(temporary)
    os.replace(temporary, final)
    fsync_folder(Path(final).parent)
    return Path(final)


def atomic_write_text(path: PathLike, text: str) -> Path:
    """Write `text` (UTF-8) to `path` atomically and durably."""
    path = Path(path)
    temporary = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    fsync_folder(path.parent)
    return path
