"""The package's import graph as a checked fact: every import runs down the layers below.

A unit is a top-level module or package of gapfill (`gapfill.repair`, `gapfill.cli`; the package
itself, the public surface, is `gapfill`) or the `exporters` package beside it. A unit may import
only units of lower layers; units of one layer are independent of each other. Function-local
imports, and those under TYPE_CHECKING, count like any other: an import hidden in a function is
still a dependency. A unit that is in no layer fails the check, so a new package is placed here
when it is made.

The order, from the top down:
- the entry points: the command and the library surface, then the demo and `doctor`, then the
  daemon's jobs above the HTTP API (the jobs command prints the API's schemas) and the exporters;
- repair, the pilot report and training (with per-camera fine-tuning) -> the fill pipeline and
  preflight (what daemon, worker and repair check first) -> runtime (inference backends) and the
  checkpoint registry (which model repairs a camera) -> ... -> the network;
- ingest (Frigate's above the plain one) and the daemon's MQTT events, then detect, provenance and
  the simulated cameras; then the network, which imports none of those (provenance reads a
  checkpoint's identity from it); then media, catalog, configuration and the small modules
  everything uses.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCES = (ROOT / "gapfill", ROOT / "exporters")

LAYERS: tuple[tuple[str, ...], ...] = (
    ("gapfill", "cli"),
    ("demo", "doctor"),
    ("jobs",),
    ("api", "exporters"),
    ("repair", "report", "training"),
    ("fill", "preflight"),
    ("runtime", "checkpoint_registry"),
    ("frigate_ingest",),
    ("ingest", "mqtt"),
    ("detect", "provenance", "synth"),
    ("network",),
    ("media",),
    ("catalog",),
    ("config",),
    ("times",),
    ("console", "errors", "logs", "text", "version"),
)
RANK = {unit: rank for rank, layer in enumerate(LAYERS) for unit in layer}


def unit_of_file(path: Path) -> str:
    """The unit a source file belongs to: gapfill/repair/run.py -> repair."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    if parts[0] == "exporters":
        return "exporters"
    return "gapfill" if parts[1:] == ("__init__",) else parts[1]


def imported_units(tree: ast.AST) -> list[tuple[int, str, str]]:
    """(line, unit, module as written) of every import of gapfill or exporters in `tree`."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.extend(_units(node.lineno, alias.name, ()))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.extend(_units(node.lineno, node.module, [a.name for a in node.names]))
    return found


def _units(line: int, module: str, names) -> list[tuple[int, str, str]]:
    parts = module.split(".")
    if parts[0] == "exporters":
        return [(line, "exporters", module)]
    if parts[0] != "gapfill":
        return []
    if len(parts) > 1:
        return [(line, parts[1], module)]
    # `from gapfill import demo, fill_gap`: a submodule is its unit, a name is the surface's.
    submodules = [n for n in names if n in RANK and n != "gapfill"]
    surface = [n for n in names if n not in submodules]
    return [(line, n, f"gapfill.{n}") for n in submodules] + (
        [(line, "gapfill", module)] if surface or not names else []
    )


def violations(path: Path, source: str) -> list[str]:
    """The imports of one file that do not run down the layers, as 'file:line: why'."""
    where = path.relative_to(ROOT)
    unit = unit_of_file(path)
    if unit not in RANK:
        return [f"{where}: unit {unit!r} is in no layer of {__name__}.LAYERS"]
    found = []
    for line, target, module in imported_units(ast.parse(source, str(path))):
        if target == unit:
            continue
        if target not in RANK:
            found.append(f"{where}:{line}: imports {module}, of unit {target!r} in no layer")
        elif RANK[target] <= RANK[unit]:
            found.append(f"{where}:{line}: {unit} imports {module} ({target} is not below it)")
    return found


def all_violations() -> list[str]:
    found = []
    for folder in SOURCES:
        for path in sorted(folder.rglob("*.py")):
            found.extend(violations(path, path.read_text(encoding="utf-8")))
    return found


def test_every_import_runs_down_the_layers():
    assert all_violations() == []


def test_every_unit_is_placed():
    units = {unit_of_file(p) for folder in SOURCES for p in folder.rglob("*.py")}
    assert units - set(RANK) == set()


def test_the_walk_sees_a_bad_import_inside_a_function():
    """A function-local import up the layers, and one between units of one layer, are reported;
    imports down the layers and within the unit are not."""
    path = ROOT / "gapfill" / "fill" / "sample.py"
    sample = (
        "from gapfill.network.config import MaltConfig\n"
        "from gapfill.fill.compose import compose_to_source\n"
        "def f():\n"
        "    from gapfill.repair.run import run_repair\n"
        "    import gapfill.cli\n"
        "    return run_repair\n"
    )
    assert violations(path, sample) == [
        "gapfill/fill/sample.py:4: fill imports gapfill.repair.run (repair is not below it)",
        "gapfill/fill/sample.py:5: fill imports gapfill.cli (cli is not below it)",
    ]
    sibling = ROOT / "gapfill" / "detect" / "sample.py"
    assert violations(sibling, "import gapfill.provenance.facts\n") == [
        "gapfill/detect/sample.py:1: detect imports gapfill.provenance.facts "
        "(provenance is not below it)"
    ]
