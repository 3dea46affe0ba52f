"""Real loopback backends for the whole-surface suites, and the answer each task id must get.

- ``OutcomeAggregator``: the aggregator simulator, knowing every id: whether a task is completed,
  processing, failed or unknown follows from a hash of its id, so generated ids (hypothesis,
  schemathesis, thousands in a load run) each have one known right answer.
- ``canary_backends()``: that aggregator plus moto's Secrets Manager holding ``CANARY_TOKEN``, the
  only token the aggregator accepts; a failed task's reason echoes the token back, as a careless
  reseller's would, so the leak watch has something to catch.
- ``local_api()``: ``make run``'s entry point (``python -m local.run``) in its "real aggregator, token
  in the environment" mode, pointed at that aggregator with the canary as the token.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

from local.aggregator import DOWNLOAD_PREFIX, DOWNLOAD_SUFFIX, Aggregator, FakeTask, Reply
from local.aws import EmbeddedAws, start_embedded_aws
from local.run import SECRET_ID
from tests.conftest import CANARY_TOKEN, EVENT_TASK_ID
from tests.e2e.conftest import LocalRunProcess, clean_env
from tests.integration.conftest import presigned_r2_url

# The README's task id rule, written out here as the oracle (not imported from the code under test).
TASK_ID_RULE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,127}")

Outcome = Literal["completed", "processing", "failed", "unknown"]
OUTCOMES: Final[tuple[Outcome, ...]] = ("completed", "processing", "failed", "unknown")
ROUTE: Final = "/luma/generations/{task_id}/download_video_url"
FAILURE_REASON: Final = "prompt refused by moderation"
NOT_READY_RETRY_AFTER: Final = "10"  # the README's HTTP contract

# Ids outside the pattern, as a client would put them in a URL (percent-encoded where needed).
BAD_PATH_IDS: Final = (
    "bad.id",
    "-leading-dash",
    "_leading-underscore",
    "x" * 129,
    "caf%C3%A9",
    "a%20b",
    "a%0D%0ASet-Cookie:%20x=1",
    "a;b",
    "..",
    "a%2Fb",
)


def outcome_of(task_id: str) -> Outcome:
    # The example id (README, events/, the OpenAPI document) is completed, so the document's example
    # request (?format=json, Accept: application/json) meets the 200 answer.
    if task_id == EVENT_TASK_ID:
        return "completed"
    return OUTCOMES[hashlib.blake2b(task_id.encode("utf-8", "surrogatepass")).digest()[0] % len(OUTCOMES)]


def ids_with(outcome: Outcome, count: int, prefix: str) -> list[str]:
    """``count`` distinct valid ids whose task has ``outcome`` (about one id in four qualifies)."""
    found: list[str] = []
    for n in range(count * 40):  # bounded: a quarter of the candidates qualify on average
        candidate = f"{prefix}-{n:05d}"
        if outcome_of(candidate) == outcome:
            found.append(candidate)
            if len(found) == count:
                return found
    raise AssertionError(f"only {len(found)} ids with outcome {outcome}")


def upstream_paths(task_id: str) -> list[str]:
    """The aggregator paths one request for ``task_id`` reaches, in order, with no link cache."""
    download = f"{DOWNLOAD_PREFIX}{task_id}{DOWNLOAD_SUFFIX}"
    if outcome_of(task_id) in ("completed", "unknown"):
        return [download]
    return [download, f"{DOWNLOAD_PREFIX}{task_id}"]  # a 400 first: the task itself says why


class OutcomeAggregator(Aggregator):
    """The simulator with a task for every id, decided by ``outcome_of``; URLs are signed at start."""

    def __init__(self, token: str = CANARY_TOKEN) -> None:
        super().__init__(tokens=(token,))
        self._token = token
        self.signed_at = datetime.now(UTC).replace(microsecond=0)

    def url_for(self, task_id: str) -> str:
        return presigned_r2_url(task_id, signed_at=self.signed_at)

    def answer(
        self, method: str, path: str, authorization: str | None, user_agent: str | None = None
    ) -> Reply:
        task_id = path.removeprefix(DOWNLOAD_PREFIX).removesuffix(DOWNLOAD_SUFFIX)
        outcome = outcome_of(task_id)
        if path.startswith(DOWNLOAD_PREFIX) and outcome != "unknown" and task_id not in self.tasks:
            self.tasks[task_id] = FakeTask(
                state=outcome,
                url=self.url_for(task_id) if outcome == "completed" else None,
                # A careless reseller echoes the account's key in its failure text.
                failure_reason=f"{FAILURE_REASON} (account {self._token})" if outcome == "failed" else None,
            )
        return super().answer(method, path, authorization, user_agent)


@dataclass(frozen=True)
class Expected:
    """The right answer for one request: status, error code, and the headers that must carry values."""

    status: int
    code: str | None = None
    location: str | None = None
    retry_after: str | None = None


def expected(
    aggregator: OutcomeAggregator, task_id: str, *, valid: bool = True, as_json: bool = False
) -> Expected:
    if not valid:
        return Expected(400, "invalid_task_id")
    outcome = outcome_of(task_id)
    if outcome == "completed":
        return Expected(200) if as_json else Expected(302, location=aggregator.url_for(task_id))
    if outcome == "processing":
        return Expected(409, "video_not_ready", retry_after=NOT_READY_RETRY_AFTER)
    if outcome == "failed":
        return Expected(410, "task_failed")
    return Expected(404, "task_not_found")


def check_answer(
    aggregator: OutcomeAggregator,
    want: Expected,
    task_id: str,
    status: int,
    headers: dict[str, str],
    body: str,
    *,
    head: bool = False,
) -> list[str]:
    """What is wrong with one answer (``headers`` with lower-case names); empty when it is right."""
    wrong: list[str] = []
    if status != want.status:
        return [f"status {status}, want {want.status}: {body[:200]!r}"]
    if want.location is not None and headers.get("location") != want.location:
        wrong.append(f"Location {headers.get('location')!r}, want {want.location!r}")
    if want.retry_after is not None and headers.get("retry-after") != want.retry_after:
        wrong.append(f"Retry-After {headers.get('retry-after')!r}, want {want.retry_after!r}")
    if head:
        return wrong + ([f"HEAD answered a body {body[:80]!r}"] if body else [])
    if want.status == 200:
        document: Any = json.loads(body)
        if document.get("task_id") != task_id or document.get("url") != aggregator.url_for(task_id):
            wrong.append(f"document {document!r} is not {task_id}'s")
    elif want.code is not None:
        error = json.loads(body).get("error", {})
        if error.get("code") != want.code:
            wrong.append(f"error code {error.get('code')!r}, want {want.code!r}")
        if want.code == "task_failed" and FAILURE_REASON not in error.get("message", ""):
            wrong.append(f"410 message {error.get('message')!r} lacks the reason")
    return wrong


# What a direct invoke raises for each task that has no link (class names are the public contract).
DIRECT_ERRORS: Final = {
    "processing": "VideoNotReadyError",
    "failed": "TaskFailedError",
    "unknown": "TaskNotFoundError",
}


def check_direct_answer(
    aggregator: OutcomeAggregator, task_id: str, document: Any, error: str | None
) -> list[str]:
    """What is wrong with a direct invoke's answer (its document, or the name of what it raised)."""
    outcome = outcome_of(task_id)
    if outcome != "completed":
        return (
            []
            if error == DIRECT_ERRORS[outcome]
            else [f"{task_id}: raised {error}, want {DIRECT_ERRORS[outcome]}"]
        )
    if error is not None:
        return [f"{task_id}: raised {error}"]
    want = {"task_id": task_id, "url": aggregator.url_for(task_id)}
    if not isinstance(document, dict) or {k: document.get(k) for k in want} != want:
        return [f"{task_id}: document {document!r}"]
    return [] if str(document.get("expires_at")).endswith("Z") else [f"{task_id}: expires_at {document!r}"]


def lambda_headers(response: dict[str, Any]) -> list[tuple[str, str]]:
    """A function's HTTP answer's headers: ``headers``, and the REST API's ``multiValueHeaders``."""
    pairs = [(str(k), str(v)) for k, v in (response.get("headers") or {}).items()]
    for name, values in (response.get("multiValueHeaders") or {}).items():
        pairs += [(str(name), str(v)) for v in values]
    return pairs


@contextmanager
def canary_backends() -> Iterator[tuple[EmbeddedAws, OutcomeAggregator]]:
    aws = start_embedded_aws()
    try:
        aws.put_token(SECRET_ID, CANARY_TOKEN)
        aggregator = OutcomeAggregator()
        aggregator.start()
        try:
            yield aws, aggregator
        finally:
            aggregator.stop()
    finally:
        aws.stop()


@contextmanager
def local_api(aggregator: OutcomeAggregator) -> Iterator[LocalRunProcess]:
    """``make run`` with the canary as ``UPSTREAM_TOKEN`` (kept in its own embedded Secrets Manager)."""
    run = LocalRunProcess(clean_env(UPSTREAM_BASE_URL=aggregator.base_url, UPSTREAM_TOKEN=CANARY_TOKEN))
    try:
        yield run.wait_ready()
    finally:
        run.kill()
