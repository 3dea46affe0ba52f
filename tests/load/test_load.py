"""32 concurrent clients against ``make run`` over real HTTP: nothing dropped, no 5xx, every answer
right for its id, and each request's ``request done`` record about that request and no other.

The local API accepts connections concurrently and invokes the function one request at a time, as a
Lambda container does; what could mix between requests is the function's per-invocation state (log
keys, the link it just fetched). Each answer carries the local API's request id (``apigw-requestid``),
which the function logs as ``correlation_id``: that pairs every answer with its record.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlsplit

import pytest

from tests.conftest import LeakWatch
from tests.surface.backends import (
    BAD_PATH_IDS,
    OUTCOMES,
    canary_backends,
    check_answer,
    expected,
    ids_with,
    local_api,
)

pytestmark = pytest.mark.timeout(180)

CLIENTS: Final = 32
REQUESTS_PER_CLIENT: Final = 100
IDS_PER_OUTCOME: Final = 40
REQUEST_TIMEOUT_S: Final = 30.0
LOG_WAIT_S: Final = 15.0


@dataclass(frozen=True)
class Planned:
    method: str
    task_id: str  # as it goes in the URL (bad ones percent-encoded)
    valid: bool
    accept_json: bool = False
    format_json: bool = False

    @property
    def target(self) -> str:
        return f"/luma/generations/{self.task_id}/download_video_url" + (
            "?format=json" if self.format_json else ""
        )


@dataclass
class Answered:
    planned: Planned
    status: int
    headers: dict[str, str]  # names lower-cased
    body: str


def plan(count: int) -> list[Planned]:
    """A fixed mix: GET, HEAD, JSON by Accept and by ?format, over every outcome, and bad ids."""
    good = [task_id for outcome in OUTCOMES for task_id in ids_with(outcome, IDS_PER_OUTCOME, "load")]
    planned: list[Planned] = []
    for n in range(count):
        task_id = good[(n * 7) % len(good)]
        kind = n % 10
        if kind == 9:
            planned.append(Planned("GET", BAD_PATH_IDS[n % len(BAD_PATH_IDS)], valid=False))
        elif kind == 8:
            planned.append(Planned("HEAD", task_id, valid=True))
        else:
            planned.append(Planned("GET", task_id, valid=True, accept_json=kind == 7, format_json=kind == 6))
    return planned


def client(
    base_url: str, work: list[Planned], answers: list[Answered], errors: list[str], start: threading.Barrier
) -> None:
    """One keep-alive connection, requests in turn; a failure is recorded, never retried."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(
        parts.hostname or "127.0.0.1", parts.port, timeout=REQUEST_TIMEOUT_S
    )
    start.wait(timeout=60)
    try:
        for planned in work:
            headers = {"Accept": "application/json" if planned.accept_json else "*/*"}
            try:
                connection.request(planned.method, planned.target, headers=headers)
                response = connection.getresponse()
                body = response.read().decode("utf-8", "replace")
            except (OSError, http.client.HTTPException) as exc:
                errors.append(f"{planned.method} {planned.target}: {exc!r}")
                connection.close()  # the next request opens a fresh connection
                continue
            lowered = {name.lower(): value for name, value in response.getheaders()}
            answers.append(Answered(planned, response.status, lowered, body))
    finally:
        connection.close()


def request_done_records(lines: list[str]) -> dict[str, list[dict[str, Any]]]:
    """The function's ``request done`` records by correlation id."""
    records: dict[str, list[dict[str, Any]]] = {}
    for line in lines:
        if '"request done"' not in line:
            continue
        record = json.loads(line)
        records.setdefault(str(record.get("correlation_id")), []).append(record)
    return records


def record_problems(answer: Answered, records: list[dict[str, Any]]) -> list[str]:
    """What is wrong with the records of one answer: exactly one, about this request and no other."""
    where = f"{answer.planned.method} {answer.planned.target} ({answer.headers.get('apigw-requestid')})"
    if len(records) != 1:
        return [f"{where}: {len(records)} request done records"]
    record = records[0]
    problems = []
    if record.get("status") != answer.status:
        problems.append(f"{where}: record status {record.get('status')}, answered {answer.status}")
    if answer.planned.valid and record.get("task_id") != answer.planned.task_id:
        problems.append(f"{where}: record for task {record.get('task_id')!r}")
    if not answer.planned.valid and record.get("task_id") is not None:
        problems.append(f"{where}: a refused id's record names task {record.get('task_id')!r}")
    video_url = record.get("video_url")
    if video_url is not None and f"/{answer.planned.task_id}/" not in video_url:
        problems.append(f"{where}: record carries another task's link {video_url!r}")
    if (video_url is not None) != (answer.status in (200, 302)):
        problems.append(f"{where}: answered {answer.status} but video_url is {video_url!r}")
    return problems


def test_32_concurrent_clients_get_every_answer_right(leak_watch: LeakWatch) -> None:
    work = plan(CLIENTS * REQUESTS_PER_CLIENT)
    answers: list[Answered] = []
    errors: list[str] = []
    start = threading.Barrier(CLIENTS + 1)

    with canary_backends() as (_, aggregator), local_api(aggregator) as run:
        threads = [
            threading.Thread(target=client, args=(run.base_url, work[n::CLIENTS], answers, errors, start))
            for n in range(CLIENTS)
        ]
        for thread in threads:
            thread.start()
        start.wait(timeout=60)
        began = time.perf_counter()
        for thread in threads:
            thread.join(timeout=120)
        wall = time.perf_counter() - began
        assert not any(thread.is_alive() for thread in threads), "a client hung"
        records = wait_for_records(run.stderr_lines, len(work))
        output = list(run.stderr_lines)
    for answer in answers:
        leak_watch.response(f"load {answer.planned.target}", answer.status, answer.headers, answer.body)
    for line in output:
        leak_watch.text("the local API's output", line)

    # Then nothing was dropped and nothing failed on our side
    assert errors == [], f"{len(errors)} dropped: {errors[:5]}"
    assert len(answers) == len(work)
    assert [a for a in answers if a.status >= 500] == []

    # And every answer is the right one for its id
    wrong = [
        f"{a.planned.method} {a.planned.target}: {problem}"
        for a in answers
        for problem in check_answer(
            aggregator,
            expected(
                aggregator,
                a.planned.task_id,
                valid=a.planned.valid,
                as_json=a.planned.accept_json or a.planned.format_json,
            ),
            a.planned.task_id,
            a.status,
            a.headers,
            a.body,
            head=a.planned.method == "HEAD",
        )
    ]
    assert wrong == [], "\n".join(wrong[:10])

    # And each answer has exactly one request done record, about its own request
    problems = [
        p for a in answers for p in record_problems(a, records.get(a.headers.get("apigw-requestid", ""), []))
    ]
    assert problems == [], "\n".join(problems[:10])
    assert sum(len(r) for r in records.values()) == len(work)

    statuses = sorted({a.status for a in answers})
    print(
        f"load: {len(work)} requests from {CLIENTS} clients in {wall:.1f} s ({len(work) / wall:.0f}/s), "
        f"{len(errors)} dropped, statuses {statuses}"
    )


def wait_for_records(lines: list[str], count: int) -> dict[str, list[dict[str, Any]]]:
    """The records, once all ``count`` are in (the output is pumped from the process's stderr)."""
    deadline = time.monotonic() + LOG_WAIT_S
    while True:
        records = request_done_records(list(lines))
        if sum(len(r) for r in records.values()) >= count or time.monotonic() > deadline:
            return records
        time.sleep(0.1)
