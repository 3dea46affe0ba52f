"""A batch's workers share the token: one Secrets Manager read for all of them, on a cold start and
after a rotation, even when that read is slow; a throttling aggregator fails only the ids it throttled."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from local.aggregator import Reply
from local.faulty_aws import dripping, secret_answer
from local.lambda_context import LocalLambdaContext
from luma_download.front_doors.batch import WORKERS
from tests.faults.conftest import ROTATED_TOKEN, SECRET_ID, TOKEN, Rig
from tests.integration.conftest import completed

pytestmark = pytest.mark.timeout(30)

NO_LINK_CACHE = {"URL_CACHE_MAX_ENTRIES": "0"}
# A secret answer dripped a byte every 2 ms takes about half a second: every worker asks meanwhile.
SLOW_BYTE = 0.002
IDS = [f"batch-{n}" for n in range(WORKERS * 2)]


def slow_secret(token: str) -> Any:
    return dripping(secret_answer(SECRET_ID, string=json.dumps({"token": token})), SLOW_BYTE)


def batch(handle: Any, ids: list[str], budget: float = 5.0) -> tuple[dict[str, Any], float]:
    started = time.monotonic()
    answer = handle({"task_ids": ids}, LocalLambdaContext(timeout_seconds=budget))
    return answer, time.monotonic() - started


def test_a_cold_batch_reads_the_secret_once_while_the_read_is_slow(rig: Rig) -> None:
    aggregator = rig.simulator(TOKEN)
    for task_id in IDS:
        completed(aggregator, task_id)
    handle = rig.handler(aggregator.base_url, **NO_LINK_CACHE)
    rig.aws.script(slow_secret(TOKEN))

    answer, elapsed = batch(handle, IDS)

    assert answer["ok"] == len(IDS), answer
    assert elapsed < 5.0
    assert rig.aws.reads == [SECRET_ID]  # every worker waited for the one read in flight


def test_a_rotation_during_a_batch_costs_one_forced_read_and_every_id_gets_the_new_token(rig: Rig) -> None:
    # Given a warm function holding TOKEN
    aggregator = rig.simulator(TOKEN)
    for task_id in IDS:
        completed(aggregator, task_id)
    handle = rig.handler(aggregator.base_url, **NO_LINK_CACHE)
    assert batch(handle, IDS[:1])[0]["ok"] == 1
    # When the operator rotates the secret (the re-read is slow) and the old token stops working
    rig.moto.put_token(SECRET_ID, ROTATED_TOKEN)
    aggregator.valid_tokens = {ROTATED_TOKEN}
    rig.aws.script(slow_secret(ROTATED_TOKEN))

    answer, elapsed = batch(handle, IDS)

    # Then every worker refused with TOKEN waits for the one forced read rather than failing
    assert answer["ok"] == len(IDS), [e for e in answer["results"] if "error" in e]
    assert elapsed < 5.0
    assert rig.aws.reads == [SECRET_ID, SECRET_ID]
    assert {r.authorization for r in aggregator.requests[-len(IDS) :]} == {f"Bearer {ROTATED_TOKEN}"}


def test_a_throttling_aggregator_fails_only_the_ids_it_throttled(rig: Rig) -> None:
    aggregator = rig.simulator(TOKEN)
    for task_id in IDS:
        completed(aggregator, task_id)
    throttled = IDS[::3]
    for task_id in throttled:
        # A wait far longer than the invocation has: the id is rate_limited, not retried
        aggregator.script(
            f"/luma/generations/{task_id}/download_video_url",
            Reply(429, {"error": {"message": "slow down"}}, headers={"Retry-After": "120"}),
        )
    handle = rig.handler(aggregator.base_url, **NO_LINK_CACHE)

    answer, elapsed = batch(handle, IDS, budget=3.0)

    errors = {e["task_id"]: e["error"] for e in answer["results"] if "error" in e}
    assert set(errors) == set(throttled)
    assert {(e["code"], e["type"]) for e in errors.values()} == {("rate_limited", "UpstreamRateLimitedError")}
    assert answer["ok"] == len(IDS) - len(throttled)
    assert elapsed < 3.0
