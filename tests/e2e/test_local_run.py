"""``make run`` end to end: the real entry point as a subprocess, plain HTTP from outside.

The demo tests share one process (module fixture ``local_run``) and run in file order; the last one
stops it with SIGINT. The real-mode tests start their own process against an aggregator simulator
and a moto server started here, standing in for the real aggregator and the real Secrets Manager.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pytest

from local.aggregator import Aggregator, FakeTask
from local.aws import start_embedded_aws
from local.demo import DEMO_TASKS, DEMO_TOKEN
from local.run import LISTENING_PREFIX, STOP_LINE_PREFIX
from tests.e2e.conftest import EXIT_TIMEOUT_S, Answer, LocalRunProcess, clean_env, request

REPO = Path(__file__).resolve().parents[2]
DEMO_MP4 = REPO / "local" / "assets" / "demo.mp4"
MAX_AGE = re.compile(r"^private, max-age=(\d+)$")
# A live SigV4 signature value (the function's logs show REDACTED instead).
SIGNATURE = re.compile(r"X-Amz-Signature=[0-9a-f]{16}", re.IGNORECASE)

pytestmark = pytest.mark.timeout(120)


def error_code(answer: Answer) -> str:
    assert answer.header("Content-Type") == "application/json", answer
    return str(json.loads(answer.body)["error"]["code"])


def refused(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
    except OSError:
        return True
    return False


def test_ready_lines_list_the_three_demo_tasks(local_run: LocalRunProcess) -> None:
    assert local_run.port > 0
    assert list(local_run.task_urls) == ["completed", "processing", "failed"], "completed first"
    for task in DEMO_TASKS:
        assert local_run.task_urls[task.label] == (
            f"{local_run.base_url}/luma/generations/{task.task_id}/download_video_url"
        )
    assert "?format=json" in local_run.stdout
    assert "Ctrl-C" in local_run.stdout


def test_completed_task_redirects_to_the_mp4_in_embedded_s3(local_run: LocalRunProcess) -> None:
    answer = request(local_run.task_urls["completed"])

    assert answer.status == 302, answer
    location = answer.header("Location")
    assert location is not None
    parts = urlsplit(location)
    assert parts.scheme == "https" or (parts.scheme == "http" and parts.hostname == "127.0.0.1")
    query = parse_qs(parts.query)
    assert query["X-Amz-Expires"] == ["3600"]
    assert query["X-Amz-Algorithm"] == ["AWS4-HMAC-SHA256"]
    cache_control = answer.header("Cache-Control") or ""
    assert MAX_AGE.match(cache_control), cache_control
    assert answer.header("apigw-requestid")

    video = request(location)
    assert video.status == 200
    assert video.header("Content-Type") == "video/mp4"
    assert video.body[4:8] == b"ftyp"
    assert video.body == DEMO_MP4.read_bytes()

    # Browsers fetch media with Range requests and need 206 (moto's S3 answers them).
    part = request(location, headers={"Range": "bytes=4-7"})
    assert part.status == 206
    assert part.body == b"ftyp"


def test_head_redirects_without_a_body(local_run: LocalRunProcess) -> None:
    answer = request(local_run.task_urls["completed"], method="HEAD")
    assert answer.status == 302
    assert answer.header("Location")
    assert answer.body == b""


def test_processing_task_is_409_with_retry_after(local_run: LocalRunProcess) -> None:
    answer = request(local_run.task_urls["processing"])
    assert answer.status == 409
    assert (answer.header("Retry-After") or "").isdigit()
    assert error_code(answer) == "video_not_ready"


def test_failed_task_is_410(local_run: LocalRunProcess) -> None:
    answer = request(local_run.task_urls["failed"])
    assert answer.status == 410
    assert error_code(answer) == "task_failed"


def test_bad_task_id_is_400(local_run: LocalRunProcess) -> None:
    answer = request(f"{local_run.base_url}/luma/generations/bad..id/download_video_url")
    assert answer.status == 400
    assert error_code(answer) == "invalid_task_id"
    body = json.loads(answer.body)
    assert body["error"]["request_id"] == answer.header("apigw-requestid")


def test_crlf_task_id_is_400(local_run: LocalRunProcess) -> None:
    answer = request(f"{local_run.base_url}/luma/generations/%0d%0a/download_video_url")
    assert answer.status == 400
    assert error_code(answer) == "invalid_task_id"


def test_crlf_task_id_never_reaches_a_header_or_a_redirect(local_run: LocalRunProcess) -> None:
    task_id = quote("x\r\nSet-Cookie: a=b")
    answer = request(f"{local_run.base_url}/luma/generations/{task_id}/download_video_url")
    assert 400 <= answer.status < 500
    assert answer.header("Location") is None
    assert answer.header("Set-Cookie") is None


def test_format_json_gives_the_link_document(local_run: LocalRunProcess) -> None:
    answer = request(local_run.task_urls["completed"] + "?format=json")
    assert answer.status == 200
    document = json.loads(answer.body)
    assert set(document) == {"task_id", "url", "expires_at", "source"}
    assert local_run.task_urls["completed"].split("/")[-2] == document["task_id"]
    assert "X-Amz-Expires=3600" in document["url"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["expires_at"])


def test_unknown_route_gets_the_function_404(local_run: LocalRunProcess) -> None:
    answer = request(f"{local_run.base_url}/nope")
    assert answer.status == 404
    assert error_code(answer) == "not_found"


def test_concurrent_requests_all_get_answers(local_run: LocalRunProcess) -> None:
    urls = [local_run.task_urls[label] for label in ("completed", "processing", "failed", "completed")] * 4
    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(lambda url: request(url).status, urls, timeout=60))
    assert statuses == [302, 409, 410, 302] * 4


def test_access_lines_have_no_query_strings(local_run: LocalRunProcess) -> None:
    request(local_run.task_urls["completed"] + "?format=json&X-Amz-Signature=0123456789abcdef0123")
    access = [line for line in local_run.stderr_lines if line.startswith("local-api ")]
    assert any(" 302 " in line and "/download_video_url" in line for line in access), access
    assert all("?" not in line for line in access), access


def test_sigint_stops_everything_cleanly(local_run: LocalRunProcess) -> None:
    """Runs last in this module: it stops the shared process."""
    completed = request(local_run.task_urls["completed"], headers={"Accept": "application/json"})
    moto_port = urlsplit(json.loads(completed.body)["url"]).port
    assert moto_port is not None

    assert local_run.signal(signal.SIGINT) == 0

    assert refused(local_run.port)
    assert refused(moto_port)
    output = local_run.stdout + "\n" + local_run.stderr
    assert "Stopped." in local_run.stdout
    assert DEMO_TOKEN not in output
    assert not SIGNATURE.search(local_run.stderr), "a live presigned signature was logged"
    assert "Traceback" not in local_run.stderr


# -- real modes: a stand-in aggregator and Secrets Manager, started here --------------------------

REAL_TOKEN = "tok_live_3c9Zq8LmN2vX7pR4"  # made up: the point is that it is never printed
REAL_TASK = "0b8f2d6e-1c4a-4f9e-8b3d-7a5e2c1f9d60"
VIDEO_URL = "http://127.0.0.1:9/videos/0b8f2d6e.mp4?X-Amz-Date=20261124T120000Z&X-Amz-Expires=600"


@pytest.fixture
def aggregator() -> Iterator[Aggregator]:
    agg = Aggregator(tokens=(REAL_TOKEN,)).start()
    agg.tasks[REAL_TASK] = FakeTask(state="completed", url=VIDEO_URL)
    try:
        yield agg
    finally:
        agg.stop()


@contextmanager
def run_until_ready(env: dict[str, str]) -> Iterator[LocalRunProcess]:
    run = LocalRunProcess(env)
    try:
        yield run.wait_ready()
    finally:
        run.kill()


def test_upstream_token_mode_keeps_the_token_in_embedded_secrets_manager(aggregator: Aggregator) -> None:
    env = clean_env(UPSTREAM_BASE_URL=aggregator.base_url, UPSTREAM_TOKEN=REAL_TOKEN)
    with run_until_ready(env) as run:
        assert run.task_urls == {}
        assert "embedded Secrets Manager" in run.stdout
        answer = request(f"{run.base_url}/luma/generations/{REAL_TASK}/download_video_url")
        assert answer.status == 302
        assert answer.header("Location") == VIDEO_URL
        assert run.signal(signal.SIGTERM) == 0
        assert REAL_TOKEN not in run.stdout + run.stderr
    assert [r.authorization for r in aggregator.requests_for(REAL_TASK)] == [f"Bearer {REAL_TOKEN}"]


def test_secrets_manager_mode_starts_nothing_embedded(aggregator: Aggregator) -> None:
    aws = start_embedded_aws()  # stands in for the real Secrets Manager of an AWS account
    try:
        aws.put_token("e2e/real-mode-token", REAL_TOKEN)
        env = clean_env(
            UPSTREAM_BASE_URL=aggregator.base_url,
            TOKEN_SECRET_ID="e2e/real-mode-token",
            **aws.environment(),
        )
        with run_until_ready(env) as run:
            assert "real Secrets Manager" in run.stdout
            assert "moto" not in run.stdout
            answer = request(f"{run.base_url}/luma/generations/{REAL_TASK}/download_video_url")
            assert answer.status == 302
            assert answer.header("Location") == VIDEO_URL
            assert run.signal(signal.SIGINT) == 0
            assert REAL_TOKEN not in run.stdout + run.stderr
    finally:
        aws.stop()


def test_upstream_without_a_token_source_exits_2() -> None:
    run = LocalRunProcess(clean_env(UPSTREAM_BASE_URL="https://api.example.com"))
    try:
        assert run.proc.wait(timeout=60) == 2
        run.signal()
        assert "TOKEN_SECRET_ID" in run.stderr and "UPSTREAM_TOKEN" in run.stderr
    finally:
        run.kill()


# -- stopping under a burst of signals, and refusing a bad configuration --------------------------

# Real-aggregator mode with nothing embedded starts in about half a second; a stop signal is handled
# the same way in every mode.
QUICK_ENV = {
    "UPSTREAM_BASE_URL": "http://127.0.0.1:9",
    "TOKEN_SECRET_ID": "e2e/never-read",
    "AWS_DEFAULT_REGION": "us-east-1",
}
BURST_SIGNALS = 50_000
BURST_TIGHT = 500
BURST_SECONDS = 5.0
BURST_RUNS = 3


def burst_of_stop_signals(proc: subprocess.Popen[str]) -> int:
    """SIGTERM and SIGINT alternately until the process has exited (or the burst's bounds); returns
    how many were sent. The first ones back to back, so that signals land while the previous one is
    being handled; then yielding the CPU between two, so that they keep landing all through the stop
    and after ``main`` has returned."""
    deadline = time.monotonic() + BURST_SECONDS
    for sent in range(BURST_SIGNALS):
        if time.monotonic() > deadline or proc.poll() is not None:
            return sent
        proc.send_signal(signal.SIGTERM if sent % 2 else signal.SIGINT)
        if sent >= BURST_TIGHT:
            time.sleep(0)
    return BURST_SIGNALS


def test_a_burst_of_stop_signals_always_exits_0() -> None:
    """Given a ready local run, when SIGTERM and SIGINT arrive in a burst, then it stops and exits 0
    promptly, every time. Before the fix, a handler calling ``Event.set()`` deadlocked on the Event's
    lock (about 1 run in 12 here), and signals landing after ``main`` returned killed the process
    with the signal instead of exit code 0 (most other runs)."""
    for attempt in range(BURST_RUNS):
        run = LocalRunProcess(clean_env(**QUICK_ENV))
        try:
            run.wait_ready()
            sent = burst_of_stop_signals(run.proc)
            assert sent > 1, "the process was gone after the first signal"
            assert run.signal(signal.SIGTERM) == 0, f"run {attempt}: {run.stderr[-2000:]}"
            assert "Stopped." in run.stdout
            assert refused(run.port)
        finally:
            run.kill()


@pytest.mark.parametrize(
    ("env", "named"),
    [
        # Demo mode, with a value the template used to accept (it had no MaxValue).
        ({"TOKEN_CACHE_SECONDS": "86401"}, "TOKEN_CACHE_SECONDS"),
        ({**QUICK_ENV, "UPSTREAM_READ_TIMEOUT": "soon"}, "UPSTREAM_READ_TIMEOUT"),
        ({**QUICK_ENV, "UPSTREAM_BASE_URL": "http://api.example.com"}, "UPSTREAM_BASE_URL"),
        (
            {**QUICK_ENV, "AWS_DEFAULT_REGION": "", "AWS_CONFIG_FILE": "/nonexistent"},
            "AWS_REGION",
        ),
    ],
    ids=["demo-token-cache", "read-timeout", "plain-http", "no-region"],
)
def test_a_bad_setting_refuses_to_start_and_names_it(env: dict[str, str], named: str) -> None:
    """Given a setting the function would refuse, when ``make run`` starts, then it exits 2 before
    listening and says which variable is wrong (it used to start and answer 500 to everything)."""
    run = LocalRunProcess(clean_env(**env))
    try:
        assert run.proc.wait(timeout=60) == 2
        run.signal()
        assert named in run.stderr
        assert "bad configuration" in run.stderr or "no AWS region" in run.stderr
        assert not any(line.startswith(LISTENING_PREFIX) for line in run.stdout_lines)
        assert "Traceback" not in run.stderr
    finally:
        run.kill()


# -- make run itself: which process to signal (docs/local-run.md, "Stopping") ----------------------

RUN_STAMP = ".venv/.installed-run"  # the Makefile's: assumed current, so these tests never install
STOP_PID = re.compile(r"kill -TERM (\d+)")


def make_run() -> LocalRunProcess:
    """``make run`` as a user starts it (the recipe runs this interpreter), on a free port."""
    env = {k: v for k, v in clean_env().items() if not k.startswith(("MAKE", "MFLAGS"))}
    command = ["make", "--no-print-directory", f"--assume-old={RUN_STAMP}", f"PY={sys.executable}", "run"]
    return LocalRunProcess(env, command)


def stop_line_pid(run: LocalRunProcess) -> int:
    stop_line = next(line for line in run.stdout_lines if line.startswith(STOP_LINE_PREFIX))
    match = STOP_PID.search(stop_line)
    assert match, stop_line
    return int(match[1])


def gone(pid: int) -> bool:
    """No such process, or only its exit status left (a zombie)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def stop_server(pid: int) -> None:
    """SIGTERM, then SIGKILL if it is still there after a bounded wait: a server orphaned by a make
    that died first would otherwise keep running, holding the pipes the output pumps read."""
    for signum in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signum)
        deadline = time.monotonic() + EXIT_TIMEOUT_S
        while not gone(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if gone(pid):
            return


@contextmanager
def make_run_until_ready() -> Iterator[tuple[LocalRunProcess, int]]:
    run = make_run()
    server_pid = 0
    try:
        run.wait_ready()
        server_pid = stop_line_pid(run)
        yield run, server_pid
    finally:
        if server_pid:
            stop_server(server_pid)  # first: make passes no SIGINT on, so run.kill() alone can hang
        run.kill()


def test_term_to_the_pid_on_the_stop_line_ends_make_run_with_0() -> None:
    """Given ``make run`` ready, when the PID its Stop line prints gets SIGTERM, then the server stops
    cleanly and make exits 0 with it (``$!`` after ``make run &`` is make's PID, not that one)."""
    with make_run_until_ready() as (run, server_pid):
        assert server_pid != run.proc.pid, "the Stop line names make, which a TERM ends with 143"

        os.kill(server_pid, signal.SIGTERM)

        run.proc.wait(timeout=EXIT_TIMEOUT_S)
        assert run.signal() == 0, run.stderr[-2000:]
        assert "Stopped." in run.stdout
        assert refused(run.port)


def test_term_to_make_still_stops_the_server_cleanly() -> None:
    """Given ``make run`` ready, when make itself gets SIGTERM, then it passes the TERM to the server,
    which stops cleanly (nothing left listening or running); make then dies of the TERM it got (a
    shell shows 143), as GNU make always does."""
    with make_run_until_ready() as (run, server_pid):
        code = run.signal(signal.SIGTERM)

        assert "Stopped." in run.stdout, run.stderr[-2000:]
        assert gone(server_pid)
        assert refused(run.port)
        assert code == -signal.SIGTERM
