"""``make invoke-local`` (``python -m local.invoke``) end to end: a subprocess per invoke, each with the
demo stack ``make run`` uses (moto, the aggregator simulator, the archive bucket and queue).

stdout must be the answer's JSON alone; an error raised by the function is what Lambda reports,
``{"errorType", "errorMessage", "requestId"}``, with exit code 1.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from local.aggregator import Aggregator, FakeTask
from local.demo import DEMO_TASKS, EVENT_TASKS
from tests.conftest import EVENT_TASK_ID, EVENTS_DIR
from tests.e2e.conftest import REPO, clean_env

pytestmark = pytest.mark.timeout(120)

RUN_STAMP = ".venv/.installed-run"  # the Makefile's: assumed current, so these tests never install
COMPLETED = next(t.task_id for t in DEMO_TASKS if t.label == "completed")
LINK_KEYS = {"task_id", "url", "expires_at", "source"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def invoke(
    *args: str,
    command: tuple[str, ...] = (sys.executable, "-m", "local.invoke"),
    env: dict[str, str] | None = None,
) -> tuple[int, Any, str]:
    """Run the command; its exit code, its stdout parsed as JSON (None if empty) and its stderr."""
    done = subprocess.run(
        [*command, *args],
        cwd=REPO,
        env={k: v for k, v in clean_env(**(env or {})).items() if not k.startswith(("MAKE", "MFLAGS"))},
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    return done.returncode, json.loads(done.stdout) if done.stdout.strip() else None, done.stderr


def test_a_demo_label_gives_the_completed_task_link() -> None:
    code, answer, stderr = invoke("--task-id", "completed")

    assert code == 0, stderr
    assert set(answer) == LINK_KEYS
    assert answer["task_id"] == COMPLETED
    assert answer["source"] == "aggregator"
    assert "X-Amz-Expires=3600" in answer["url"]
    assert '"request done"' in stderr, "the function's log lines go to stderr"


def test_an_events_file_direct_invoke_answers_for_the_events_task_id() -> None:
    code, answer, stderr = invoke("events/direct_invoke.json")

    assert code == 0, stderr
    assert set(answer) == LINK_KEYS
    assert answer["task_id"] == EVENT_TASK_ID


def test_the_events_batch_answers_each_id_as_the_readme_says() -> None:
    code, answer, stderr = invoke("events/batch_direct_invoke.json")

    assert code == 0, stderr
    assert (answer["count"], answer["ok"], answer["failed"]) == (3, 2, 1)
    assert [entry.get("error", {}).get("type") for entry in answer["results"]] == [
        None,
        "VideoNotReadyError",
        None,
    ]


def test_a_bad_task_id_prints_the_typed_error_and_exits_1() -> None:
    code, answer, stderr = invoke('{"task_id": "bad..id"}')

    assert code == 1
    assert answer["errorType"] == "InvalidTaskIdError"
    assert answer["errorMessage"].startswith("task_id must be")
    assert answer["requestId"]
    assert "Traceback" not in stderr, "the error contract is not a crash"


def test_a_failed_task_is_task_failed_error() -> None:
    code, answer, _ = invoke("--task-id", "failed")
    assert code == 1
    assert answer["errorType"] == "TaskFailedError"


def test_archive_true_copies_into_the_embedded_bucket() -> None:
    code, answer, stderr = invoke("--task-id", "completed", "--archive")

    assert code == 0, stderr
    assert answer["source"] == "archive"
    assert answer["s3_uri"] == f"s3://luma-demo-archive/luma/{COMPLETED}.mp4"
    assert answer["size"] > 0


def test_an_http_api_event_gets_the_api_gateway_answer() -> None:
    code, answer, stderr = invoke("events/http_api_get.json")

    assert code == 0, stderr
    assert answer["statusCode"] == 302
    assert answer["headers"]["Location"].startswith("http://127.0.0.1:")


@pytest.mark.parametrize(
    ("args", "said"),
    [((), "--task-id"), (("events/no-such-file.json",), "cannot read"), (("{not json",), "not JSON")],
    ids=["nothing", "no-file", "not-json"],
)
def test_an_unusable_request_exits_2_and_says_why(args: tuple[str, ...], said: str) -> None:
    code, answer, stderr = invoke(*args)
    assert code == 2
    assert answer is None
    assert said in stderr


def test_make_invoke_local_prints_only_the_answer() -> None:
    """Through make, as the README shows it: the recipe is not echoed, so stdout parses as JSON."""
    make = (
        "make",
        "--no-print-directory",
        f"--assume-old={RUN_STAMP}",
        f"PY={sys.executable}",
        "invoke-local",
    )
    code, answer, stderr = invoke("TASK_ID=completed processing", command=make)

    assert code == 0, stderr
    assert answer["count"] == 2
    assert answer["results"][0]["task_id"] == COMPLETED


def test_a_real_aggregator_mode_invokes_it_with_the_token_from_the_environment() -> None:
    """``UPSTREAM_BASE_URL`` and ``UPSTREAM_TOKEN``, as for ``make run``: no demo, the token in an
    embedded Secrets Manager, the aggregator (a simulator started here) asked with it."""
    token, video = "tok_e2e_invoke_7Qm2", "http://127.0.0.1:9/videos/real.mp4?X-Amz-Expires=600"
    aggregator = Aggregator(tokens=(token,)).start()
    try:
        aggregator.tasks[EVENT_TASK_ID] = FakeTask(state="completed", url=video)
        env = {"UPSTREAM_BASE_URL": aggregator.base_url, "UPSTREAM_TOKEN": token}

        code, answer, stderr = invoke("--task-id", EVENT_TASK_ID, env=env)

        assert code == 0, stderr
        assert answer["url"] == video
        assert [r.authorization for r in aggregator.requests_for(EVENT_TASK_ID)] == [f"Bearer {token}"]
        assert token not in stderr
    finally:
        aggregator.stop()


def test_every_task_id_in_events_is_known_to_the_demo() -> None:
    """``make invoke-local EVENT=...`` sends events/ files to the demo: their ids must be its tasks."""
    known = {task.task_id for task in DEMO_TASKS + EVENT_TASKS}
    for path in sorted(Path(EVENTS_DIR).glob("*.json")):
        text = re.sub(r'"messageId": "[^"]*"', "", path.read_text())  # SQS's own id, not a task's
        unknown = set(UUID.findall(text)) - known
        assert not unknown, f"{path.name}: {unknown}"
