"""`output_lock`: one writer at a time per output folder (`convert`, `semantic features`, `train`,
`export`).

Two conversions into one folder at once used to leave a folder marked complete whose manifest
described one run and whose shards held the other's. The lock is a file
`<folder>/.emorec.lock` created with O_CREAT | O_EXCL (atomic on local file systems and NFSv3+),
holding who took it: pid, host, command and time. A second writer is refused with a message
naming the holder. A lock left by a process that died (kill -9, power cut) on this host is taken
over with a warning; one from another host cannot be checked and is reported with the way out.
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import sys
import time
from pathlib import Path
from typing import Iterator, Optional

from emorec.errors import FolderInUseError, PathLike

LOCK_FILENAME = ".emorec.lock"
#: A lock file that is still empty or unparseable after this long lost its writer mid-creation.
_UNREADABLE_STALE_S = 10.0

log = logging.getLogger(__name__)


def _holder_text(holder: dict) -> str:
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(float(holder.get("time", 0))))
    return f"{holder.get('command', '?')!r} (pid {holder.get('pid', '?')} on {holder.get('host', '?')}, since {started})"


def _read_holder(path: Path) -> Optional[dict]:
    try:
        holder = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return holder if isinstance(holder, dict) else None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: alive
    return True


def _is_stale(path: Path, holder: Optional[dict]) -> bool:
    if holder is None:
        try:
            return time.time() - path.stat().st_mtime > _UNREADABLE_STALE_S
        except FileNotFoundError:
            return True
    if holder.get("host") != socket.gethostname():
        return False  # another machine's process cannot be checked from here
    try:
        return not _pid_alive(int(holder["pid"]))
    except (KeyError, TypeError, ValueError):
        return True


@contextlib.contextmanager
def output_lock(folder: PathLike, command: Optional[str] = None) -> Iterator[Path]:
    """Hold `<folder>/.emorec.lock` for the duration of the `with` block. The folder is created,
    and removed again at the end if this call created it and it is still empty.

    command: what to tell a second writer (default: this process's command line).
    Raises `FolderInUseError` when another live process holds the folder.
    """
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / LOCK_FILENAME
    token = f"{os.getpid()}-{time.time_ns()}"
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time(), "token": token,
              "command": command or " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:300]}
    for _ in range(3):
        try:
            descriptor = os.open(str(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            other = _read_holder(path)
            if not _is_stale(path, other):
                raise FolderInUseError(
                    folder, f"in use by {_holder_text(other) if other else 'another process (lock being written)'}; "
                            f"wait for it to finish or write elsewhere (if that process is gone, delete {path})"
                ) from None
            # Re-read before removing, so a lock that another taker replaced meanwhile is left alone.
            if _read_holder(path) == other:
                log.warning("%s: taking over the lock of %s, which is no longer running", folder,
                            _holder_text(other) if other else "a process that died while taking it")
                path.unlink(missing_ok=True)
            continue
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            json.dump(holder, handle)
            handle.flush()
            os.fsync(handle.fileno())
        break
    else:
        raise FolderInUseError(folder, f"could not take the lock {path}; another writer keeps taking it")
    try:
        yield path
    finally:
        # Only our own lock: a lock another process took over (ours judged stale) stays.
        if (_read_holder(path) or {}).get("token") == token:
            path.unlink(missing_ok=True)
        if created:
            # A call refused before writing anything leaves no empty output folder behind.
            with contextlib.suppress(OSError):
                folder.rmdir()
