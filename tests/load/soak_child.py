"""The soak's child process: distinct task ids through ``handler.lambda_handler``, one warm container.

``python -m tests.load.soak_child WARMUP COUNT``, with the function's environment set (run by
``test_soak.py``). A fresh interpreter, so its memory figures are the function's alone. It invokes
``WARMUP`` times, takes a snapshot (RSS, open fds, sockets), invokes ``COUNT`` more times, takes
another, then a third while holding 16 MB and one more open file (proof that the figures move);
stdout gets everything the function prints plus one ``ANSWER_PREFIX`` line per invocation, and the
last line on stderr is the snapshots as JSON.
"""

from __future__ import annotations

import contextlib
import gc
import json
import sys
from pathlib import Path
from typing import Any, Final

ANSWER_PREFIX: Final = "soak-answer "
DOORS: Final = ("http_api_get.json", "rest_api_get.json", "function_url_get.json", "direct")


def task_id_for(n: int) -> str:
    return f"soak-{n:06d}"


def door_for(n: int) -> str:
    return DOORS[n % len(DOORS)]


def snapshot() -> dict[str, int]:
    """Resident memory (kB), open file descriptors and, among them, sockets."""
    gc.collect()
    status = Path("/proc/self/status").read_text()
    rss_kb = next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmRSS:"))
    fds = list(Path("/proc/self/fd").iterdir())
    sockets = 0
    for fd in fds:
        with contextlib.suppress(OSError):  # the listing's own descriptor is closed by now
            sockets += str(fd.readlink()).startswith("socket:")
    return {"rss_kb": rss_kb, "fds": len(fds), "sockets": sockets}


def main(argv: list[str]) -> int:
    warmup, count = int(argv[0]), int(argv[1])
    import handler  # noqa: PLC0415 (reads its environment at import, as Lambda's init does)
    from local.lambda_context import LocalLambdaContext  # noqa: PLC0415
    from luma_download.errors import LumaDownloadError  # noqa: PLC0415
    from tests.conftest import EVENT_TASK_ID, load_event  # noqa: PLC0415

    # Each event is made from its file's text, so every invocation gets a fresh event as Lambda does.
    templates = {door: json.dumps(load_event(door)) for door in DOORS if door != "direct"}

    def invoke(n: int) -> None:
        task_id, door = task_id_for(n), door_for(n)
        event: Any = (
            {"task_id": task_id}
            if door == "direct"
            else json.loads(templates[door].replace(EVENT_TASK_ID, task_id))
        )
        answer: dict[str, Any] = {"n": n}
        try:
            answer["result"] = handler.lambda_handler(event, LocalLambdaContext(timeout_seconds=15))
        except LumaDownloadError as exc:
            answer["error"] = type(exc).__name__
            answer["message"] = str(exc)
        print(ANSWER_PREFIX + json.dumps(answer))

    for n in range(warmup):
        invoke(n)
    warm = snapshot()
    for n in range(warmup, warmup + count):
        invoke(n)
    end = snapshot()
    # The figures are live: 16 MB more held and one more file open must show in them.
    ballast = b"\x01" * (16 * 1024 * 1024)  # written, so resident (zeroed pages would not be)
    with Path(__file__).open() as extra_file:
        probe = snapshot()
    sys.stdout.flush()
    print(
        json.dumps({"warm": warm, "end": end, "probe": probe, "held": len(ballast) + extra_file.closed}),
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
