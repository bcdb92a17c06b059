"""The dataset layouts of `emorec convert`: every module here that defines `LAYOUT`
(`tfrecords_tools.layout.Layout`). Adding a corpus is adding a module (and its tests); nothing
else names it."""
from __future__ import annotations

import functools
import importlib
import pkgutil
from typing import Dict

from emorec.errors import EmorecError
from tfrecords_tools.layout import Layout


@functools.lru_cache(maxsize=None)
def available_layouts() -> Dict[str, Layout]:
    """Layout name -> Layout, sorted by name."""
    found = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        layout = getattr(module, "LAYOUT", None)
        if isinstance(layout, Layout):
            if layout.name in found:
                raise EmorecError(f"two layout modules are named '{layout.name}'")
            found[layout.name] = layout
    return dict(sorted(found.items()))


def get_layout(name: str) -> Layout:
    layouts = available_layouts()
    if name not in layouts:
        raise EmorecError(f"layout must be one of {', '.join(layouts)}; got {name!r}")
    return layouts[name]
