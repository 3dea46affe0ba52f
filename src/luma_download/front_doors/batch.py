"""Batches for workflows: ``{"task_ids": [...]}`` resolves 1 to 50 ids in one invocation.

The ids are resolved concurrently on one bounded pool per container, all before the invocation's
deadline. The answer has one entry per id, in input order; an id's failure is its own entry, never
the batch's, and a duplicate is resolved once and reported at each of its places.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

from luma_download.errors import InvalidRequestError, LumaDownloadError, UpstreamTimeoutError
from luma_download.model import Deadline
from luma_download.request_record import BatchSummary, RequestRecord
from luma_download.task_id import validate_task_id

MAX_TASK_IDS = 50
# The aggregator's connection pool keeps 8 connections per host (transport.build_pool_manager): more
# workers would only open connections it then throws away.
WORKERS = 8

Entry = dict[str, Any]
# One validated id to its entry (a link document, or an archived copy's) before the deadline.
Resolver = Callable[[str, Deadline], Entry]

# One pool per container, created at import (Lambda's init), shared by every batch: threads start
# on first use and stay for the warm invocations after.
_pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="batch")


def task_ids_from_event(event: Mapping[str, Any]) -> list[str]:
    """The list as sent: 1 to 50 strings. Each id is checked on its own later (its entry, not the batch)."""
    ids = event["task_ids"]
    if not isinstance(ids, list):
        raise InvalidRequestError('task_ids must be a list: {"task_ids": ["<id>", ...]}')
    if not 1 <= len(ids) <= MAX_TASK_IDS:
        raise InvalidRequestError(f"task_ids must hold 1 to {MAX_TASK_IDS} ids, not {len(ids)}")
    if not all(isinstance(item, str) for item in ids):
        raise InvalidRequestError("task_ids must hold only strings")
    return ids


def resolve_batch(
    ids: list[str],
    resolve_one: Resolver,
    deadline: Deadline,
    record: RequestRecord,
) -> dict[str, Any]:
    """``{"results": [...]}`` with one entry per id in ``ids``, each what ``resolve_one`` made of it or
    its error; also the counts (``count``, ``ok``, ``failed``), which go on the request record too."""
    done: dict[str, Entry] = {}
    futures: dict[str, Future[Entry]] = {}
    for task_id in dict.fromkeys(ids):  # each distinct id once, in first-seen order
        try:
            validate_task_id(task_id)
        except LumaDownloadError as exc:
            done[task_id] = error_entry(task_id, exc)
            continue
        futures[task_id] = _pool.submit(_within_deadline, resolve_one, task_id, deadline)
    # Every wait upstream ends at the deadline too; this bounds what is still queued behind them.
    wait(futures.values(), timeout=max(0.0, deadline.remaining()))
    for task_id, future in futures.items():
        done[task_id] = _entry_of(task_id, future, record)
    results = [done[task_id] for task_id in ids]
    failed = Counter(entry["error"]["code"] for entry in results if "error" in entry)
    summary = BatchSummary(len(results), len(results) - failed.total(), failed.total(), failed)
    record.outcome, record.batch = "data", summary
    return {"count": summary.count, "ok": summary.ok, "failed": summary.failed, "results": results}


def _within_deadline(resolve_one: Resolver, task_id: str, deadline: Deadline) -> Entry:
    if deadline.remaining() <= 0:  # queued behind slow ids until the time ran out: do not start
        raise UpstreamTimeoutError("out of time before this task id was looked up")
    return resolve_one(task_id, deadline)


def _entry_of(task_id: str, future: Future[Entry], record: RequestRecord) -> Entry:
    if not future.done():
        future.cancel()  # still queued: never start it; one already running ends at the deadline
        return error_entry(task_id, UpstreamTimeoutError("out of time before this task id was resolved"))
    error = future.exception()
    if error is None:
        return future.result()
    if isinstance(error, LumaDownloadError):
        return error_entry(task_id, error)
    # A bug: the entry says so without its text; the log line carries its trace (the first one's).
    if record.crash is None:
        record.crash = error
    return {
        "task_id": task_id,
        "error": {"code": "internal_error", "message": "internal error", "type": type(error).__name__},
    }


def error_entry(task_id: str, error: LumaDownloadError) -> Entry:
    """The single-id contract's error, as data: its code, its caller-safe message and its class name."""
    code, message, name = error.code, error.message, type(error).__name__
    return {"task_id": task_id, "error": {"code": code, "message": message, "type": name}}
