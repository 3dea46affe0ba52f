"""Where a warm invocation's time goes: ``python -m bench.profile CONFIG.json OUT.json`` (by bench.run).

A separate, untimed child: pyinstrument samples our handler on cache hits, then on cache misses,
and every sample is put in one bucket by the frames on its stack (the most specific bucket wins:
a JSON dump inside the logger's line counts as the log line, the socket read inside urllib3 as the
HTTP request). A sampling profiler slows Python code more than it slows waiting on a socket, so
the shares, not the absolute times, are the evidence.
"""

from __future__ import annotations

import json
import sys
import timeit
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import TOKEN, EventFactory, RuntimeStdout, begin_invocation, presigned_r2_url
from bench.warm import Context

# (bucket, file path part, function name or None for any, absorbing). A frame's own time goes to the
# nearest frame on its stack that matches a row; below an absorbing row nothing else is looked at
# (the JSON dump inside the logger's line is the log line, the socket read inside urllib3 is HTTP).
BUCKETS: list[tuple[str, str, str | None, bool]] = [
    ("upstream HTTP request (urllib3, http.client): what the floor does", "/urllib3/", None, True),
    ("Powertools Logger: the INFO line (format, JSON, write)", "powertools/logging/logger.py", "info", True),
    ("Powertools Logger: append_keys, correlation id", "powertools/logging/logger.py", "append_keys", True),
    (
        "Powertools Logger: append_keys, correlation id",
        "powertools/logging/logger.py",
        "set_correlation_id",
        True,
    ),
    (
        "Powertools Metrics: add_metric and the EMF flush",
        "aws_lambda_powertools/metrics/",
        "add_metric",
        True,
    ),
    (
        "Powertools Metrics: add_metric and the EMF flush",
        "aws_lambda_powertools/metrics/",
        "flush_metrics",
        True,
    ),
    (
        "token (cached after one Powertools SecretsProvider read)",
        "luma_download/aggregator/secret_token.py",
        None,
        True,
    ),
    (
        "token (cached after one Powertools SecretsProvider read)",
        "luma_download/secret_reading.py",
        None,
        True,
    ),
    ("URL rules: check, expiry, redaction", "luma_download/url_rules.py", None, True),
    ("link cache (OrderedDict LRU, lock)", "luma_download/link_cache.py", "get", True),
    ("link cache (OrderedDict LRU, lock)", "luma_download/link_cache.py", "put", True),
    ("Powertools event handler: event wrapper, routing, response", "powertools/event_handler/", None, False),
    ("Powertools event handler: event wrapper, routing, response", "utilities/data_classes/", None, False),
    (
        "Powertools decorators: inject_lambda_context, log_metrics",
        "aws_lambda_powertools/logging/",
        None,
        False,
    ),
    (
        "Powertools decorators: inject_lambda_context, log_metrics",
        "aws_lambda_powertools/metrics/",
        None,
        False,
    ),
    ("our code (handler, route, client, cache wrapper)", "/src/", None, False),
]
OTHER = "other (interpreter, bench loop, stdlib called at the top)"


def bucket_of(file_path: str, function: str) -> tuple[str, bool] | None:
    for name, path_part, function_name, absorbing in BUCKETS:
        if path_part in file_path and (function_name is None or function == function_name):
            return name, absorbing
    return None


def shares(root: Any) -> dict[str, float]:
    """Seconds per bucket, from a pyinstrument frame tree."""
    seconds: Counter[str] = Counter()

    def walk(frame: Any, current: str, absorbed: bool) -> None:
        if not absorbed:
            found = bucket_of(frame.file_path or "", frame.function or "")
            if found is not None:
                current, absorbed = found
        own = frame.time - sum(child.time for child in frame.children)
        seconds[current] += max(own, 0.0)
        for child in frame.children:
            walk(child, current, absorbed)

    walk(root, OTHER, False)
    return dict(seconds)


def direct_timings(handler: Any, hit_id: str) -> dict[str, float]:
    """A few parts timed alone in a tight loop (warm caches: a lower bound), in µs per call."""
    from aws_lambda_powertools.event_handler import APIGatewayHttpResolver  # noqa: PLC0415
    from aws_lambda_powertools.metrics import MetricUnit  # noqa: PLC0415

    from luma_download import url_rules  # noqa: PLC0415
    from luma_download.front_doors.event_shapes import front_door  # noqa: PLC0415
    from luma_download.front_doors.http_api import build_resolver  # noqa: PLC0415
    from luma_download.model import Deadline  # noqa: PLC0415
    from luma_download.request_record import RequestRecord  # noqa: PLC0415

    url = presigned_r2_url("profile-direct")
    allowed = ("*.r2.cloudflarestorage.com", "*.cdn-luma.com", "*.lumalabs.ai")

    def log_line() -> None:
        handler.logger.info("request done", extra={"status": 302})

    def metrics() -> None:  # a miss's: the request, and its time upstream
        handler.metrics.add_metric(name="Requests", unit=MetricUnit.Count, value=1)
        handler.metrics.add_metric(name="UpstreamLatency", unit=MetricUnit.Milliseconds, value=1.5)
        handler.metrics.flush_metrics()

    def rules() -> None:  # what a fetched link goes through (upstream.UpstreamClient._link)
        url_rules.checked_link_facts(url, allowed, allow_loopback=False)
        url_rules.holds_secret(url, (TOKEN,))

    found = handler.service.get_link(hit_id, Deadline(10))  # a cache hit: no upstream call
    resolver = build_resolver(
        APIGatewayHttpResolver, lambda task_id, deadline: found, cache_margin_seconds=300
    )
    event = EventFactory()(hit_id)

    def resolve() -> None:
        resolver.append_context(record=RequestRecord(front_door="http_api"))
        resolver.resolve(event, Context(0))

    def whole_hit() -> None:
        handler.lambda_handler(event, Context(0))

    timings = {}
    for name, call in (
        ("a whole cache hit, back to back (compare the interleaved p50)", whole_hit),
        ("the front door's check of the event (every key, the maps' types)", lambda: front_door(event)),
        ("the event handler resolving the route, link given (our route code included)", resolve),
        ("the INFO log line (Powertools Logger)", log_line),
        ("a miss's 2 metrics and the EMF flush (Powertools Metrics)", metrics),
        ("URL rules on a miss: check, expiry, redaction, the token's absence", rules),
    ):
        runs = sorted(timeit.repeat(call, number=500, repeat=7))
        timings[name] = runs[len(runs) // 2] / 500 * 1e6
    return timings


def main(config_path: str, out_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    stdout = RuntimeStdout()
    real_stdout = sys.stdout
    sys.stdout = stdout.stdout
    from pyinstrument import Profiler  # noqa: PLC0415

    import handler  # noqa: PLC0415

    make_event = EventFactory()
    begin_invocation(1)  # the trace header, so the lines carry the key they carry in Lambda
    hit_id, miss_ids = config["hit_id"], config["miss_ids"]
    for number in range(50):
        handler.lambda_handler(make_event(hit_id, number), Context(number))
    result: dict[str, Any] = {}
    for kind, task_ids in (("hit", [hit_id] * len(miss_ids)), ("miss", miss_ids)):
        # A new event and context per invocation, as in the warm phase, made before the profiler starts.
        calls = [(make_event(task_id, number), Context(number)) for number, task_id in enumerate(task_ids)]
        profiler = Profiler(interval=0.0001)
        profiler.start()
        for event, context in calls:
            handler.lambda_handler(event, context)
        profiler.stop()
        session = profiler.last_session
        assert session is not None
        result[kind] = {"invocations": len(calls), "seconds": shares(session.root_frame())}
    handler.lambda_handler(make_event(hit_id), Context(0))  # the logger keeps a hit's keys for the timings
    result["direct_us"] = direct_timings(handler, hit_id)
    sys.stdout = real_stdout
    stdout.close()
    Path(out_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1], sys.argv[2]))
