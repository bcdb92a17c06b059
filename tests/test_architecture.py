"""The layers of ARCHITECTURE.md, checked on the source: imports are read with `ast` (never
executed), including imports inside functions, over `emorec/` and `tfrecords_tools/`.

A module may import modules of its own layer and of the layers below it. `models` and `semantic`
share a layer but do not import each other. `tfrecords_tools` (the dataset converter) sits on
`emorec.data`; inside `emorec` only `experiments` and the CLI import it.
"""
from __future__ import annotations

import ast
from pathlib import Path
from typing import Dict, List, Optional, Set, Tuple

REPO_ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("emorec", "tfrecords_tools")

#: Lowest first. Each layer is a list of groups; groups of one layer (siblings) do not import each
#: other. A name covers the module of that name and everything below it (a name ending in `$`
#: covers that module only); the longest name wins.
LAYERS: List[List[Tuple[str, ...]]] = [
    [("emorec.constants", "emorec.errors", "emorec.config", "emorec.text")],
    [("emorec.data",)],
    [("tfrecords_tools",)],
    [("emorec.models",), ("emorec.semantic",)],
    [("emorec.training",)],
    [("emorec.evaluation",)],
    [("emorec.export",)],
    [("emorec.experiments",)],
    [("emorec.cli", "emorec$")],  # `emorec` itself (`$`: that module only): the lazy top-level API
]

#: Modules only these may import (besides themselves): the converter is a tool beside the
#: package, used by the workflows that start from a dataset on disk.
ONLY_IMPORTED_BY = {"tfrecords_tools": ("tfrecords_tools", "emorec.experiments", "emorec.cli")}


def _covers(prefix: str, module: str) -> bool:
    if prefix.endswith("$"):
        return module == prefix[:-1]
    return module == prefix or module.startswith(prefix + ".")


def place(module: str, layers=LAYERS) -> Optional[Tuple[int, int]]:
    """(layer index, group index) of a module, or None when no layer names it."""
    best = None
    for layer_index, groups in enumerate(layers):
        for group_index, names in enumerate(groups):
            for name in names:
                if _covers(name, module) and (best is None or len(name) > best[0]):
                    best = (len(name), layer_index, group_index)
    return None if best is None else best[1:]


def find_modules(root: Path, packages=PACKAGES) -> Dict[str, Path]:
    """Dotted module name -> file, for every .py file of the packages (a package is its __init__)."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _resolve(name: str, modules: Dict[str, Path]) -> Optional[str]:
    """The longest prefix of `name` that is one of `modules`, or None (a third-party import)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def import_graph(root: Path, packages=PACKAGES) -> Dict[str, Set[str]]:
    """module -> the modules of `packages` it imports, anywhere in its source."""
    modules = find_modules(root, packages)
    edges: Dict[str, Set[str]] = {module: set() for module in modules}
    for module, path in modules.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            targets = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:  # relative: from the module's own package, up level - 1 packages
                    package = module.split(".") if is_package else module.split(".")[:-1]
                    package = package[: len(package) - (node.level - 1)]
                    base = ".".join(package + ([base] if base else []))
                # `from a import b` imports the module a.b when there is one, else a name of a.
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                           for alias in node.names]
            for target in targets:
                resolved = _resolve(target, modules)
                if resolved is not None and resolved != module:
                    edges[module].add(resolved)
    return edges


def find_circles(edges: Dict[str, Set[str]]) -> List[List[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: Dict[str, int] = {}
    low: Dict[str, int] = {}
    stack: List[str] = []
    on_stack: Set[str] = set()
    circles: List[List[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(edges.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return sorted(circles)


def arrows_against_layers(edges: Dict[str, Set[str]], layers=LAYERS,
                          only_imported_by=ONLY_IMPORTED_BY) -> List[str]:
    """Every import that points up the layers, across siblings, or into a restricted module from
    outside its importers; also every module no layer names."""
    problems = []
    for source in sorted(edges):
        source_place = place(source, layers)
        if source_place is None:
            problems.append(f"{source}: in no layer (add it to LAYERS and ARCHITECTURE.md)")
            continue
        for target in sorted(edges[source]):
            target_place = place(target, layers)
            if target_place is None:
                continue  # reported as a source
            if target_place[0] > source_place[0]:
                problems.append(f"{source} -> {target}: imports a higher layer")
            elif target_place[0] == source_place[0] and target_place[1] != source_place[1]:
                problems.append(f"{source} -> {target}: siblings import each other")
            for restricted, importers in only_imported_by.items():
                if _covers(restricted, target) and not any(_covers(i, source) for i in importers):
                    problems.append(f"{source} -> {target}: only {', '.join(importers)} may import {restricted}")
    return problems


# ------------------------------------------------------------------------------- the real code


def test_no_import_circles():
    assert find_circles(import_graph(REPO_ROOT)) == []


def test_no_import_against_the_layers():
    assert arrows_against_layers(import_graph(REPO_ROOT)) == []


def test_the_graph_reads_imports_inside_functions():
    # evaluate_run's orchestrators import it lazily: the walk must see that arrow.
    assert "emorec.evaluation.evaluate" in import_graph(REPO_ROOT)["emorec.experiments.ablation"]


def test_benchmarks_are_a_package_above_the_library():
    # `python -m benchmarks.NAME`: siblings imported as `benchmarks.X`, never through sys.path; no
    # circle among them; nothing in the library imports them (they use emorec as a user does, the
    # dataset converter included).
    edges = import_graph(REPO_ROOT, (*PACKAGES, "benchmarks"))
    assert find_circles(edges) == []
    layers = [*LAYERS, [("benchmarks",)]]
    only_imported_by = {"tfrecords_tools": (*ONLY_IMPORTED_BY["tfrecords_tools"], "benchmarks")}
    assert arrows_against_layers(edges, layers, only_imported_by) == []
    assert "benchmarks.baseline_egemaps" in edges["benchmarks.accuracy_emodb"]
    assert [path.name for path in (REPO_ROOT / "benchmarks").glob("*.py") if "sys.path" in path.read_text()] == []


# ------------------------------------------------------------------- the checker can fail


def _write(root: Path, files: Dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


FAKE_PACKAGE = {
    "emorec/__init__.py": "from emorec.config import x\n",
    "emorec/config.py": "x = 1\n",
    "emorec/constants.py": "def late():\n    from emorec.data.a import y  # back-arrow inside a function\n",
    "emorec/data/__init__.py": "",
    "emorec/data/a.py": "from . import b\ny = 1\n",
    "emorec/data/b.py": "import emorec.data.a\n",
    "emorec/models/__init__.py": "",
    "emorec/models/m.py": "from emorec.semantic import s\n",
    "emorec/semantic/__init__.py": "",
    "emorec/semantic/s.py": "import numpy\n",
    "emorec/training/__init__.py": "",
    "emorec/training/t.py": "import tfrecords_tools\n",
    "emorec/experiments/__init__.py": "",
    "emorec/experiments/e.py": "import tfrecords_tools\nfrom emorec.training import t\n",
    "emorec/stray.py": "",
    "tfrecords_tools/__init__.py": "from emorec.data import a\nimport emorec\n",
}


def test_checker_finds_a_circle_and_every_kind_of_back_arrow(tmp_path):
    _write(tmp_path, FAKE_PACKAGE)
    edges = import_graph(tmp_path)
    assert find_circles(edges) == [["emorec.data.a", "emorec.data.b"]]
    assert "emorec.data.a" in edges["emorec.constants"]  # from inside a function
    assert arrows_against_layers(edges) == [
        "emorec.constants -> emorec.data.a: imports a higher layer",
        "emorec.models.m -> emorec.semantic.s: siblings import each other",
        "emorec.stray: in no layer (add it to LAYERS and ARCHITECTURE.md)",
        "emorec.training.t -> tfrecords_tools: only tfrecords_tools, emorec.experiments, emorec.cli may import "
        "tfrecords_tools",
        "tfrecords_tools -> emorec: imports a higher layer",
    ]


def test_checker_passes_a_package_that_keeps_the_layers(tmp_path):
    fixed = {"emorec/constants.py": "", "emorec/data/b.py": "from emorec.constants import late\n",
             "emorec/models/m.py": "from emorec.data.a import y\n", "emorec/training/t.py": "import emorec.models.m\n",
             "tfrecords_tools/__init__.py": "from emorec.data import a\n"}
    _write(tmp_path, {name: text for name, text in {**FAKE_PACKAGE, **fixed}.items() if name != "emorec/stray.py"})
    edges = import_graph(tmp_path)
    assert find_circles(edges) == [] and arrows_against_layers(edges) == []
    assert edges["emorec.experiments.e"] == {"tfrecords_tools", "emorec.training.t"}
