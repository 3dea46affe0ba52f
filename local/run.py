"""``make run``: the whole product on one machine, on loopback, answering as the deployed API would.

Run as ``python -m local.run``. The parts, each in its own module: ``local.stack`` picks the mode from
the environment (demo, or a real aggregator), starts what it needs and imports the function;
``local.api_server`` serves it on ``127.0.0.1:$PORT`` (default 3000, ``PORT=0`` picks a free port) as
API Gateway's HTTP API would; ``local.archive_demo``'s poller plays the archive worker's SQS event
source; ``local.stop_signals`` waits for Ctrl-C or SIGTERM. This module starts them and prints the
banner.

Output: stdout carries only what to try (the ready lines); stderr carries one access line per request
and everything the function writes (its JSON log lines and EMF metric lines, which Lambda would send
to CloudWatch). Ctrl-C or SIGTERM stops everything and exits 0.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Final

from local.api_event import ROUTE_TEMPLATE
from local.api_server import DEFAULT_PORT, LocalApi
from local.demo import DEMO_TASKS, DEMO_TOKEN
from local.stack import (
    LAMBDA_TIMEOUT_SECONDS,
    SECRET_ID,
    LocalStack,
    StartupError,
    command_main,
    start_stack,
)
from local.stop_signals import StopSignals

# Other modules and tests still import these from here.
__all__ = ["DEMO_TASKS", "DEMO_TOKEN", "LISTENING_PREFIX", "SECRET_ID", "STOP_LINE_PREFIX", "main"]

# The ready block: the first line names the API, the last line says how to stop.
LISTENING_PREFIX: Final = "luma-download local API listening on "
STOP_LINE_PREFIX: Final = "Stop: "


@dataclass
class LocalRun:
    """Everything ``make run`` started; ``stop()`` undoes it in reverse order."""

    stack: LocalStack
    api: LocalApi
    ready_seconds: float = 0.0
    pid: int = field(default_factory=os.getpid)

    def task_url(self, task_id: str) -> str:
        return f"{self.api.url}{ROUTE_TEMPLATE.format(task_id=task_id)}"

    def ready_lines(self) -> list[str]:
        demo, aws, archive = self.stack.demo, self.stack.aws, self.stack.archive
        started = f"started in {self.ready_seconds:.1f} s"
        lines = [f"{LISTENING_PREFIX}{self.api.url} ({self.stack.mode.description}; {started})"]
        if demo is not None:
            backends = demo.aggregator.base_url, demo.aws.endpoint
            lines.append("  aggregator simulator {}, embedded AWS (moto) {}".format(*backends))
        elif aws is not None:
            lines.append(f"  embedded Secrets Manager (moto) {aws.endpoint}, secret {SECRET_ID}")
        if demo is not None:
            tasks = sorted((t for t in demo.tasks if t.listed), key=lambda t: t.state != "completed")
            width = max(len(t.label) for t in tasks)
            lines.append("Demo tasks (open the first in a browser to watch the video):")
            lines += [f"  {t.label:<{width}}  {self.task_url(t.task_id)}  -> {t.expect}" for t in tasks]
            example = self.task_url(tasks[0].task_id)
        else:
            example = self.task_url("<task_id>")
            lines.append(f"Try: {example}")
        lines.append(f"JSON instead of a redirect: curl -s '{example}?format=json'")
        if demo is not None:
            lines.append(
                "Direct invoke, no HTTP (in a demo of its own): make invoke-local TASK_ID=completed "
                "(or EVENT=batch_direct_invoke.json)"
            )
        if archive is not None:
            lines += archive.ready_lines()
        # make forwards a TERM to this process but then reports 143 itself; this PID ends make with 0.
        lines.append(f"{STOP_LINE_PREFIX}Ctrl-C (or kill -TERM {self.pid}, this server: make then exits 0)")
        return lines

    def stop(self) -> None:
        self.api.stop()
        self.stack.stop()


def start_local(
    *,
    port: int = DEFAULT_PORT,
    host: str = "127.0.0.1",
    access_log: IO[str] | None = None,
) -> LocalRun:
    """Start the stack (``os.environ`` picks the mode and receives the function's variables), serve it
    and, in the demo, start the archive poller. On failure, whatever started is stopped first."""
    started = time.monotonic()
    stack = start_stack(os.environ)
    try:
        assert stack.function is not None
        api = LocalApi(
            stack.function,
            timeout_seconds=LAMBDA_TIMEOUT_SECONDS,
            host=host,
            port=port,
            access_log=access_log,
        ).start()
    except BaseException:
        stack.stop()
        raise
    run = LocalRun(stack=stack, api=api)
    try:
        if stack.archive is not None:
            stack.archive.start_poller(stack.function, api.invoke_lock)
    except BaseException:
        run.stop()
        raise
    run.ready_seconds = time.monotonic() - started
    return run


def _port_from(environ: Mapping[str, str]) -> int:
    raw = environ.get("PORT", "").strip() or str(DEFAULT_PORT)
    if not raw.isdigit() or int(raw) > 65535:
        raise StartupError(f"PORT must be a number from 0 to 65535, got {raw!r}")
    return int(raw)


def serve(console: IO[str]) -> int:
    """Start, print the ready lines to ``console``, stop on Ctrl-C or SIGTERM."""
    stop_signals = StopSignals()  # before any thread starts
    run: LocalRun | None = None
    try:
        port = _port_from(os.environ)
        try:
            run = start_local(port=port)
        except OSError as exc:
            raise StartupError(f"cannot listen on 127.0.0.1:{port} ({exc.strerror}); set PORT=...") from None
        for line in run.ready_lines():
            print(line, file=console, flush=True)
        received = stop_signals.wait()
        print(f"Stopping ({received.name})...", file=console, flush=True)
    finally:
        if run is not None:
            run.stop()
    print("Stopped.", file=console, flush=True)
    return 0


def main() -> int:
    return command_main("make run", serve)


if __name__ == "__main__":
    sys.exit(main())
