"""Peak RSS after many distinct task ids: ``python -m bench.rss`` (started by bench.run).

A fresh process imports the handler with its default settings (the link cache bounded at
``URL_CACHE_MAX_ENTRIES``, 1024) and sends COUNT distinct, completed task ids through it, each a
cache miss. It prints one JSON line with ``ru_maxrss`` after the import and at the end.

Linux carries a process's ``ru_maxrss`` across ``exec`` from the process that spawned it (the
spawner's peak is folded in), so bench.run starts this child first thing, while it is itself
still small, and sends it the function's environment and the job on stdin once the servers are
up. ``VmHWM`` (the peak of this process's own memory map, from /proc) is reported beside it.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
from pathlib import Path

from bench.common import EventFactory, null_sink
from bench.warm import Context


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def vm_hwm_mb() -> float | None:
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def main() -> int:
    at_start = peak_rss_mb()
    line = sys.stdin.readline()  # {"env": {...}, "prefix": ..., "count": ..., "max_seconds": ...}
    if not line.strip():
        return 0  # the parent gave up before the RSS phase
    job = json.loads(line)
    os.environ.update(job["env"])
    prefix, count, max_seconds = str(job["prefix"]), int(job["count"]), float(job["max_seconds"])
    real_stdout = sys.stdout
    sys.stdout = null_sink()
    import handler  # noqa: PLC0415

    after_import = peak_rss_mb()
    make_event = EventFactory()
    deadline = time.monotonic() + max_seconds
    sent = redirects = 0
    for i in range(count):
        if time.monotonic() > deadline:
            break
        response = handler.lambda_handler(make_event(f"{prefix}{i:05d}"), Context(i))
        sent += 1
        redirects += response["statusCode"] == 302
    cache = handler.service.link_cache
    sys.stdout = real_stdout
    print(
        json.dumps(
            {
                "rss_at_start_mb": at_start,
                "ids_sent": sent,
                "redirects": redirects,
                "rss_after_import_mb": after_import,
                "peak_rss_mb": peak_rss_mb(),
                "vm_hwm_mb": vm_hwm_mb(),
                "link_cache_entries": len(cache) if cache is not None else None,
            }
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
