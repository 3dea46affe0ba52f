"""Warm latencies, interleaved: ``python -m bench.warm CONFIG.json OUT.json`` (started by bench.run).

One process holds all contenders, like one warm container each: the floor (a raw pooled urllib3 GET
to the simulator), the framework floor (``bench/framework_floor.py``), the hand-written peer, our
handler on a cache miss (a new task id each call) and on a cache hit (the same task id). Each
iteration calls every contender once, in one of all their orders in turn, so machine noise lands on
all of them alike.

Each invocation gets what the Lambda runtime gives it: the event parsed from its own JSON bytes (a
new dict, a new API Gateway request id), a new context and trace header, all before the clock
starts; the functions' stdout is a pipe that another process drains (``bench.common.RuntimeStdout``).
The log level is the environment's ``POWERTOOLS_LOG_LEVEL`` (bench.run runs this at INFO and WARNING).
"""

from __future__ import annotations

import gc
import itertools
import json
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.common import EventFactory, RuntimeStdout, begin_invocation


class Context:
    """The fields of a Lambda context that the function and Powertools read."""

    function_name = "luma-download"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:luma-download"
    log_group_name = "/aws/lambda/luma-download"
    log_stream_name = "bench"

    def __init__(self, number: int, timeout_seconds: float = 15.0) -> None:
        self.aws_request_id = f"00000000-0000-4000-8000-{number:012d}"
        self._ends_at = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._ends_at - time.monotonic()) * 1000))


Call = Callable[[], int]  # one invocation, its input already delivered; gives the status


def main(config_path: str, out_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    stdout = RuntimeStdout()
    real_stdout = sys.stdout
    sys.stdout = stdout.stdout  # before the imports: the Powertools logger binds sys.stdout when built

    import urllib3  # noqa: PLC0415

    import handler  # noqa: PLC0415
    from bench import framework_floor, peer_handler  # noqa: PLC0415

    events = EventFactory()
    miss_ids, hit_id, peer_ids = config["miss_ids"], config["hit_id"], config["peer_ids"]
    floor_pool = urllib3.PoolManager()
    floor_url = f"{config['base_url']}/luma/generations/{hit_id}/download_video_url"
    floor_headers = {"Authorization": f"Bearer {config['token']}"}
    numbers = itertools.count(1)

    def floor(i: int) -> Call:
        return lambda: floor_pool.request("GET", floor_url, headers=floor_headers).status

    def invocation(function: Callable[[Any, Any], Any], task_id: str) -> Call:
        """What the runtime does before the clock starts: the trace header, the event parsed from
        its own bytes (a new request id), and a new context."""
        number = next(numbers)
        raw = events.raw(task_id, number)
        begin_invocation(number)
        event, context = json.loads(raw), Context(number)
        return lambda: int(function(event, context)["statusCode"])

    contenders: dict[str, tuple[Callable[[int], Call], int]] = {
        "floor": (floor, 200),
        "framework": (lambda i: invocation(framework_floor.lambda_handler, hit_id), 302),
        "peer": (lambda i: invocation(peer_handler.lambda_handler, peer_ids[i % len(peer_ids)]), 302),
        "miss": (lambda i: invocation(handler.lambda_handler, miss_ids[i]), 302),
        "hit": (lambda i: invocation(handler.lambda_handler, hit_id), 302),
    }
    names = list(contenders)
    # Every order of the contenders in turn: each one runs in every position and right after every
    # other equally often (a plain rotation keeps the cyclic order, so one contender would always
    # follow the peer and inherit the servers' clean-up after its new connection).
    orders = list(itertools.permutations(names))
    warmup = int(config["warmup"])
    iterations = min(int(config["iterations"]), len(miss_ids) - warmup)
    deadline = time.monotonic() + float(config["max_seconds"])
    samples: dict[str, list[int]] = {name: [] for name in names}
    wrong: dict[str, int] = dict.fromkeys(names, 0)
    clock = time.perf_counter_ns

    gc.collect()
    done = 0
    for i in range(warmup + iterations):
        if time.monotonic() > deadline:
            break
        for name in orders[i % len(orders)]:
            prepare, expected = contenders[name]
            call = prepare(i)
            started = clock()
            status = call()
            elapsed = clock() - started
            if status != expected:
                wrong[name] += 1
            if i >= warmup:
                samples[name].append(elapsed)
        done = i + 1

    cache = handler.service.link_cache
    sys.stdout = real_stdout
    stdout.close()
    Path(out_path).write_text(
        json.dumps(
            {
                "samples_ns": samples,
                "iterations": max(0, done - warmup),
                "wrong_status": wrong,
                "link_cache_entries": len(cache) if cache is not None else None,
                "log_level": os.environ.get("POWERTOOLS_LOG_LEVEL", ""),
            }
        )
    )
    return 0


def run(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m bench.warm CONFIG.json OUT.json", file=sys.stderr)
        return 2
    return main(argv[0], argv[1])


if __name__ == "__main__":
    raise SystemExit(run(sys.argv[1:]))
