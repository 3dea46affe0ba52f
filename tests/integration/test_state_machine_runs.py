"""The state machine, executed by a real ASL interpreter (aws-local-stepfunctions, in Node.js), its
Lambda tasks routed to the real handler (``local.lambda_bridge``) with the aggregator simulator and
moto's Secrets Manager behind it.

The definition is the one the template deploys (``statemachine/get_video.asl.json`` with the
template's default substitutions); only the pauses of its ``Retry`` fields are scaled down to a few
milliseconds, so a poll loop sized for generations of many minutes runs in well under a second.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from types import ModuleType
from typing import Any, Final

import pytest

from local.aggregator import Aggregator, FakeTask, Reply
from local.lambda_bridge import LambdaBridge
from tests.asl import EXAMPLE_FUNCTION_ARN, count, execute, failures, substitute, template_substitutions
from tests.integration.conftest import ArchiveRig, completed, completed_with_file

TASK: Final = "sfn-task-1"
DOWNLOAD: Final = f"/luma/generations/{TASK}/download_video_url"
TASK_PATH: Final = f"/luma/generations/{TASK}"
RETRY_MS: Final = {"GetVideoLink": 5, "ArchiveVideo": 5}
NOT_COMPLETED: Final = Reply(400, {"detail": {"reason": "task is not completed"}})
PROCESSING: Final = Reply(200, {"id": TASK, "state": "processing", "video": None})


@pytest.fixture
def bridge(function: ModuleType) -> Iterator[Callable[..., LambdaBridge]]:
    """Lambda's Invoke API in front of the handler (``function.lambda_handler``, or another wiring)."""
    started: list[LambdaBridge] = []

    def start(handle: Callable[[Any, Any], Any] | None = None) -> LambdaBridge:
        bridge = LambdaBridge(handle or function.lambda_handler).start()
        started.append(bridge)
        return bridge

    yield start
    for bridge in started:
        bridge.stop()


def run(bridge: LambdaBridge, execution_input: Any, **substitutions: object) -> dict[str, Any]:
    definition = substitute(template_substitutions(**substitutions))
    return execute(definition, execution_input, bridge.base_url, RETRY_MS)


def test_happy_path_outputs_the_link(bridge: Callable[..., LambdaBridge], aggregator: Aggregator) -> None:
    url = completed(aggregator, TASK)
    lambda_api = bridge()

    outcome = run(lambda_api, {"task_id": TASK, "requested_by": "nightly"})

    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["output"]["task_id"] == TASK
    assert outcome["output"]["url"] == url
    assert outcome["output"]["expires_at"].endswith("Z")
    # One invocation of this function, with the state's Payload as the event
    assert lambda_api.invocations == [(EXAMPLE_FUNCTION_ARN, {"task_id": TASK})]


def test_a_task_never_ready_ends_in_never_ready_after_every_poll(
    bridge: Callable[..., LambdaBridge], aggregator: Aggregator
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="processing")
    lambda_api = bridge()

    outcome = run(lambda_api, {"task_id": TASK}, VideoPollMaxAttempts=5)

    assert (outcome["status"], outcome["error"]) == ("FAILED", "VideoNotReadyError"), outcome
    assert count(outcome, "StateCaught", "GetVideoLink") == 1
    assert count(outcome, "StateEntered", "NeverReady") == 1
    assert len(lambda_api.invocations) == 1 + 5  # the first try and the parameter's polls


def test_a_failed_task_ends_in_generation_failed_with_the_reason(
    bridge: Callable[..., LambdaBridge], aggregator: Aggregator
) -> None:
    aggregator.tasks[TASK] = FakeTask(state="failed", failure_reason="prompt refused by moderation")
    lambda_api = bridge()

    outcome = run(lambda_api, {"task_id": TASK})

    assert (outcome["status"], outcome["error"]) == ("FAILED", "TaskFailedError"), outcome
    assert "prompt refused by moderation" in outcome["cause"]
    assert count(outcome, "StateEntered", "GenerationFailed") == 1
    assert len(lambda_api.invocations) == 1  # a failed generation is never retried


def test_an_unknown_task_ends_in_task_not_found(bridge: Callable[..., LambdaBridge]) -> None:
    outcome = run(bridge(), {"task_id": TASK})

    assert (outcome["status"], outcome["error"]) == ("FAILED", "TaskNotFoundError"), outcome
    assert count(outcome, "StateEntered", "TaskNotFound") == 1


def test_input_without_a_valid_task_id_ends_in_bad_input(bridge: Callable[..., LambdaBridge]) -> None:
    lambda_api = bridge()

    outcome = run(lambda_api, {"task_id": "no spaces allowed"})

    assert (outcome["status"], outcome["error"]) == ("FAILED", "InvalidRequestError"), outcome
    assert "InvalidTaskIdError" in outcome["cause"]
    assert count(outcome, "StateEntered", "BadInput") == 1


THROTTLED: Final = Reply(429, {"error": {"message": "rate limited"}}, headers={"Retry-After": "120"})


@pytest.mark.parametrize(
    ("scripts", "failed_with"),
    [
        # A task still processing for the first three polls: VideoNotReadyError, polled again
        ({DOWNLOAD: [NOT_COMPLETED] * 3, TASK_PATH: [PROCESSING] * 3}, ["VideoNotReadyError"] * 3),
        # An aggregator that throttles twice with a wait longer than an invocation has: each
        # invocation fails fast with UpstreamRateLimitedError, retried with backoff and jitter
        ({DOWNLOAD: [THROTTLED] * 2}, ["UpstreamRateLimitedError"] * 2),
    ],
    ids=["ready-after-three-polls", "throttled-aggregator"],
)
def test_a_task_that_succeeds_after_retries_outputs_its_link(
    bridge: Callable[..., LambdaBridge],
    aggregator: Aggregator,
    scripts: dict[str, list[Reply]],
    failed_with: list[str],
) -> None:
    url = completed(aggregator, TASK)
    for path, replies in scripts.items():
        aggregator.script(path, *replies)
    lambda_api = bridge()

    outcome = run(lambda_api, {"task_id": TASK})

    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["output"]["url"] == url
    assert failures(outcome, "GetVideoLink") == failed_with
    assert count(outcome, "StateRetried", "GetVideoLink") == len(failed_with)
    assert len(lambda_api.invocations) == len(failed_with) + 1


def test_with_archiving_on_the_execution_outputs_the_archived_copy(
    bridge: Callable[..., LambdaBridge], aggregator: Aggregator, archive_rig: ArchiveRig
) -> None:
    # Given the function with its archive on, and ArchiveEnabled=true in the definition
    completed_with_file(aggregator, TASK)
    lambda_api = bridge(archive_rig.handle)

    outcome = run(lambda_api, {"task_id": TASK}, ArchiveEnabled="true")

    assert outcome["status"] == "SUCCEEDED", outcome
    assert outcome["output"]["source"] == "archive"
    assert outcome["output"]["s3_uri"] == f"s3://{archive_rig.bucket}/{archive_rig.key(TASK)}"
    assert archive_rig.stored(TASK) is not None
    assert [event for _, event in lambda_api.invocations] == [
        {"task_id": TASK},
        {"task_id": TASK, "archive": True},
    ]


def test_with_archiving_on_but_no_archive_configured_the_execution_fails_clearly(
    bridge: Callable[..., LambdaBridge], aggregator: Aggregator
) -> None:
    completed(aggregator, TASK)

    outcome = run(bridge(), {"task_id": TASK}, ArchiveEnabled="true")

    assert (outcome["status"], outcome["error"]) == ("FAILED", "ArchiveDisabledError"), outcome
    assert "keeps no archive" in outcome["cause"]
