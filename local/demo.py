"""The demo's backends: embedded AWS (moto, server mode) holding the token secret, and the aggregator
simulator with the demo tasks, serving the completed ones' video (``local/assets/demo.mp4``) itself.

``make run`` and ``make invoke-local`` start the same ones (``local.stack``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from local.aggregator import Aggregator, FakeTask
from local.aws import EmbeddedAws, start_embedded_aws
from local.demo_video import DEMO_MP4

DEMO_TOKEN: Final = "demo-token"  # noqa: S105 (the simulator's made-up token)


@dataclass(frozen=True)
class DemoTask:
    label: str  # completed / processing / failed
    task_id: str
    expect: str  # what the local API answers, for the ready lines
    state: str
    failure_reason: str | None = None
    listed: bool = True  # printed in the ready lines


DEMO_TASKS: Final = (
    DemoTask("completed", "4f6c2b1e-8d3a-4c7e-9f21-6b0d5e8a3c47", "302 to the MP4", "completed"),
    DemoTask("processing", "9a1e7d34-2b5f-4e08-a6c3-1d8f0b7e5a92", "409 video_not_ready", "processing"),
    DemoTask(
        "failed",
        "c3d85f0a-71e2-4b96-8a4d-e29b6f1c0d58",
        "410 task_failed",
        "failed",
        failure_reason="400: prompt not allowed because advanced moderation failed",
    ),
)
# The ids in events/, known too (not listed), so that every example event answers as the README says
# (a batch: a link and a video_not_ready entry) when sent to the demo instead of a deployed stack.
EVENT_TASKS: Final = (
    DemoTask("completed", "1fa17995-f527-46a5-9796-294b453b8a7f", "302", "completed", listed=False),
    DemoTask("processing", "5d2c8e41-0b7a-4f36-9c1e-7a8b9c0d1e2f", "409", "processing", listed=False),
    DemoTask("completed", "e1c7a3b2-9d8f-4e6a-b5c4-3d2e1f0a9b8c", "302", "completed", listed=False),
)


@dataclass
class DemoBackends:
    """Embedded AWS (the secret) and the aggregator simulator with the demo tasks and their video."""

    aws: EmbeddedAws
    aggregator: Aggregator
    tasks: tuple[DemoTask, ...]

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self.aggregator.stop()
        with contextlib.suppress(Exception):
            self.aws.stop()


def start_demo_backends(
    *,
    secret_id: str,
    secret_field: str = "token",  # noqa: S107 (a JSON field name)
    token: str = DEMO_TOKEN,
    tasks: Iterable[DemoTask] = DEMO_TASKS + EVENT_TASKS,
    mp4: Path = DEMO_MP4,
) -> DemoBackends:
    """Start moto and the simulator on loopback; nothing here touches ``os.environ``."""
    data = mp4.read_bytes()
    tasks = tuple(tasks)
    aws = start_embedded_aws()
    aggregator: Aggregator | None = None
    try:
        aws.put_token(secret_id, token, field=secret_field)
        aggregator = Aggregator(tokens=(token,))
        for task in tasks:
            aggregator.tasks[task.task_id] = FakeTask(
                state=task.state,
                url=aggregator.serve_file(task.task_id, data) if task.state == "completed" else None,
                failure_reason=task.failure_reason,
            )
        aggregator.start()
    except BaseException:
        if aggregator is not None:
            with contextlib.suppress(Exception):
                aggregator.stop()
        aws.stop()
        raise
    return DemoBackends(aws=aws, aggregator=aggregator, tasks=tasks)
