"""A faulty Secrets Manager: down, hanging, dripping, throttling, failing, deleted, wrong shapes, rotated.

The function reads the token through its own ``SecretsProvider`` (``handler.secrets_provider()``),
aimed at ``local.faulty_aws`` with ``AWS_ENDPOINT_URL_SECRETS_MANAGER``; unscripted reads go on to moto,
which holds ``TOKEN``. The aggregator is the well-behaved simulator, so every fault here is the secret's.
Each row: the faults, then status, ``error.code``, aggregator calls, and how many ``GetSecretValue``
the endpoint may see (a range where the SDK's own retries decide: four attempts at most).
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

import pytest

from local.aggregator import Aggregator
from local.faulty_aws import INTERNAL_ERROR, NOT_FOUND, THROTTLED, Fault, dripping, secret_answer
from local.hostile import HANG, Answer, Reset, reply
from tests.faults.conftest import (
    DOWNLOAD_PATH,
    DRIP_INTERVAL,
    GOOD_URL,
    ROTATED_TOKEN,
    SECRET_ID,
    SHORT_BUDGET,
    TASK,
    TOKEN,
    Handle,
    Rig,
    check,
    link_reply,
)
from tests.integration.conftest import completed

pytestmark = pytest.mark.timeout(30)

NO_LINK_CACHE = {"URL_CACHE_MAX_ENTRIES": "0"}  # every invocation asks the aggregator, so needs the token
# The function's boto3 client retries 3 times (botocore's max_attempts counts retries): 4 attempts at most.
SDK_ATTEMPTS = range(1, 5)
# Secrets Manager refusing connections: the SDK's backoff alone may take 1 + 2 + 4 s today.
DOWN_BUDGET = 8.0
RESET_CRASH = "a Secrets Manager connection reset escapes as AttributeError: 500 internal_error"


def token_secret(value: object) -> Answer:
    return secret_answer(SECRET_ID, string=value)


def warm(rig: Rig) -> tuple[Aggregator, Handle]:
    """Given a warm function (link cache off) that has read TOKEN and used it once."""
    aggregator = rig.simulator(TOKEN)
    completed(aggregator, TASK, GOOD_URL)
    handle = rig.handler(aggregator.base_url, **NO_LINK_CACHE)
    assert rig.invoke(handle, budget=3).status == 302
    return aggregator, handle


def rotate(rig: Rig, aggregator: Aggregator) -> None:
    """When the operator rotates the secret and the old token stops working."""
    rig.moto.put_token(SECRET_ID, ROTATED_TOKEN)
    aggregator.valid_tokens = {ROTATED_TOKEN}


@dataclass(frozen=True)
class SecretCase:
    faults: tuple[Fault, ...]
    status: int
    code: str | None
    aggregator_calls: int
    reads: range
    budget: float = 3.0
    down: bool = False  # Secrets Manager unreachable: connections refused


COLD_START = [
    pytest.param(SecretCase((), 302, None, 1, range(1, 2)), id="healthy"),
    pytest.param(
        SecretCase((), 503, "upstream_unavailable", 0, range(0, 1), budget=DOWN_BUDGET, down=True), id="down"
    ),
    pytest.param(
        SecretCase((HANG,), 504, "upstream_timeout", 0, SDK_ATTEMPTS, budget=SHORT_BUDGET),
        id="hanging",
    ),
    pytest.param(
        SecretCase(
            (dripping(token_secret(json.dumps({"token": TOKEN})), DRIP_INTERVAL),) * 4,
            504,
            "upstream_timeout",
            0,
            SDK_ATTEMPTS,
            budget=SHORT_BUDGET,
        ),
        id="dripping",
    ),
    # Every attempt fails: the SDK's retries must also stop at the deadline (defect 2).
    pytest.param(
        SecretCase((THROTTLED,) * 4, 503, "upstream_unavailable", 0, SDK_ATTEMPTS),
        id="throttling",
    ),
    pytest.param(
        SecretCase(((Reset(),),) * 4, 503, "upstream_unavailable", 0, SDK_ATTEMPTS),
        id="connection-reset",
    ),
    # One failed attempt: the SDK's own retry gets the secret.
    pytest.param(SecretCase((THROTTLED,), 302, None, 1, range(2, 3), budget=5), id="throttled-once"),
    pytest.param(
        SecretCase((INTERNAL_ERROR,), 302, None, 1, range(2, 3), budget=5), id="internal-error-once"
    ),
    pytest.param(SecretCase(((Reset(),),), 302, None, 1, range(2, 3), budget=5), id="reset-once"),
    pytest.param(SecretCase((NOT_FOUND,), 500, "misconfigured", 0, range(1, 2)), id="not-found"),
    pytest.param(
        SecretCase((token_secret(json.dumps({"api_key": TOKEN})),), 500, "misconfigured", 0, range(1, 2)),
        id="shape-json-without-field",
    ),
    pytest.param(
        SecretCase((token_secret("{not json"),), 500, "misconfigured", 0, range(1, 2)), id="shape-broken-json"
    ),
    pytest.param(
        SecretCase((token_secret(f"{TOKEN} extra"),), 500, "misconfigured", 0, range(1, 2)),
        id="shape-token-with-space",
    ),
    pytest.param(SecretCase((token_secret(42),), 500, "misconfigured", 0, range(1, 2)), id="shape-number"),
    pytest.param(
        SecretCase(
            (secret_answer(SECRET_ID, binary=base64.b64encode(b"\xff\xfe\x00").decode()),),
            500,
            "misconfigured",
            0,
            range(1, 2),
        ),
        id="shape-binary-not-utf8",
    ),
    pytest.param(
        SecretCase((secret_answer(SECRET_ID),), 500, "misconfigured", 0, range(1, 2)), id="shape-no-value"
    ),
    pytest.param(
        SecretCase((reply(200, b"<html>captive portal</html>"),), 500, "misconfigured", 0, range(1, 2)),
        id="shape-not-json",
    ),
]


@pytest.mark.parametrize("case", COLD_START)
def test_secret_faults_on_a_cold_start(rig: Rig, case: SecretCase) -> None:
    aggregator = rig.simulator(TOKEN)
    completed(aggregator, TASK, GOOD_URL)
    handle = rig.handler(aggregator.base_url)
    rig.aws.script(*case.faults)
    if case.down:
        rig.aws.go_down()

    outcome = rig.invoke(handle, budget=case.budget)

    check(outcome, case.status, case.code, len(aggregator.requests), case.aggregator_calls)
    assert len(rig.aws.reads) in case.reads, rig.aws.reads


WARM = [
    # (faults, aggregator still accepts the cached token, expected ...)
    pytest.param(
        SecretCase((), 302, None, 2, range(1, 2), down=True), True, id="down-serves-the-cached-token"
    ),
    pytest.param(
        SecretCase((HANG,), 504, "upstream_timeout", 2, range(2, 6), budget=SHORT_BUDGET),
        False,
        id="hanging-on-the-forced-re-read",
    ),
    pytest.param(
        SecretCase((INTERNAL_ERROR,) * 4, 503, "upstream_unavailable", 2, range(2, 6)),
        False,
        id="internal-error-on-the-forced-re-read",
    ),
    pytest.param(
        SecretCase((NOT_FOUND,), 500, "misconfigured", 2, range(2, 3)),
        False,
        id="deleted-before-the-forced-re-read",
    ),
]


@pytest.mark.parametrize(("case", "token_still_accepted"), WARM)
def test_secret_faults_after_warm_up(rig: Rig, case: SecretCase, token_still_accepted: bool) -> None:
    aggregator, handle = warm(rig)
    # When Secrets Manager fails (and, maybe, the aggregator stops accepting the cached token)
    rig.aws.script(*case.faults)
    if case.down:
        rig.aws.go_down()
    if not token_still_accepted:
        aggregator.valid_tokens = {ROTATED_TOKEN}

    outcome = rig.invoke(handle, budget=case.budget)

    check(outcome, case.status, case.code, len(aggregator.requests), case.aggregator_calls)
    assert len(rig.aws.reads) in case.reads, rig.aws.reads


def test_a_hanging_read_when_the_cached_token_ages_out_is_bounded(rig: Rig) -> None:
    # Given a warm function (token cache 1 s) that used its cached token half-way through that second
    aggregator = rig.simulator(TOKEN)
    completed(aggregator, TASK, GOOD_URL)
    handle = rig.handler(aggregator.base_url, TOKEN_CACHE_SECONDS="1", **NO_LINK_CACHE)
    assert rig.invoke(handle, budget=3).status == 302
    time.sleep(0.6)
    assert rig.invoke(handle, budget=3).status == 302
    # When the read it cached has aged out, and Secrets Manager now hangs
    time.sleep(0.6)
    rig.aws.script(HANG)

    outcome = rig.invoke(handle, budget=SHORT_BUDGET)

    # Then the re-read is waited for only until the deadline (not the SDK's timeouts), and the
    # aggregator is not asked with a token that is no longer known to be current
    check(outcome, 504, "upstream_timeout", len(aggregator.requests), 2)
    assert len(rig.aws.reads) >= 2, rig.aws.reads


def test_a_rotated_secret_is_picked_up(rig: Rig) -> None:
    aggregator, handle = warm(rig)
    rotate(rig, aggregator)

    outcome = rig.invoke(handle, budget=3)

    # Then the 401 makes it re-read the secret (from moto, through the faulty endpoint) and retry once
    check(outcome, 302, None, len(aggregator.requests), 3)
    assert [r.authorization for r in aggregator.requests] == [
        f"Bearer {TOKEN}",
        f"Bearer {TOKEN}",
        f"Bearer {ROTATED_TOKEN}",
    ]
    assert rig.aws.reads == [SECRET_ID, SECRET_ID]


@pytest.mark.parametrize("force", [True, False], ids=["deleted", "scheduled-for-deletion"])
def test_a_deleted_secret_is_misconfigured(rig: Rig, force: bool) -> None:
    # Given a secret of its own, really deleted in moto (at once, or with a recovery window)
    secret_id = f"luma/faults-doomed-{force}"
    rig.moto.put_token(secret_id, TOKEN)
    moto = rig.moto.client("secretsmanager")
    if force:
        moto.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)
    else:
        moto.delete_secret(SecretId=secret_id, RecoveryWindowInDays=7)
    aggregator = rig.simulator(TOKEN)
    completed(aggregator, TASK, GOOD_URL)
    try:
        outcome = rig.invoke(rig.handler(aggregator.base_url, TOKEN_SECRET_ID=secret_id), budget=3)
    finally:
        if not force:
            moto.restore_secret(SecretId=secret_id)
            moto.delete_secret(SecretId=secret_id, ForceDeleteWithoutRecovery=True)

    check(outcome, 500, "misconfigured", len(aggregator.requests), 0)
    assert rig.aws.reads == [secret_id]


def test_a_storm_of_403s_reads_the_secret_at_most_twice(rig: Rig) -> None:
    # Given an aggregator that refuses the token the secret holds, even fresh from the secret
    server = rig.hostile({DOWNLOAD_PATH: [reply(403, b'{"error": {"message": "quota exhausted"}}')]})
    handle = rig.handler(server.base_url)

    outcomes = [rig.invoke(handle, budget=3) for _ in range(50)]

    assert {(o.status, o.code, o.in_time) for o in outcomes} == {(502, "bad_upstream", True)}
    assert server.calls() == 50  # the token never changed, so there was no retry with it
    # the first read, and one forced re-read; the other 49 rejections reuse what it found
    assert 1 <= len(rig.aws.reads) <= 2, f"{len(rig.aws.reads)} GetSecretValue calls"


def test_a_link_holding_a_rotated_out_token_is_refused(rig: Rig) -> None:
    # Given a container that has used TOKEN, then picked up ROTATED_TOKEN after a 401
    aggregator, handle = warm(rig)
    rotate(rig, aggregator)
    assert rig.invoke(handle, budget=3).status == 302
    # When the aggregator's link carries the old token
    completed(aggregator, TASK, f"{GOOD_URL}&previous={TOKEN}")

    outcome = rig.invoke(handle, budget=3)

    check(outcome, 502, "bad_upstream", len(aggregator.requests), 4)
    assert TOKEN not in outcome.text


def test_every_uncached_read_reaches_the_faulty_endpoint(rig: Rig) -> None:
    # The 403-storm count above is only as good as the endpoint's: 3 invocations, 3 reads when uncached.
    server = rig.hostile({DOWNLOAD_PATH: [link_reply(GOOD_URL)]})
    handle = rig.handler(server.base_url, TOKEN_CACHE_SECONDS="0", **NO_LINK_CACHE)

    outcomes = [rig.invoke(handle, budget=3) for _ in range(3)]

    assert [(o.status, o.in_time) for o in outcomes] == [(302, True)] * 3
    assert (server.calls(), len(rig.aws.reads)) == (3, 3)
