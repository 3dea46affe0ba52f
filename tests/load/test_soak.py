"""Soak: 20,000 invocations with distinct ids in one warm process, after a warm-up.

The function runs in a child process of its own (``soak_child.py``, a clean RSS figure), through
``handler.lambda_handler`` with events of every front door, against the aggregator simulator and
moto's Secrets Manager running here. After the warm-up the link cache is full (1,024 entries, least
recently used out first), so from then on memory must stay flat: RSS grows by less than 10 MB, and
not one file descriptor or socket is left open. Every answer must also be right for its id.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any, Final

import pytest

from local.run import SECRET_ID
from tests.conftest import LeakWatch
from tests.load.soak_child import ANSWER_PREFIX, door_for, task_id_for
from tests.surface.backends import (
    OutcomeAggregator,
    canary_backends,
    check_answer,
    check_direct_answer,
    expected,
    lambda_headers,
    outcome_of,
)

pytestmark = pytest.mark.timeout(240)

REPO: Final = Path(__file__).resolve().parents[2]
WARMUP: Final = 4_000  # 1,025 completed tasks among them: the link cache (1,024 links) is full by then
LINK_CACHE_ENTRIES: Final = 1024  # URL_CACHE_MAX_ENTRIES's default
INVOCATIONS: Final = 20_000
MAX_RSS_GROWTH_KB: Final = 10 * 1024
CHILD_TIMEOUT_S: Final = 150


def wrong_answer(aggregator: OutcomeAggregator, answer: dict[str, Any]) -> list[str]:
    n = answer["n"]
    task_id, door = task_id_for(n), door_for(n)
    if door == "direct":
        return check_direct_answer(aggregator, task_id, answer.get("result"), answer.get("error"))
    result = answer.get("result")
    if not isinstance(result, dict):
        return [f"{door} {task_id}: {answer!r}"]
    headers = {name.lower(): value for name, value in lambda_headers(result)}
    want = expected(aggregator, task_id)
    return check_answer(aggregator, want, task_id, result["statusCode"], headers, result.get("body") or "")


def test_20000_distinct_ids_leave_memory_and_descriptors_flat(tmp_path: Path, leak_watch: LeakWatch) -> None:
    completed_in_warmup = sum(outcome_of(task_id_for(n)) == "completed" for n in range(WARMUP))
    assert completed_in_warmup > LINK_CACHE_ENTRIES  # so growth after it is not the cache filling up
    output = tmp_path / "child.out"
    with canary_backends() as (aws, aggregator), output.open("w") as sink:
        env = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONPATH": os.pathsep.join([str(REPO / "src"), str(REPO)]),
            **aws.environment(),
            "UPSTREAM_BASE_URL": aggregator.base_url,
            "TOKEN_SECRET_ID": SECRET_ID,
            "POWERTOOLS_SERVICE_NAME": "luma-download",
            "POWERTOOLS_METRICS_NAMESPACE": "LumaDownload",
            "POWERTOOLS_TRACE_DISABLED": "true",
        }
        finished = subprocess.run(
            [sys.executable, "-m", "tests.load.soak_child", str(WARMUP), str(INVOCATIONS)],
            check=False,
            cwd=REPO,
            env=env,
            stdout=sink,
            stderr=subprocess.PIPE,
            text=True,
            timeout=CHILD_TIMEOUT_S,
        )
    assert finished.returncode == 0, finished.stderr[-3000:]

    # Everything the child printed: its answers, and the function's log and metric lines
    answers: list[dict[str, Any]] = []
    with output.open() as lines:
        for line in lines:
            if line.startswith(ANSWER_PREFIX):
                answer = json.loads(line.removeprefix(ANSWER_PREFIX))
                answers.append(answer)
                feed(leak_watch, answer)
            else:
                leak_watch.text("the soak child's output", line)
    leak_watch.text("the soak child's stderr", finished.stderr)

    # Then every invocation answered, each right for its id
    assert [a["n"] for a in answers] == list(range(WARMUP + INVOCATIONS))
    wrong = [problem for answer in answers for problem in wrong_answer(aggregator, answer)]
    assert wrong == [], "\n".join(wrong[:10])

    # And after the warm-up, memory stayed flat and nothing was left open
    figures = json.loads(finished.stderr.strip().splitlines()[-1])
    warm, end = figures["warm"], figures["end"]
    growth_kb = end["rss_kb"] - warm["rss_kb"]
    print(
        f"soak: {INVOCATIONS} invocations after {WARMUP} warm-up; RSS {warm['rss_kb'] / 1024:.1f} -> "
        f"{end['rss_kb'] / 1024:.1f} MB (+{growth_kb / 1024:.2f} MB); fds {warm['fds']} -> {end['fds']}, "
        f"sockets {warm['sockets']} -> {end['sockets']}"
    )
    assert growth_kb < MAX_RSS_GROWTH_KB, figures
    assert end["fds"] <= warm["fds"], figures
    assert end["sockets"] <= warm["sockets"], figures
    # The measurement can see what it guards against: held memory, an open file, open sockets
    probe = figures["probe"]
    assert probe["rss_kb"] - end["rss_kb"] >= 15 * 1024, figures
    assert probe["fds"] == end["fds"] + 1, figures
    assert warm["sockets"] >= 1, figures  # the pooled connections to the aggregator and moto


def feed(leak_watch: LeakWatch, answer: dict[str, Any]) -> None:
    result = answer.get("result")
    where = f"soak invocation {answer['n']}"
    if answer.get("error") is not None:
        leak_watch.text(where, f"{answer['error']}: {answer.get('message')}")
    elif isinstance(result, dict) and "statusCode" in result:
        leak_watch.response(where, result["statusCode"], lambda_headers(result), result.get("body") or "")
    elif isinstance(result, dict):
        leak_watch.document(where, result)
