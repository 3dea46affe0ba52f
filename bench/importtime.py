"""Where a cold start's init goes, by part: ``python -X importtime`` over bench/cold.py, grouped.

Each module's own import time (``self``, its body without the imports nested in it) is counted
under the package it belongs to; ``handler``'s own time is its module body: building the SDK
client, the pool and the service. ``-X importtime`` adds its own cost to every import, so these
runs are separate from the timed ones and their figures are read as parts of a whole.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

from bench.common import median

# (group, top-level names); the first group that names a module's top-level package takes it.
GROUPS: list[tuple[str, frozenset[str]]] = [
    ("handler's own init: the SDK client, the pool, the service", frozenset({"handler"})),
    ("our modules (luma_download)", frozenset({"luma_download"})),
    ("Powertools", frozenset({"aws_lambda_powertools", "typing_extensions", "jmespath"})),
    ("boto3 and botocore (the runtime's)", frozenset({"boto3", "botocore", "s3transfer", "dateutil", "six"})),
    ("urllib3", frozenset({"urllib3"})),
    ("orjson", frozenset({"orjson"})),
]
STDLIB = "standard library"
REST = "in no import: the floor's client and pool, each first call, the script"
LINE = re.compile(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)")


def grouped(stderr: str) -> Counter[str]:
    """Microseconds of own import time per group, from one ``-X importtime`` report."""
    spent: Counter[str] = Counter()
    for match in LINE.finditer(stderr):
        top = match[4].split(".")[0]
        group = next((name for name, tops in GROUPS if top in tops), STDLIB)
        spent[group] += int(match[1])
    return spent


def init_parts(script: str, args: list[str], env: dict[str, str], cwd: Path, runs: int) -> dict[str, float]:
    """Median µs per group over ``runs`` fresh processes of bench/cold.py under ``-X importtime``;
    ``REST`` is the rest of each process's cold start (its ``cold_s``, in the file ``args[-1]``)."""

    def imports(*argv: str) -> Counter[str]:
        done = subprocess.run(
            [sys.executable, "-X", "importtime", "-P", *argv],
            env=env,
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return grouped(done.stderr)

    startup = imports("-c", "pass")  # the interpreter's own start-up, before the script's clock
    samples: list[Counter[str]] = []
    for _ in range(runs):
        spent = imports(script, *args) - startup
        cold_us = json.loads(Path(args[-1]).read_text())["cold_s"] * 1e6
        spent[REST] = max(0, round(cold_us) - sum(spent.values()))
        samples.append(spent)
    names = [name for name, _ in GROUPS] + [STDLIB, REST]
    return {name: median([sample[name] for sample in samples]) for name in names}
