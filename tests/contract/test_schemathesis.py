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
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Final
from urllib.parse import unquote, urlsplit

import pytest
import schemathesis
from schemathesis.config import SchemathesisConfig

from tests.conftest import LeakWatch
from tests.e2e.conftest import LocalRunProcess
from tests.surface.backends import (
    OUTCOMES,
    TASK_ID_RULE,
    OutcomeAggregator,
    canary_backends,
    check_answer,
    expected,
    ids_with,
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
OPERATION: Final = "/luma/generations/{task_id}/download_video_url"
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


@pytest.fixture(scope="module")
def live_api() -> Iterator[tuple[OutcomeAggregator, LocalRunProcess]]:
    with canary_backends() as (_, aggregator), local_api(aggregator) as run:
        yield aggregator, run


def test_every_answer_of_the_local_api_conforms_to_the_document(
    tmp_path: Path, leak_watch: LeakWatch, live_api: tuple[OutcomeAggregator, LocalRunProcess]
) -> None:
    aggregator, run = live_api
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    har, report, ndjson = tmp_path / "run.har", tmp_path / "run.json", tmp_path / "run.ndjson"
    seen_output = len(run.stderr_lines)

    command = [sys.executable, "-m", "schemathesis.cli", "--config-file", str(config), "run", str(DOCUMENT)]
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
    function_output = run.stderr_lines[seen_output:]
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
    assert finished.returncode == 0, f"seed {summary['seed']}: {finished.stdout[-5000:]}"
    assert summary["failures"] == [] and summary["errors"] == [], finished.stdout[-5000:]
    assert {summary["phases"][p]["status"] for p in ("examples", "coverage", "fuzzing")} == {"success"}
    checks = checks_run(ndjson)
    assert checks["success"] > 1000 and set(checks) == {"success"}, checks

    # And every exchange was the right answer for its id. Which tasks the generated ids name is
    # chance; the document's example (a completed task, asked for JSON), the coverage phase's ids
    # outside the pattern and the other methods are not, so those answers are always among them.
    wrong = [problem for entry in entries for problem in wrong_answers(aggregator, entry)]
    assert wrong == [], "\n".join(wrong[:20])
    statuses = collections.Counter(entry["response"]["status"] for entry in entries)
    assert {200, 400, 405} <= set(statuses), statuses

    print(
        f"schemathesis: {summary['test_cases']['generated']} test cases, {len(entries)} requests, "
        f"{checks['success']} checks passed; statuses {dict(sorted(statuses.items()))}"
    )


@pytest.mark.parametrize("method", ["GET", "HEAD"])
def test_each_kind_of_task_gets_a_conforming_answer(
    leak_watch: LeakWatch, live_api: tuple[OutcomeAggregator, LocalRunProcess], method: str, tmp_path: Path
) -> None:
    """The answers generated ids may miss: one id per outcome, each asked for the redirect and the JSON."""
    aggregator, run = live_api
    config_file = tmp_path / "schemathesis.toml"
    config_file.write_text(CONFIG)
    schema = schemathesis.openapi.from_path(DOCUMENT, config=SchemathesisConfig.from_path(config_file))
    schema.config.update(base_url=run.base_url)
    operation = schema[OPERATION][method]
    seen_output = len(run.stderr_lines)
    statuses = set()
    for outcome in OUTCOMES:
        task_id = ids_with(outcome, 1, "contract")[0]
        for query, headers in (({}, {}), ({"format": "json"}, {}), ({}, {"Accept": "application/json"})):
            case = operation.Case(path_parameters={"task_id": task_id}, query=query, headers=headers)

            response = case.call(allow_redirects=False, timeout=10)

            # schemathesis's response keeps each header's values in a list
            pairs = [(name, value) for name, values in response.headers.items() for value in values]
            leak_watch.response(f"{method} {task_id}", response.status_code, pairs, response.text)
            case.validate_response(response)  # every schemathesis check; raises on a failure
            want = expected(aggregator, task_id, as_json=bool(query or headers))
            lowered = {name.lower(): value for name, value in pairs}
            assert (
                check_answer(
                    aggregator,
                    want,
                    task_id,
                    response.status_code,
                    lowered,
                    response.text,
                    head=method == "HEAD",
                )
                == []
            )
            statuses.add(response.status_code)
    for line in run.stderr_lines[seen_output:]:
        leak_watch.text("the local API's output", line)

    assert statuses == {200, 302, 404, 409, 410}
