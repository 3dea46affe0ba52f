"""Schemathesis against ``make run``: every answer of the live local API conforms to docs/openapi.json.

The local API (``python -m local.run``, a real HTTP server on loopback) runs in its "real aggregator,
token in the environment" mode against the aggregator simulator that knows every id, with the canary
as the token. Schemathesis's CLI runs its examples, coverage and fuzzing phases (valid and invalid
data) with every check; its HAR report gives each exchange, which must also be the right answer for
its id and leak nothing; its event log counts the checks.
"""

from __future__ import annotations

import base64
import collections
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import pytest

from tests.conftest import LeakWatch
from tests.surface.backends import (
    TASK_ID_RULE,
    OutcomeAggregator,
    canary_backends,
    check_answer,
    expected,
    local_api,
)
from tools.openapi import DOCUMENT

pytestmark = pytest.mark.timeout(240)

MAX_EXAMPLES: Final = 150  # per operation and phase; the whole run takes about 10 s here
RUN_TIMEOUT_S: Final = 180
# Valid ids of tasks not ready (409), failed (410) or unknown (404) get those answers by contract.
CONFIG: Final = """
[checks]
positive_data_acceptance.expected-statuses = ["2xx", "3xx", "404", "409", "410"]
"""
ROUTE_PREFIX, ROUTE_SUFFIX = "/luma/generations/", "/download_video_url"


def wrong_answers(aggregator: OutcomeAggregator, entry: dict[str, Any]) -> list[str]:
    """What is wrong with one HAR exchange, judged by the answer its id must get."""
    request, response = entry["request"], entry["response"]
    method, status = request["method"], response["status"]
    path = unquote(urlsplit(request["url"]).path)  # as the local API (and HTTP APIs) decode it
    if method not in ("GET", "HEAD"):
        return [] if status == 405 else [f"{method} {path}: {status}, want 405"]
    task_id = path.removeprefix(ROUTE_PREFIX).removesuffix(ROUTE_SUFFIX)
    formats = [q["value"] for q in request["queryString"] if q["name"] == "format"]
    accept = ",".join(h["value"] for h in request["headers"] if h["name"].lower() == "accept")
    as_json = ",".join(formats) == "json" or "application/json" in accept.lower()
    want = expected(aggregator, task_id, valid=TASK_ID_RULE.fullmatch(task_id) is not None, as_json=as_json)
    headers = {h["name"].lower(): h["value"] for h in response["headers"]}
    body = response["content"].get("text", "")
    wrong = check_answer(aggregator, want, task_id, status, headers, body, head=method == "HEAD")
    return [f"{method} {request['url']}: {problem}" for problem in wrong]


def checks_run(ndjson: Path) -> collections.Counter[str]:
    """Check results by status, from the ``ScenarioFinished`` events of schemathesis's event log."""
    counts: collections.Counter[str] = collections.Counter()
    for line in ndjson.read_text().splitlines():
        finished = json.loads(line).get("ScenarioFinished")
        for results in (finished or {}).get("recorder", {}).get("checks", {}).values():
            counts.update(result["status"] for result in results)
    return counts


def test_every_answer_of_the_local_api_conforms_to_the_document(
    tmp_path: Path, leak_watch: LeakWatch
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    har, report, ndjson = tmp_path / "run.har", tmp_path / "run.json", tmp_path / "run.ndjson"

    with canary_backends() as (_, aggregator), local_api(aggregator) as run:
        command = [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(config),
            "run",
            str(DOCUMENT),
        ]
        command += ["--url", run.base_url, "--checks", "all", "--continue-on-failure", "--no-color"]
        command += ["--max-examples", str(MAX_EXAMPLES), "--request-timeout", "10", "--workers", "1"]
        command += ["--report", "json,har,ndjson", "--report-json-path", str(report)]
        command += ["--report-har-path", str(har), "--report-ndjson-path", str(ndjson)]
        finished = subprocess.run(
            command,
            check=False,
            cwd=tmp_path,  # schemathesis's own files (.hypothesis/, reports) stay out of the work tree
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
        function_output = list(run.stderr_lines)
    entries = json.loads(har.read_text())["log"]["entries"] if har.exists() else []
    for entry in entries:
        content, answer = entry["response"]["content"], entry["response"]
        body = content.get("text", "")
        if content.get("encoding") == "base64":
            body = base64.b64decode(body).decode("utf-8", "replace")
        headers = [(h["name"], h["value"]) for h in answer["headers"]]
        leak_watch.response(f"schemathesis {entry['request']['url']}", answer["status"], headers, body)
    for line in function_output:
        leak_watch.text("the local API's output", line)

    # Then schemathesis found nothing: every phase ran and every check passed
    summary = json.loads(report.read_text())
    assert finished.returncode == 0, finished.stdout[-5000:]
    assert summary["failures"] == [] and summary["errors"] == [], finished.stdout[-5000:]
    assert {summary["phases"][p]["status"] for p in ("examples", "coverage", "fuzzing")} == {"success"}
    checks = checks_run(ndjson)
    assert checks["success"] > 1000 and set(checks) == {"success"}, checks

    # And every exchange was the right answer for its id, with each documented answer seen
    wrong = [problem for entry in entries for problem in wrong_answers(aggregator, entry)]
    assert wrong == [], "\n".join(wrong[:20])
    statuses = collections.Counter(entry["response"]["status"] for entry in entries)
    assert {200, 302, 400, 404, 405, 409, 410} <= set(statuses), statuses

    print(
        f"schemathesis: {summary['test_cases']['generated']} test cases, {len(entries)} requests, "
        f"{checks['success']} checks passed; statuses {dict(sorted(statuses.items()))}"
    )
