"""The one-way import rule (``tools/import_rules.py``, run by ``make lint``) holds for the package, and
the checker sees a breach or a cycle when there is one."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

from tools.import_rules import ALLOWED, breaches, cycle, import_edges

ROOT = Path(__file__).resolve().parents[2]


def test_the_package_keeps_the_rule() -> None:
    edges = import_edges()
    # The checker sees the imports across wings that the rule allows (a presence first) ...
    assert ("luma_download.archive.copying", "luma_download.aggregator.transport") in edges
    assert ("luma_download.front_doors.http_api", "luma_download.errors") in edges
    # ... and no import it forbids, and no cycle.
    assert breaches(edges) == []
    assert cycle(edges) is None


def test_each_row_of_the_table_is_enforced() -> None:
    edges = [
        ("luma_download.front_doors.http_api", "luma_download.aggregator.protocol"),
        ("luma_download.archive.lookup", "luma_download.aggregator.client"),
        ("luma_download.archive.copying", "luma_download.aggregator.transport"),
        ("luma_download.aggregator.client", "luma_download.archive.store"),
        ("luma_download.settings", "luma_download.front_doors.event_shapes"),
        ("luma_download.aggregator.client", "luma_download.settings"),
        ("luma_download.front_doors.batch", "luma_download.front_doors.direct_invoke"),
    ]
    found = breaches(edges)
    assert [line.split(":")[0] for line in found] == [
        "luma_download.aggregator.client imports luma_download.archive.store",
        "luma_download.archive.lookup imports luma_download.aggregator.client",
        "luma_download.front_doors.http_api imports luma_download.aggregator.protocol",
        "luma_download.settings imports luma_download.front_doors.event_shapes",
    ]
    assert set(ALLOWED) == {
        "luma_download",
        "luma_download.aggregator",
        "luma_download.archive",
        "luma_download.front_doors",
    }


def test_a_cycle_is_named() -> None:
    loop = cycle([("a", "b"), ("b", "c"), ("c", "a"), ("c", "d")])
    assert loop is not None
    assert set(loop) == {"a", "b", "c"}
    assert cycle([("a", "b"), ("b", "c")]) is None


def test_make_lint_fails_on_a_forbidden_import(tmp_path: Path) -> None:
    """The command ``make lint`` runs exits 1 on a copy of the package with one forbidden import, and 0 on
    the copy as it is."""
    shutil.copytree(ROOT / "src" / "luma_download", tmp_path / "luma_download")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}"}
    command = [sys.executable, "-m", "tools.import_rules"]
    clean = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert clean.returncode == 0, clean.stderr

    target = tmp_path / "luma_download" / "front_doors" / "event_shapes.py"
    target.write_text(target.read_text() + "\nfrom luma_download.aggregator import transport  # noqa\n")
    broken = subprocess.run(
        command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert broken.returncode == 1
    assert (
        "luma_download.front_doors.event_shapes imports luma_download.aggregator.transport" in broken.stderr
    )
