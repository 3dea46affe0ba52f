"""``make smoke`` (tools/smoke.py) against the local API of ``make run`` and against servers that
answer wrongly: it passes only when every check really holds, and says what it checked.

The stack lookup reads a real CloudFormation stack's outputs from moto (server mode), reached the
standard way (``AWS_ENDPOINT_URL_CLOUDFORMATION``).
"""

from __future__ import annotations

import io
import json
import os
import socket
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import boto3
import pytest

from local.aws import FAKE_CREDENTIALS, REGION, start_embedded_aws
from local.run import DEMO_TASKS
from tests.e2e.conftest import LocalRunProcess
from tests.e2e.media_server import LoopbackServer, Response, running
from tools.smoke import MALFORMED_ID, ROUTE, TOKEN_VARIABLE, main

REPO = Path(__file__).resolve().parents[2]
COMPLETED = next(t.task_id for t in DEMO_TASKS if t.state == "completed")
PROCESSING = next(t.task_id for t in DEMO_TASKS if t.state == "processing")

pytestmark = pytest.mark.timeout(120)


def smoke(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = main(list(argv), out=out)
    return code, out.getvalue()


def test_make_smoke_passes_against_the_local_api(local_run: LocalRunProcess) -> None:
    """Given the local API and the demo's completed task, when ``make smoke`` runs, then it prints a
    PASS line per check (unknown id 404 JSON, malformed id 400 JSON, the 302, an MP4 behind it),
    never the presigned signature, and exits 0."""
    env = {k: v for k, v in os.environ.items() if k not in {"MAKEFLAGS", "MAKELEVEL", "MFLAGS"}}
    env.pop(TOKEN_VARIABLE, None)
    result = subprocess.run(
        ["make", "--no-print-directory", "smoke", f"API_URL={local_run.base_url}", f"TASK_ID={COMPLETED}"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert f"smoke: checking {local_run.base_url}" in lines
    passed = [line for line in lines if line.startswith("PASS  ")]
    assert [line.split(":")[0] for line in passed] == [
        "PASS  unknown task id",
        "PASS  malformed task id",
        f"PASS  task {COMPLETED}",
        "PASS  redirect target",
    ]
    assert " 404 task_not_found (JSON" in passed[0]
    assert " 400 invalid_task_id (JSON" in passed[1]
    assert f"302 to http://127.0.0.1:{local_run.port}" not in passed[2], "the target is S3, not the API"
    # The simulator's own link to the video, or (once archived) the copy's in the embedded S3
    assert f"/{COMPLETED}" in passed[2] and "?... (private, max-age=" in passed[2]
    assert "video/mp4" in passed[3] and "MP4 (ftyp box)" in passed[3]
    assert "X-Amz-Signature" not in result.stdout
    assert lines[-1] == "smoke: 4 of 4 checks passed"


def test_without_a_task_id_it_checks_the_errors_and_says_what_it_skipped(local_run: LocalRunProcess) -> None:
    code, output = smoke("--api-url", local_run.base_url)
    assert code == 0, output
    assert "skip  a real task: TASK_ID=<a completed task id>" in output
    assert output.splitlines()[-1] == "smoke: 2 of 2 checks passed"


def test_a_task_that_is_not_ready_fails(local_run: LocalRunProcess) -> None:
    """Given a task id that answers 409, then the redirect check fails with what it got, there is no
    video check, and the exit code is 1."""
    code, output = smoke("--api-url", local_run.base_url, "--task-id", PROCESSING)
    assert code == 1, output
    assert f"FAIL  task {PROCESSING}: expected 302 with Location, got 409" in output
    assert "redirect target" not in output
    assert output.splitlines()[-1] == "smoke: FAILED, 2 of 3 checks passed"


@pytest.fixture
def stack_api(local_run: LocalRunProcess, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A CloudFormation stack (in moto) whose ApiUrl output is the local API, and one without it;
    the AWS SDK pointed at that moto the standard way."""
    aws = start_embedded_aws()
    try:
        cloudformation = boto3.client(
            "cloudformation",
            region_name=REGION,
            endpoint_url=aws.endpoint,
            aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )
        for name, outputs in (
            ("luma-smoke", {"ApiUrl": {"Value": local_run.base_url}}),
            ("luma-no-api", {"Other": {"Value": "x"}}),
        ):
            template = {"Resources": {"Topic": {"Type": "AWS::SNS::Topic"}}, "Outputs": outputs}
            cloudformation.create_stack(StackName=name, TemplateBody=json.dumps(template))
        for variable, value in {**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": REGION}.items():
            monkeypatch.setenv(variable, value)
        monkeypatch.setenv("AWS_ENDPOINT_URL_CLOUDFORMATION", aws.endpoint)
        for variable in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_REGION", "AWS_ENDPOINT_URL"):
            monkeypatch.delenv(variable, raising=False)
        yield local_run.base_url
    finally:
        aws.stop()


def test_the_api_url_comes_from_the_stack_outputs(stack_api: str) -> None:
    """Given a stack name, then the API checked is the stack's ApiUrl output; given a stack that does
    not exist or has no ApiUrl, then it says so and exits 2 without checking anything."""
    code, output = smoke("--stack", "luma-smoke", "--task-id", COMPLETED)
    assert code == 0, output
    assert output.splitlines()[0] == f"smoke: checking {stack_api} (stack luma-smoke, output ApiUrl)"
    assert output.splitlines()[-1] == "smoke: 4 of 4 checks passed"

    code, output = smoke("--stack", "luma-missing")
    assert code == 2
    assert output.startswith("smoke: cannot read stack 'luma-missing'")
    assert "PASS" not in output and "FAIL" not in output

    code, output = smoke("--stack", "luma-no-api")
    assert (code, output) == (2, "smoke: stack 'luma-no-api' (CREATE_COMPLETE) has no ApiUrl output\n")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_nothing_listening_fails_every_check() -> None:
    code, output = smoke("--api-url", f"http://127.0.0.1:{closed_port()}", "--task-id", COMPLETED)
    assert code == 1
    fails = [line for line in output.splitlines() if line.startswith("FAIL  ")]
    assert len(fails) == 3
    assert all(": no answer (" in line for line in fails)
    assert output.splitlines()[-1] == "smoke: FAILED, 0 of 3 checks passed"


def test_a_server_answering_wrongly_fails_and_the_token_stays_with_the_api(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Given a server whose 404s and 400s are not the function's JSON and whose 302 leads to a web
    page, then those checks fail (the 302 itself passes) and the exit code is 1. Given
    SMOKE_BEARER_TOKEN, then the API requests carry it and the redirect target never sees it."""
    seen: dict[str, str | None] = {}

    def redirect(handler: BaseHTTPRequestHandler) -> Response:
        seen["api"] = handler.headers.get("Authorization")
        return Response(302, {"Location": server.url("/page"), "Cache-Control": "no-store"})

    def page(handler: BaseHTTPRequestHandler) -> Response:
        seen["target"] = handler.headers.get("Authorization")
        return Response(200, {"Content-Type": "text/html"}, b"<!doctype html><p>not a video</p>")

    server = LoopbackServer({ROUTE.format(task_id=COMPLETED): redirect, "/page": page})
    monkeypatch.setenv(TOKEN_VARIABLE, "eyJ.test.token")
    with running(server):
        code, output = smoke("--api-url", server.origin, "--task-id", COMPLETED)
    assert code == 1
    lines = output.splitlines()
    assert lines[1].startswith("FAIL  unknown task id: expected 404 JSON task_not_found, got 404 text/plain")
    assert lines[2].startswith("FAIL  malformed task id: expected 400 JSON invalid_task_id, got 404")
    assert lines[3].startswith(f"PASS  task {COMPLETED}: 302 to {server.origin}/page (no-store)")
    assert lines[4].startswith("FAIL  redirect target: expected a video, got 200 'text/html'")
    assert lines[-1] == "smoke: FAILED, 1 of 4 checks passed"
    assert seen == {"api": "Bearer eyJ.test.token", "target": None}
    assert [(r.path, r.range) for r in server.requests if r.path == "/page"] == [("/page", "bytes=0-1023")]
    assert MALFORMED_ID in [r.path.split("/")[3] for r in server.requests if r.path.startswith("/luma/")]
