"""The package's one-way import rule, checked (``make lint``): each wing imports only what its row allows,
and no module imports its way back to itself.

| package | may import |
|---|---|
| ``luma_download`` (its own modules: the shared vocabulary) | nothing of a wing |
| ``luma_download.aggregator`` | the top |
| ``luma_download.archive`` | the top, ``luma_download.aggregator.transport`` |
| ``luma_download.front_doors`` | the top |

grimp (import-linter's graph) reads the imports, lazy and ``TYPE_CHECKING`` ones included; the table
above is ``ALLOWED``. Run: ``python -m tools.import_rules`` (exit 1 and one line per breach).
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Mapping
from graphlib import CycleError, TopologicalSorter
from typing import Final

import grimp

PACKAGE: Final = "luma_download"
TOP: Final = PACKAGE
# A wing (or the top) -> the wings and single modules it may import besides its own.
ALLOWED: Final[Mapping[str, frozenset[str]]] = {
    TOP: frozenset(),
    f"{PACKAGE}.aggregator": frozenset({TOP}),
    f"{PACKAGE}.archive": frozenset({TOP, f"{PACKAGE}.aggregator.transport"}),
    f"{PACKAGE}.front_doors": frozenset({TOP}),
}


def wing_of(module: str, wings: Iterable[str]) -> str:
    """The wing a module lives in: a subpackage in ``wings``, else the top."""
    for wing in wings:
        if module == wing or module.startswith(f"{wing}."):
            return wing
    return TOP


def breaches(edges: Iterable[tuple[str, str]], allowed: Mapping[str, frozenset[str]] = ALLOWED) -> list[str]:
    """Every import (importer, imported) that its importer's row does not allow."""
    wings = [wing for wing in allowed if wing != TOP]
    found = []
    for importer, imported in edges:
        source, target = wing_of(importer, wings), wing_of(imported, wings)
        if source == target or imported == PACKAGE:
            continue
        if target in allowed[source] or imported in allowed[source]:
            continue
        found.append(f"{importer} imports {imported}: {source} may import only {sorted(allowed[source])}")
    return sorted(found)


def cycle(edges: Iterable[tuple[str, str]]) -> list[str] | None:
    """One import cycle among the modules, or None."""
    sorter: TopologicalSorter[str] = TopologicalSorter()
    for importer, imported in edges:
        sorter.add(importer, imported)
    try:
        sorter.prepare()
    except CycleError as exc:
        return list(exc.args[1])
    return None


def import_edges(package: str = PACKAGE) -> list[tuple[str, str]]:
    """Every direct (importer, imported) pair inside ``package``."""
    graph = grimp.build_graph(package, cache_dir=None)
    return [
        (importer, imported)
        for importer in sorted(graph.modules)
        for imported in sorted(graph.find_modules_directly_imported_by(importer))
    ]


def main() -> int:
    edges = import_edges()
    problems = breaches(edges)
    loop = cycle(edges)
    if loop:
        problems.append("import cycle: " + " -> ".join(loop))
    for line in problems:
        print(line, file=sys.stderr)
    if not problems:
        print(f"import rules: {len(edges)} imports inside {PACKAGE}, all one way, no cycle")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
