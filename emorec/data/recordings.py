"""The recordings of a converted folder in Python, for tools that need them whole (the semantic
branch's vocabularies and features); training reads them through `emorec.data.pipeline` instead."""
from __future__ import annotations

from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import tensorflow as tf

from emorec.data.manifest import read_manifest, shard_paths
from emorec.data.schema import Recording, example_to_recording
from emorec.errors import PathLike


def partition_shards(converted_dir: PathLike, partitions: Optional[Sequence[str]] = None,
                     manifest: Optional[dict] = None) -> Dict[str, List[Path]]:
    """Shard paths per partition, from the validated manifest (all partitions when `partitions` is
    None), each checked to exist. Raises DatasetError (no/incomplete manifest, unknown partition,
    missing shard)."""
    converted_dir = Path(converted_dir)
    manifest = manifest if manifest is not None else read_manifest(converted_dir)
    names = list(manifest["partitions"]) if partitions is None else list(partitions)
    return {name: shard_paths(converted_dir, name, manifest) for name in names}


def iter_recordings(converted_dir: PathLike, partitions: Optional[Sequence[str]] = None,
                    ) -> Iterator[Tuple[Path, Recording]]:
    """(shard path, Recording) for every recording of the given partitions, in shard order."""
    for _, shards in partition_shards(converted_dir, partitions).items():
        for shard in shards:
            for serialized in tf.data.TFRecordDataset(str(shard)).as_numpy_iterator():
                yield shard, example_to_recording(serialized)
