"""``make invoke-local``: one direct invoke of the function, as Step Functions or ``aws lambda invoke``
would send it, against the same stack as ``make run`` (``local.stack``: the demo unless
``UPSTREAM_BASE_URL`` is set), without Docker or an AWS account.

    python -m local.invoke events/batch_direct_invoke.json     # an event file ("-": standard input)
    python -m local.invoke '{"task_id": "1fa17995-f527-46a5-9796-294b453b8a7f"}'
    python -m local.invoke --task-id completed processing      # demo labels or ids; 2+ ids: a batch
    python -m local.invoke --task-id completed --archive       # the archive worker's job, to the copy

stdout carries only the answer, as JSON: the function's return value (exit 0), or what Lambda reports
for a raised error, ``{"errorType", "errorMessage", "requestId"}`` (exit 1). stderr carries what the
function logs. Exit 2: the event or the environment is unusable (the message says why).
"""

from __future__ import annotations

import argparse
import json
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from local.archive_demo import WORKER_TIMEOUT_SECONDS
from local.demo import DEMO_TASKS
from local.lambda_context import LocalLambdaContext
from local.stack import (
    LAMBDA_TIMEOUT_SECONDS,
    LocalStack,
    StartupError,
    add_src_to_path,
    command_main,
    start_stack,
)

DEMO_LABELS = {task.label: task.task_id for task in DEMO_TASKS}


def _parser() -> argparse.ArgumentParser:
    labels = ", ".join(DEMO_LABELS)
    parser = argparse.ArgumentParser(
        prog="python -m local.invoke",
        description="Invoke the function once, directly, against make run's demo (or UPSTREAM_BASE_URL).",
    )
    parser.add_argument(
        "event", nargs="?", help="an event file (e.g. events/direct_invoke.json), - or inline JSON"
    )
    parser.add_argument(
        "--task-id",
        nargs="+",
        metavar="ID",
        help=f"send {{'task_id': ID}} (several: a batch); the demo's {labels} stand for its ids",
    )
    parser.add_argument("--archive", action="store_true", help='with --task-id: add "archive": true')
    return parser


def read_event(source: str, stdin: IO[str]) -> Any:
    """The event from inline JSON, ``-`` (standard input) or a file; ``StartupError`` says what is wrong."""
    if source.lstrip().startswith(("{", "[")):
        text, where = source, "the event"
    elif source == "-":
        text, where = stdin.read(), "standard input"
    else:
        try:
            text, where = Path(source).read_text(encoding="utf-8"), source
        except OSError as exc:
            raise StartupError(f"cannot read the event file {source} ({exc.strerror})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise StartupError(f"{where} is not JSON: {exc}") from None


def task_event(ids: Sequence[str], *, archive: bool, demo: bool) -> dict[str, Any]:
    """``{"task_id"}`` for one id, ``{"task_ids"}`` for several; demo labels become the demo's ids."""
    resolved = [DEMO_LABELS.get(task_id, task_id) if demo else task_id for task_id in ids]
    event: dict[str, Any] = {"task_id": resolved[0]} if len(resolved) == 1 else {"task_ids": resolved}
    if archive:
        event["archive"] = True
    return event


def timeout_for(event: Any) -> float:
    """The deployed function's timeout, or the archive worker's for what a stack sends the worker."""
    if isinstance(event, dict) and (event.get("archive") is True or "Records" in event):
        return WORKER_TIMEOUT_SECONDS
    return LAMBDA_TIMEOUT_SECONDS


def invoke(stack: LocalStack, event: Any, console: IO[str]) -> int:
    """Call the function once; print its answer or the error Lambda would report; the exit code."""
    assert stack.function is not None
    add_src_to_path()
    from luma_download.errors import LumaDownloadError  # noqa: PLC0415 (src/ is on the path only now)

    context = LocalLambdaContext(timeout_seconds=timeout_for(event))
    try:
        answer = stack.function(event, context)
    except Exception as exc:
        if not isinstance(exc, LumaDownloadError):  # a bug, not the error contract: show where
            traceback.print_exc(file=sys.stderr)
        error = {
            "errorType": type(exc).__name__,
            "errorMessage": str(exc),
            "requestId": context.aws_request_id,
        }
        print(json.dumps(error, indent=2), file=console, flush=True)
        return 1
    print(json.dumps(answer, indent=2), file=console, flush=True)
    return 0


def invoke_once(args: argparse.Namespace, console: IO[str]) -> int:
    """Read the event, start the stack, invoke, stop: ``main``'s work once the arguments are checked."""
    stack: LocalStack | None = None
    try:
        event = read_event(args.event, sys.stdin) if args.event is not None else None
        stack = start_stack()
        if event is None:
            event = task_event(args.task_id, archive=args.archive, demo=stack.demo is not None)
        return invoke(stack, event, console)
    finally:
        if stack is not None:
            stack.stop()


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if (args.event is None) == (args.task_id is None):
        _parser().error("give an event (a file, - or JSON) or --task-id, not both")
    if args.archive and args.task_id is None:
        _parser().error("--archive goes with --task-id (an event says archive itself)")
    return command_main("invoke-local", lambda console: invoke_once(args, console))


if __name__ == "__main__":
    sys.exit(main())
