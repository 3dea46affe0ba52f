"""``make smoke``: after a deploy, check that the live API answers as it should, and say what was checked.

Run as ``python -m tools.smoke (--stack NAME | --api-url URL) [--task-id ID] [--region REGION]``.
With ``--stack`` the API's URL is the stack's ``ApiUrl`` output (CloudFormation ``DescribeStacks``,
with the usual AWS credentials and region). The checks:

1. an unknown task id answers ``404`` JSON with ``error.code`` ``task_not_found`` (the function asks
   the aggregator once: this proves the token works);
2. a malformed task id answers ``400`` JSON with ``invalid_task_id`` (nothing reaches the aggregator);
3. with ``--task-id`` (a completed task of yours): ``302`` with a ``Location``, and that target
   answers ``200``/``206`` with a video (``Content-Type: video/*`` or an MP4 ``ftyp`` box; only the
   first KiB is fetched).

Each check prints one line; the exit code is 0 when all pass, 1 when one fails, 2 when the API's URL
cannot be found. With ``ApiAuth=JWT`` put a token in ``SMOKE_BEARER_TOKEN`` (never on the command
line); ``ApiAuth=AWS_IAM`` stacks answer 403 to these unsigned requests.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import IO, Any, Final
from urllib.parse import quote, urlsplit

import boto3
import urllib3
from botocore.exceptions import BotoCoreError, ClientError

ROUTE: Final = "/luma/generations/{task_id}/download_video_url"
MALFORMED_ID: Final = "not.a.task.id"  # '.' is outside the task id alphabet
VIDEO_PREFIX_BYTES: Final = 1024
TIMEOUT: Final = urllib3.Timeout(connect=5.0, read=20.0)
TOKEN_VARIABLE: Final = "SMOKE_BEARER_TOKEN"  # noqa: S105 (a variable's name)


class SmokeError(Exception):
    """The API to check cannot be found; the message says why."""


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str
    elapsed_ms: float = 0.0
    target: str | None = None  # the redirect check's Location, for the video check

    def line(self) -> str:
        timing = f"  ({self.elapsed_ms:.0f} ms)" if self.elapsed_ms else ""
        return f"{'PASS' if self.passed else 'FAIL'}  {self.name}: {self.detail}{timing}"


def api_url_from_stack(stack_name: str, region: str | None = None) -> str:
    """The stack's ``ApiUrl`` output."""
    try:
        cloudformation: Any = boto3.client("cloudformation", region_name=region)
        (stack,) = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except (BotoCoreError, ClientError) as exc:
        raise SmokeError(f"cannot read stack {stack_name!r}: {exc}") from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    if "ApiUrl" not in outputs:
        raise SmokeError(f"stack {stack_name!r} ({stack['StackStatus']}) has no ApiUrl output")
    return str(outputs["ApiUrl"])


def task_url(api_url: str, task_id: str) -> str:
    return api_url.rstrip("/") + ROUTE.format(task_id=quote(task_id, safe=""))


def _shown(url: str) -> str:
    """A URL without its query: a presigned one carries a signature."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}" + ("?..." if parts.query else "")


def _timed(fn: Callable[[], Check]) -> Check:
    started = time.perf_counter()
    check = fn()
    return replace(check, elapsed_ms=(time.perf_counter() - started) * 1000)


class Smoke:
    """The checks against one API base URL, each one an HTTP request (no redirect followed)."""

    def __init__(self, api_url: str, bearer_token: str | None = None) -> None:
        self.api_url = api_url
        self._http = urllib3.PoolManager(timeout=TIMEOUT, retries=False)
        self._auth = {"Authorization": f"Bearer {bearer_token}"} if bearer_token else {}

    def _get(self, url: str, headers: Mapping[str, str] | None = None) -> urllib3.BaseHTTPResponse:
        return self._http.request("GET", url, headers={**self._auth, **(headers or {})}, redirect=False)

    def expect_error(self, name: str, task_id: str, status: int, code: str) -> Check:
        try:
            answer = self._get(task_url(self.api_url, task_id))
        except urllib3.exceptions.HTTPError as exc:
            return Check(name, False, f"no answer ({exc})")
        content_type = answer.headers.get("Content-Type", "")
        try:
            error = json.loads(answer.data)["error"]
            got_code, request_id = error["code"], error["request_id"]
        except (ValueError, KeyError, TypeError):
            got_code, request_id = None, None
        got = f"{answer.status} {content_type or 'no Content-Type'} {answer.data[:120]!r}"
        if answer.status != status or not content_type.startswith("application/json") or got_code != code:
            return Check(name, False, f"expected {status} JSON {code}, got {got}")
        return Check(name, True, f"{status} {code} (JSON, request_id {request_id})")

    def unknown_task(self) -> Check:
        task_id = f"smoke-{uuid.uuid4()}"
        return self.expect_error("unknown task id", task_id, 404, "task_not_found")

    def malformed_task(self) -> Check:
        return self.expect_error("malformed task id", MALFORMED_ID, 400, "invalid_task_id")

    def redirect(self, task_id: str) -> Check:
        name = f"task {task_id}"
        try:
            answer = self._get(task_url(self.api_url, task_id))
        except urllib3.exceptions.HTTPError as exc:
            return Check(name, False, f"no answer ({exc})")
        location = answer.headers.get("Location")
        if answer.status != 302 or not location:
            got = f"{answer.status} {answer.data[:160]!r}"
            return Check(name, False, f"expected 302 with Location, got {got}")
        cache = answer.headers.get("Cache-Control", "no Cache-Control")
        return Check(name, True, f"302 to {_shown(location)} ({cache})", target=location)

    def video(self, location: str) -> Check:
        name = "redirect target"
        try:
            answer = self._http.request(
                "GET",
                location,
                headers={"Range": f"bytes=0-{VIDEO_PREFIX_BYTES - 1}"},
                redirect=False,
                preload_content=False,
            )
        except urllib3.exceptions.HTTPError as exc:
            return Check(name, False, f"no answer from {_shown(location)} ({exc})")
        try:
            head = answer.read(VIDEO_PREFIX_BYTES)
        finally:
            answer.release_conn()
        content_type = answer.headers.get("Content-Type", "")
        total = answer.headers.get("Content-Range", "").rpartition("/")[2]
        size = total or answer.headers.get("Content-Length", "?")
        mp4 = head[4:8] == b"ftyp"
        if answer.status not in (200, 206) or not (mp4 or content_type.startswith("video/")):
            return Check(name, False, f"expected a video, got {answer.status} {content_type!r} {head[:40]!r}")
        what = "an MP4 (ftyp box)" if mp4 else "not an MP4 box, but a video type"
        return Check(name, True, f"{answer.status} {content_type or 'no Content-Type'}, {size} bytes, {what}")

    def run(self, task_id: str | None) -> list[Check]:
        checks = [_timed(self.unknown_task), _timed(self.malformed_task)]
        if task_id:
            redirect = _timed(lambda: self.redirect(task_id))
            checks.append(redirect)
            if redirect.target:
                target = redirect.target
                checks.append(_timed(lambda: self.video(target)))
        return checks


def parse_args(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tools.smoke", description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--stack", help="stack name: the API URL is its ApiUrl output")
    where.add_argument(
        "--api-url", help="the API's base URL, e.g. https://<id>.execute-api.<region>.amazonaws.com"
    )
    parser.add_argument("--task-id", help="a completed task: check the 302 and that its target is a video")
    parser.add_argument("--region", help="the stack's region (default: the AWS SDK's)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None, out: IO[str] = sys.stdout) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    try:
        api_url = args.api_url or api_url_from_stack(args.stack, args.region)
    except SmokeError as exc:
        print(f"smoke: {exc}", file=out)
        return 2
    source = f" (stack {args.stack}, output ApiUrl)" if args.stack else ""
    print(f"smoke: checking {api_url}{source}", file=out)
    checks = Smoke(api_url, os.environ.get(TOKEN_VARIABLE) or None).run(args.task_id)
    for check in checks:
        print(check.line(), file=out)
    if not args.task_id:
        print("skip  a real task: TASK_ID=<a completed task id> checks the 302 and the video", file=out)
    failed = sum(not c.passed for c in checks)
    summary = f"{len(checks) - failed} of {len(checks)} checks passed"
    print(f"smoke: {summary}" if not failed else f"smoke: FAILED, {summary}", file=out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
