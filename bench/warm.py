"""Warm latencies, interleaved: ``python -m bench.warm CONFIG.json OUT.json`` (started by bench.run).

One process holds all contenders, like one warm container each: the floor (a raw pooled urllib3 GET
to the simulator), the framework floor (``bench/framework_floor.py``), the hand-written peer, our
handler on a cache miss (a new task id each call) and on a cache hit (the same task id). Each
iteration calls every contender once, in one of all their orders in turn, so machine noise lands on
all of them alike. The functions log at INFO into /dev/null.
"""

from __future__ import annotations

import gc
import itertools
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

from bench.common import EventFactory, null_sink


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


def main(config_path: str, out_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    real_stdout = sys.stdout
    sys.stdout = null_sink()  # before the imports: the Powertools logger binds sys.stdout when built

    import urllib3  # noqa: PLC0415

    import handler  # noqa: PLC0415
    from bench import framework_floor, peer_handler  # noqa: PLC0415

    make_event = EventFactory()
    miss_events = [make_event(task_id) for task_id in config["miss_ids"]]
    hit_event = make_event(config["hit_id"])
    peer_events = [make_event(task_id) for task_id in config["peer_ids"]]
    floor_pool = urllib3.PoolManager()
    floor_url = f"{config['base_url']}/luma/generations/{config['hit_id']}/download_video_url"
    floor_headers = {"Authorization": f"Bearer {config['token']}"}
    counter = iter(range(10**9))

    def floor(i: int) -> int:
        return floor_pool.request("GET", floor_url, headers=floor_headers).status

    def framework(i: int) -> int:
        return int(framework_floor.lambda_handler(hit_event, Context(next(counter)))["statusCode"])

    def peer(i: int) -> int:
        return int(
            peer_handler.lambda_handler(peer_events[i % len(peer_events)], Context(next(counter)))[
                "statusCode"
            ]
        )

    def miss(i: int) -> int:
        return int(handler.lambda_handler(miss_events[i], Context(next(counter)))["statusCode"])

    def hit(i: int) -> int:
        return int(handler.lambda_handler(hit_event, Context(next(counter)))["statusCode"])

    contenders: dict[str, tuple[Callable[[int], int], int]] = {
        "floor": (floor, 200),
        "framework": (framework, 302),
        "peer": (peer, 302),
        "miss": (miss, 302),
        "hit": (hit, 302),
    }
    names = list(contenders)
    # Every order of the contenders in turn: each one runs in every position and right after every
    # other equally often (a plain rotation keeps the cyclic order, so one contender would always
    # follow the peer and inherit the servers' clean-up after its new connection).
    orders = list(itertools.permutations(names))
    warmup = int(config["warmup"])
    iterations = min(int(config["iterations"]), len(miss_events) - warmup)
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
            call, expected = contenders[name]
            started = clock()
            status = call(i)
            elapsed = clock() - started
            if status != expected:
                wrong[name] += 1
            if i >= warmup:
                samples[name].append(elapsed)
        done = i + 1

    cache = handler.service.link_cache
    sys.stdout = real_stdout
    Path(out_path).write_text(
        json.dumps(
            {
                "samples_ns": samples,
                "iterations": max(0, done - warmup),
                "wrong_status": wrong,
                "link_cache_entries": len(cache) if cache is not None else None,
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
