"""Ours as ``make build`` ships it, for the cold phase: the same recipe, on the local interpreter.

``src/Makefile``'s recipe (what ``sam build`` runs) builds the artifact's layout into a scratch
directory: handler.py and luma_download at the top, the pinned dependencies beside them, none of
what the runtime provides, and the whole compiled into unchecked hash-based .pyc. The artifact's
own bytecode is CPython 3.13's and its native code arm64's, which this interpreter cannot load, so
the recipe is retargeted at this interpreter's version and platform (its wheels, its compiler).
A copy without any ``__pycache__`` is the artifact as it shipped before it carried bytecode; its
cold starts run with ``PYTHONDONTWRITEBYTECODE`` because Lambda's /var/task is read-only, so each
one compiles every module from source again.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from bench.common import SRC


def build_layouts(scratch: Path) -> tuple[Path, Path]:
    """(with bytecode, without), both built by src/Makefile's recipe for this interpreter."""
    compiled = scratch / "shipped"
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "-f",
            str(SRC / "Makefile"),
            "build-LumaVideoFunction",
            f"ARTIFACTS_DIR={compiled}",
            f"PYTHON={sys.executable}",
            f"LAMBDA_PYTHON_VERSION={version}",
            f"LAMBDA_PLATFORM=manylinux2014_{platform.machine()}",
            f"LAMBDA_BYTECODE_PYTHON={sys.executable}",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    if done.returncode != 0 or not any(compiled.glob("luma_download/__pycache__/*.pyc")):
        raise RuntimeError(f"src/Makefile's build for this interpreter failed:\n{done.stdout}\n{done.stderr}")
    source_only = scratch / "shipped-source"
    shutil.copytree(compiled, source_only, ignore=shutil.ignore_patterns("__pycache__"))
    return compiled, source_only
