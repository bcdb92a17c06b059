"""Atomic TFRecord shards: the shard names of converted folders and feature folders, and the writer.

A shard is written to `<final name>.partial` and renamed to its final name only when it is
complete, so a file named `<partition>-NNNNN-of-MMMMM.tfrecord` is never partial.
"""
from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path
from typing import Optional

import tensorflow as tf

PARTIAL_SUFFIX = ".partial"


def shard_name(partition: str, index: int, count: int) -> str:
    return f"{partition}-{index:05d}-of-{count:05d}.tfrecord"


@contextlib.contextmanager
def _as_os_error(path: Path):
    """TensorFlow reports a full disk as ResourceExhaustedError (other write failures as other
    OpErrors), which the CLI would print as a traceback; as an OSError naming the shard it is the
    one line the CLI gives every full disk or unwritable folder."""
    try:
        yield
    except tf.errors.OpError as error:
        code = errno.ENOSPC if isinstance(error, tf.errors.ResourceExhaustedError) else errno.EIO
        raise OSError(code, os.strerror(code), str(path)) from None


class ShardWriter:
    """Write serialised examples to one shard; `close()` publishes it, `abort()` deletes it."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + PARTIAL_SUFFIX)
        with _as_os_error(self.partial):
            self._writer: Optional[tf.io.TFRecordWriter] = tf.io.TFRecordWriter(str(self.partial))
        self.count = 0
        self.sha256: Optional[str] = None

    def write(self, serialized: bytes) -> None:
        with _as_os_error(self.partial):
            self._writer.write(serialized)
        self.count += 1

    def close(self) -> Path:
        """Publish the shard; afterwards `count` and `sha256` describe it (for the manifest, so
        that `emorec info --verify` can tell a later truncation or corruption)."""
        from emorec.data.verify import file_sha256

        with _as_os_error(self.partial):
            self._writer.close()
        self._writer = None
        self.sha256 = file_sha256(self.partial)
        os.replace(self.partial, self.path)
        return self.path

    def abort(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except tf.errors.OpError:
                pass  # the write that failed was reported; the partial file goes regardless
            self._writer = None
        self.partial.unlink(missing_ok=True)
