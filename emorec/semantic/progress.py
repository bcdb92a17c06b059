"""The progress bar of the semantic trainers (alignment, Speech2Vec): tqdm on stderr, so that
a command's report on stdout stays clean JSON."""
from __future__ import annotations

import sys


def progress_bar(total: int, description: str, enabled: bool = True):
    """A tqdm bar on stderr; when stderr is not a terminal (a log file), it redraws rarely, so the
    log gets a line now and then instead of one per update."""
    from tqdm.auto import tqdm

    interactive = sys.stderr.isatty()
    return tqdm(total=total, desc=description, disable=not enabled, file=sys.stderr, leave=interactive,
                mininterval=0.5 if interactive else 15.0, dynamic_ncols=interactive)
