"""Warm latencies, interleaved: ``python -m bench.warm CONFIG.json OUT.json`` (started by bench.run,
which pools the samples of several such processes per log level: ``bench.run.warm_phase``).

One process holds all contenders, like one warm container each. The targets' loop: the floor (a
raw pooled urllib3 GET to the simulator), the framework floor (``bench/framework_floor.py``), our
handler on a cache miss (a new task id each call) and on a cache hit (the same task id), in the
order of a de Bruijn sequence repeated: each contender runs right after every contender, itself
included, equally often, and machine noise lands on all of them alike. Then the peer's loop: the
hand-written peer (``bench/peer_handler.py``) and our miss, interleaved the same way, for the
peer's ratio.

The peer has a loop of its own because a contender pays for what ran just before it (each
sample's predecessor is recorded: ``after_ns`` holds the samples by predecessor): after the peer's
4 ms of botocore and ``urllib.request`` every other contender's code and data are out of the CPU's
caches, and a contender that runs more code pays more for that. No Lambda container runs another
function between two invocations; the targets compare the contenders the issue that set them
interleaved.

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
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NamedTuple

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
Prepare = Callable[[], Call]  # delivers one invocation's input (outside the clock)


class Interleaved(NamedTuple):
    samples_ns: dict[str, list[int]]
    wrong_status: dict[str, int]
    iterations: int
    # Each contender's samples by the contender that ran just before it: why a figure moves
    after_ns: dict[str, dict[str, list[int]]]


def interleave(
    contenders: dict[str, tuple[Prepare, int]], *, warmup: int, iterations: int, deadline: float
) -> Interleaved:
    """``iterations`` calls of each contender (after ``warmup`` untimed ones), in the order of a de
    Bruijn sequence repeated (``pair_order``): each contender runs right after every contender, itself
    included, equally often, as a contender follows itself in a warm container."""
    names = list(contenders)
    order = [names[index] for index in pair_order(len(names))]
    samples: dict[str, list[int]] = {name: [] for name in names}
    by_predecessor: dict[str, dict[str, list[int]]] = {name: {} for name in names}
    wrong: dict[str, int] = dict.fromkeys(names, 0)
    clock = time.perf_counter_ns
    previous = ""
    gc.collect()
    calls = (warmup + iterations) * len(names)
    done = 0
    for number in range(calls):
        if time.monotonic() > deadline:
            break
        name = order[number % len(order)]
        prepare, expected = contenders[name]
        call = prepare()
        started = clock()
        status = call()
        elapsed = clock() - started
        if status != expected:
            wrong[name] += 1
        if number >= warmup * len(names):
            samples[name].append(elapsed)
            by_predecessor[name].setdefault(previous, []).append(elapsed)
        previous = name
        done = number + 1
    after = {
        name: {before: values for before, values in sorted(seen.items()) if before}
        for name, seen in by_predecessor.items()
    }
    return Interleaved(samples, wrong, max(0, done // len(names) - warmup), after)


def pair_order(count: int) -> list[int]:
    """A de Bruijn sequence B(count, 2): read cyclically, every ordered pair of ``0..count-1`` (a
    number and itself too) follows once, and each number comes ``count`` times."""
    digits = [0] * (2 * count)
    sequence: list[int] = []

    def extend(t: int, p: int) -> None:  # the classic recursive construction (FKM)
        if t > 2:
            if 2 % p == 0:
                sequence.extend(digits[1 : p + 1])
            return
        digits[t] = digits[t - p]
        extend(t + 1, p)
        for j in range(digits[t - p] + 1, count):
            digits[t] = j
            extend(t + 1, t)

    extend(1, 1)
    return sequence


def main(config_path: str, out_path: str) -> int:
    config = json.loads(Path(config_path).read_text())
    stdout = RuntimeStdout()
    real_stdout = sys.stdout
    sys.stdout = stdout.stdout  # before the imports: the Powertools logger binds sys.stdout when built

    import urllib3  # noqa: PLC0415

    import handler  # noqa: PLC0415
    from bench import framework_floor, peer_handler  # noqa: PLC0415

    events = EventFactory()
    hit_id, peer_ids = config["hit_id"], config["peer_ids"]
    miss_ids: Iterator[str] = iter(config["miss_ids"])  # each used once: every miss is a first sight
    floor_pool = urllib3.PoolManager()
    floor_url = f"{config['base_url']}/luma/generations/{hit_id}/download_video_url"
    floor_headers = {"Authorization": f"Bearer {config['token']}"}
    numbers = itertools.count(1)

    def floor() -> Call:
        return lambda: floor_pool.request("GET", floor_url, headers=floor_headers).status

    def invocation(function: Callable[[Any, Any], Any], task_id: str) -> Call:
        """What the runtime does before the clock starts: the trace header, the event parsed from
        its own bytes (a new request id), and a new context."""
        number = next(numbers)
        raw = events.raw(task_id, number)
        begin_invocation(number)
        event, context = json.loads(raw), Context(number)
        return lambda: int(function(event, context)["statusCode"])

    def miss() -> Call:
        return invocation(handler.lambda_handler, next(miss_ids))

    peer_turns = itertools.count()

    def peer() -> Call:
        return invocation(peer_handler.lambda_handler, peer_ids[next(peer_turns) % len(peer_ids)])

    warmup = int(config["warmup"])
    deadline = time.monotonic() + float(config["max_seconds"])
    targets = interleave(
        {
            "floor": (floor, 200),
            "framework": (lambda: invocation(framework_floor.lambda_handler, hit_id), 302),
            "miss": (miss, 302),
            "hit": (lambda: invocation(handler.lambda_handler, hit_id), 302),
        },
        warmup=warmup,
        iterations=int(config["iterations"]),
        deadline=deadline,
    )
    beside_peer = interleave(
        {"peer": (peer, 302), "miss": (miss, 302)},
        warmup=min(warmup, 20),
        iterations=int(config["peer_iterations"]),
        deadline=deadline,
    )

    cache = handler.service.link_cache
    sys.stdout = real_stdout
    stdout.close()
    Path(out_path).write_text(
        json.dumps(
            {
                "samples_ns": {**targets.samples_ns, "peer": beside_peer.samples_ns["peer"]},
                "miss_beside_peer_ns": beside_peer.samples_ns["miss"],
                "iterations": targets.iterations,
                "peer_iterations": beside_peer.iterations,
                "wrong_status": {**targets.wrong_status, "peer": beside_peer.wrong_status["peer"]},
                "after_ns": targets.after_ns,
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
