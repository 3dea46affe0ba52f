"""``make bench``: our handler beside the floor and a hand-written peer, in one run, on loopback.

Method (also written into docs/benchmarks.md):

1. This process starts the parts the tests use: moto's Secrets Manager (server mode) holding the
   token, and the aggregator simulator, both on 127.0.0.1, and registers completed tasks in it.
2. Warm latencies (``bench.warm``, a child process, so the function never shares a GIL with the
   servers): the floor (raw pooled urllib3 GET with the bearer header to the simulator's
   download_video_url), the framework floor, our handler on a cache miss (a new task id each call)
   and on a cache hit (the same id), interleaved; then the hand-written peer
   (``bench/peer_handler.py``) interleaved with our miss in a loop of its own. Once with
   ``POWERTOOLS_LOG_LEVEL=INFO`` (the template's default), once at WARNING. Each invocation gets a
   new event parsed from its own bytes and its own context, and writes to a pipe another process
   drains, as in Lambda.
3. Cold starts (``bench/cold.py``): ours (from src/), ours as ``make build`` ships it (its layout,
   with its bytecode and without; ``bench.shipped``) and the floor, each in fresh processes, in
   turn, after one discarded round (page cache warm, as in a reused Lambda sandbox image).
4. Peak RSS (``bench.rss``): a fresh process sends 20,000 distinct ids through our handler.
5. Calls per 400 invocations (here, in process): real GetSecretValue calls counted by a botocore
   event hook on each function's own client, upstream calls from the simulator's request log.
6. The archive (``bench.archive``, a child started first): peak RSS while the handler archives a
   300 MB video from the simulator into moto's S3, then archive throughput beside a floor (one
   plain GET and one PutObject of the same file), interleaved.
7. Handing out an archive link (``bench.links``): an S3 presign and CloudFront links signed with
   ECDSA P-256 and RSA 2048 keys read from the moto Secrets Manager, the first in fresh processes
   (the contenders in turn), then cached hits interleaved in one child.

Every child gets the variables the Lambda runtime sets (see ``bench.common``). Every loop is
bounded in count and in time; every child has a timeout.
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import (
    REPO,
    SECRET_ID,
    SRC,
    TOKEN,
    EventFactory,
    lambda_runtime_environment,
    median,
    null_sink,
    presigned_r2_url,
)
from bench.figures import COLD_KINDS, LOG_LEVELS, Results
from bench.importtime import init_parts
from bench.links import links_phase, put_signing_keys
from bench.plot import plot
from bench.shipped import build_layouts
from bench.table import render

if TYPE_CHECKING:
    from local.aggregator import Aggregator
    from local.aws import EmbeddedAws

GET_SECRET_EVENT = "before-parameter-build.secrets-manager.GetSecretValue"


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=5000, help="timed warm iterations (default 5000)")
    parser.add_argument("--warmup", type=int, default=100, help="untimed warm iterations first")
    parser.add_argument(
        "--warm-processes",
        type=int,
        choices=range(1, 11),
        default=3,
        metavar="N",
        help="warm children per log level, samples pooled (1 to 10, default 3)",
    )
    parser.add_argument(
        "--peer-iterations", type=int, default=1000, help="timed iterations of the peer beside our miss"
    )
    parser.add_argument("--cold-runs", type=int, default=31, help="cold starts of each kind (default 31)")
    parser.add_argument("--rss-ids", type=int, default=20_000, help="distinct ids for the RSS figure")
    parser.add_argument("--archive-big-mb", type=int, default=300, help="MiB archived for the RSS figure")
    parser.add_argument("--archive-mb", type=int, default=64, help="MiB archived per throughput round")
    parser.add_argument("--archive-runs", type=int, default=5, help="archive throughput rounds")
    parser.add_argument("--link-runs", type=int, default=5, help="first links of each kind (default 5)")
    parser.add_argument("--link-iterations", type=int, default=3000, help="timed cached links of each kind")
    parser.add_argument("--invocations", type=int, default=400, help="invocations for the call counts")
    parser.add_argument("--count-ids", type=int, default=50, help="distinct ids among those invocations")
    parser.add_argument("--profile-invocations", type=int, default=1500, help="profiled hits, then misses")
    parser.add_argument("--markdown", type=Path, default=REPO / "docs" / "benchmarks.md")
    parser.add_argument("--plot", type=Path, default=REPO / "docs" / "benchmarks.png")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    return parser.parse_args(argv)


def child_environment(function_env: dict[str, str]) -> dict[str, str]:
    env = {**os.environ, **function_env}
    env["PYTHONPATH"] = os.pathsep.join([str(SRC), str(REPO)])
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    return env


def run_child(args: list[str], env: dict[str, str], timeout: float) -> str:
    done = subprocess.run(
        [sys.executable, *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited {done.returncode}:\n{done.stderr[-4000:]}")
    return done.stdout


def warm_phase(
    options: argparse.Namespace, base_url: str, miss_ids: list[str], hit_id: str, env: dict[str, str]
) -> Any:
    """The interleaved warm run in ``options.warm_processes`` children in turn, their samples pooled;
    ``env`` sets their log level.

    One process's figures carry that process's luck (where its code and data landed in memory, which
    core it ran on, what the machine did meanwhile): each child's ratios moved by a few hundredths
    around the same centre here. Pooled, they move less; the total count of calls is the same.
    """
    processes: int = options.warm_processes
    ids = iter(miss_ids)
    parts = []
    with tempfile.TemporaryDirectory(prefix="bench-warm-") as scratch:
        for number in range(processes):
            config = Path(scratch) / f"config-{number}.json"
            out = Path(scratch) / f"out-{number}.json"
            config.write_text(
                json.dumps(
                    {
                        "base_url": base_url,
                        "token": TOKEN,
                        "miss_ids": list(itertools.islice(ids, warm_misses(options))),
                        "hit_id": hit_id,
                        "peer_ids": miss_ids,
                        "warmup": options.warmup,
                        "iterations": per_process(options.iterations, processes),
                        "peer_iterations": per_process(options.peer_iterations, processes),
                        "max_seconds": 100 / processes,
                    }
                )
            )
            run_child(["-m", "bench.warm", str(config), str(out)], env, timeout=150)
            parts.append(json.loads(out.read_text()))
    return pooled(parts)


def per_process(total: int, processes: int) -> int:
    """One warm child's share of ``total`` calls, rounded up: the pool never falls short."""
    return -(-total // processes)


def warm_misses(options: argparse.Namespace) -> int:
    """Task ids one warm child sends as misses: each once, so every miss is a first sight."""
    processes: int = options.warm_processes
    warmup: int = options.warmup
    timed = per_process(options.iterations, processes) + per_process(options.peer_iterations, processes)
    return warmup + min(warmup, 20) + timed


def pooled(parts: list[dict[str, Any]]) -> dict[str, Any]:
    """The warm children's samples as one run's; ``after`` becomes the p50 (µs) by predecessor."""
    first = parts[0]
    after_ns: dict[str, dict[str, list[int]]] = {}
    for part in parts:
        for name, seen in part["after_ns"].items():
            for before, values in seen.items():
                after_ns.setdefault(name, {}).setdefault(before, []).extend(values)
    return {
        "samples_ns": {
            name: [ns for part in parts for ns in part["samples_ns"][name]] for name in first["samples_ns"]
        },
        "miss_beside_peer_ns": [ns for part in parts for ns in part["miss_beside_peer_ns"]],
        "iterations": sum(part["iterations"] for part in parts),
        "peer_iterations": sum(part["peer_iterations"] for part in parts),
        "wrong_status": {
            name: sum(part["wrong_status"][name] for part in parts) for name in first["wrong_status"]
        },
        "after": {
            name: {before: median(values) / 1000 for before, values in seen.items()}
            for name, seen in after_ns.items()
        },
        "link_cache_entries": first["link_cache_entries"],
        "log_level": first["log_level"],
        "processes": len(parts),
    }


def profile_phase(miss_ids: list[str], hit_id: str, env: dict[str, str]) -> Any:
    with tempfile.TemporaryDirectory(prefix="bench-profile-") as scratch:
        config = Path(scratch) / "config.json"
        out = Path(scratch) / "out.json"
        config.write_text(json.dumps({"miss_ids": miss_ids, "hit_id": hit_id}))
        run_child(["-m", "bench.profile", str(config), str(out)], env, timeout=120)
        return json.loads(out.read_text())


def cold_phase(
    runs: int, task_id: str, env: dict[str, str]
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, dict[str, float]]]:
    """Fresh processes of each kind in turn, after one discarded round (files in the page cache).

    ``ours`` imports the handler from src/ (bytecode cached by that first round), ``shipped`` and
    ``shipped_source`` from the layout ``make build`` ships (``bench.shipped``), with its bytecode
    and without; ``floor`` is bench/cold.py's floor. Then three more of each under
    ``-X importtime`` (``bench.importtime``): where the init goes, by part.
    """
    results: dict[str, list[dict[str, Any]]] = {kind: [] for kind in COLD_KINDS}
    with tempfile.TemporaryDirectory(prefix="bench-cold-") as scratch_name:
        scratch = Path(scratch_name)
        event_path = scratch / "event.json"
        event_path.write_bytes(EventFactory().raw(task_id))
        compiled, source_only = build_layouts(scratch)
        environments = {
            "ours": env,
            "floor": env,
            "shipped": shipped_environment(env, compiled),
            "shipped_source": {**shipped_environment(env, source_only), "PYTHONDONTWRITEBYTECODE": "1"},
        }
        script = str(REPO / "bench" / "cold.py")
        out = scratch / "out.json"
        for round_number in range(-1, runs):
            turn = round_number % len(COLD_KINDS)
            for kind in COLD_KINDS[turn:] + COLD_KINDS[:turn]:
                # -P: the script's folder is not put first on sys.path (as in Lambda, only the task root is).
                function = "floor" if kind == "floor" else "ours"
                run_child(["-P", script, function, str(event_path), str(out)], environments[kind], timeout=60)
                if round_number >= 0:  # round -1 only warms the page cache (and src/'s bytecode)
                    results[kind].append(json.loads(out.read_text()))
        parts = {
            kind: init_parts(
                script,
                ["floor" if kind == "floor" else "ours", str(event_path), str(out)],
                environments[kind],
                REPO,
                runs=3,
            )
            for kind in COLD_KINDS
        }
    return results, parts


def shipped_environment(env: dict[str, str], task_root: Path) -> dict[str, str]:
    """The task root first on the path, as Lambda puts it; the runtime's boto3 from .venv after it."""
    return {
        **env,
        "LAMBDA_TASK_ROOT": str(task_root),
        "PYTHONPATH": os.pathsep.join([str(task_root), str(REPO)]),
    }


def start_rss_child(module: str = "bench.rss") -> subprocess.Popen[str]:
    """Started while this process is still small: Linux folds the spawner's peak RSS into the child's."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), str(REPO)])}
    return subprocess.Popen(
        [sys.executable, "-m", module],
        env=env,
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def rss_phase(child: subprocess.Popen[str], count: int, prefix: str, function_env: dict[str, str]) -> Any:
    job = {"env": function_env, "prefix": prefix, "count": count, "max_seconds": 110}
    out, err = child.communicate(json.dumps(job) + "\n", timeout=150)
    if child.returncode != 0:
        raise RuntimeError(f"bench.rss exited {child.returncode}:\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1])


def archive_phase(
    child: subprocess.Popen[str],
    options: argparse.Namespace,
    aws: EmbeddedAws,
    aggregator: Aggregator,
    function_env: dict[str, str],
) -> Any:
    """Videos on disk, served by the simulator; the child archives them through the handler."""
    from local.aggregator import FakeTask  # noqa: PLC0415
    from local.demo_video import write_padded_mp4  # noqa: PLC0415

    bucket = aws.create_bucket("bench-archive")
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="bench-archive-") as scratch:
        big = write_padded_mp4(Path(scratch) / "big.mp4", options.archive_big_mb * mib)
        video = write_padded_mp4(Path(scratch) / "video.mp4", options.archive_mb * mib)
        aggregator.tasks["archive-big"] = FakeTask(url=aggregator.serve_file("archive-big", big))
        tasks = [f"archive-{i:03d}" for i in range(options.archive_runs)]
        for task_id in tasks:
            aggregator.tasks[task_id] = FakeTask(url=aggregator.serve_file(task_id, video))
        job = {
            "env": {**function_env, "ARCHIVE_BUCKET": bucket},
            "big_task": "archive-big",
            "size": options.archive_mb * mib,
            "tasks": tasks,
            "floor_urls": [aggregator.file_link(task_id) for task_id in tasks],
            "max_seconds": 120,
        }
        out, err = child.communicate(json.dumps(job) + "\n", timeout=240)
    if child.returncode != 0:
        raise RuntimeError(f"bench.archive exited {child.returncode}:\n{err[-4000:]}")
    return json.loads(out.strip().splitlines()[-1])


def count_phase(
    options: argparse.Namespace, aggregator: Aggregator, ids: list[str], function_env: dict[str, str]
) -> dict[str, dict[str, int]]:
    """Real GetSecretValue and upstream calls over the same invocations, ours then the peer's."""
    os.environ.update(function_env)
    if str(SRC) not in sys.path:
        sys.path.insert(0, str(SRC))  # where Lambda's task root puts handler.py
    real_stdout = sys.stdout
    sys.stdout = null_sink()
    try:
        import handler  # noqa: PLC0415
        from bench import peer_handler  # noqa: PLC0415
        from bench.warm import Context  # noqa: PLC0415

        make_event = EventFactory()
        order = [ids[i % len(ids)] for i in range(options.invocations)]
        # A fixed shuffle: every id is asked again and again, in no tidy order.
        order = [order[(i * 7919) % len(order)] for i in range(len(order))]
        counts: dict[str, dict[str, int]] = {}
        for name, function, client in (
            ("ours", handler.lambda_handler, handler.secrets.client),
            ("peer", peer_handler.lambda_handler, peer_handler.secrets),
        ):
            secret_reads: list[str] = []

            def count(secret_reads: list[str] = secret_reads, **kwargs: Any) -> None:
                secret_reads.append(kwargs["params"]["SecretId"])

            client.meta.events.register(GET_SECRET_EVENT, count)
            upstream_before = len(aggregator.requests)
            statuses: Counter[int] = Counter()
            for number, task_id in enumerate(order):
                statuses[function(make_event(task_id), Context(number))["statusCode"]] += 1
            client.meta.events.unregister(GET_SECRET_EVENT, count)
            counts[name] = {
                "invocations": len(order),
                "distinct_ids": len(set(order)),
                "secrets_manager_calls": len(secret_reads),
                "upstream_calls": len(aggregator.requests) - upstream_before,
                "redirects": statuses[302],
            }
        return counts
    finally:
        sys.stdout = real_stdout


def write_outputs(results: Results, markdown: Path, plot_path: Path) -> bool:
    summary, page, passed = render(results)
    print()
    print("\n".join(summary))
    print()
    markdown.parent.mkdir(parents=True, exist_ok=True)
    markdown.write_text("\n".join(page))
    plot(results, plot_path)
    print(f"bench: wrote {markdown} and {plot_path} in {results.elapsed_seconds:.0f} s")
    print("bench: every target met" if passed else "bench: some targets are not met (see the table)")
    return passed


def main(argv: list[str]) -> int:
    options = parse_args(argv)
    started = time.monotonic()
    rss_child = start_rss_child()  # first, while this process is small (no moto, no tasks yet)
    archive_child = start_rss_child("bench.archive")
    from local.aggregator import Aggregator, FakeTask  # noqa: PLC0415
    from local.aws import start_embedded_aws  # noqa: PLC0415

    print("bench: starting moto Secrets Manager and the aggregator simulator on 127.0.0.1", flush=True)
    aws = start_embedded_aws()
    aggregator = Aggregator(tokens={TOKEN}).start()
    try:
        aws.apply()
        aws.put_token(SECRET_ID, TOKEN)
        put_signing_keys(aws)  # the CloudFront keys bench.links reads
        # Each warm run asks for task ids of its own: every miss is a first sight.
        miss_count = options.warm_processes * warm_misses(options)
        miss_ids = {
            level: [f"miss-{level.lower()}-{i:05d}" for i in range(miss_count)] for level in LOG_LEVELS
        }
        hit_id, cold_id = "hit-00001", "cold-00001"
        count_ids = [f"count-{i:03d}" for i in range(options.count_ids)]
        profile_ids = [f"profile-{i:05d}" for i in range(options.profile_invocations)]
        rss_prefix = "rss-"
        rss_ids = [f"{rss_prefix}{i:05d}" for i in range(options.rss_ids)]
        for task_id in [
            *itertools.chain(*miss_ids.values()),
            hit_id,
            cold_id,
            *count_ids,
            *profile_ids,
            *rss_ids,
        ]:
            # The aggregator presigns on every request, as the real one does.
            aggregator.tasks[task_id] = FakeTask(
                state="completed", url=functools.partial(presigned_r2_url, task_id)
            )
        function_env = {
            **aws.environment(),
            **lambda_runtime_environment(),
            "UPSTREAM_BASE_URL": aggregator.base_url,
            "TOKEN_SECRET_ID": SECRET_ID,
        }
        env = child_environment(function_env)

        warm = {}
        for level in LOG_LEVELS:
            print(
                f"bench: warm latencies at {level}, {options.iterations} interleaved iterations", flush=True
            )
            level_env = {**env, "POWERTOOLS_LOG_LEVEL": level}
            warm[level] = warm_phase(options, aggregator.base_url, miss_ids[level], hit_id, level_env)
        print(f"bench: profiling {options.profile_invocations} hits and misses (pyinstrument)", flush=True)
        profile = profile_phase(profile_ids, hit_id, env)
        print(
            f"bench: cold starts, {options.cold_runs} of each kind in turn (the shipped layout built first)",
            flush=True,
        )
        cold, cold_parts = cold_phase(options.cold_runs, cold_id, env)
        print(
            f"bench: archive links, {options.link_runs} first links of each kind in fresh processes, "
            f"then {options.link_iterations} cached ones interleaved",
            flush=True,
        )
        links = links_phase(options.link_runs, options.link_iterations, env, run_child)
        print(f"bench: peak RSS after {options.rss_ids} distinct ids", flush=True)
        rss = rss_phase(rss_child, options.rss_ids, rss_prefix, function_env)
        print(f"bench: Secrets Manager and upstream calls over {options.invocations} invocations", flush=True)
        counts = count_phase(options, aggregator, count_ids, function_env)
        print(
            f"bench: archiving a {options.archive_big_mb} MiB video (peak RSS), then "
            f"{options.archive_runs} rounds of a {options.archive_mb} MiB one beside GET + PutObject",
            flush=True,
        )
        archive = archive_phase(archive_child, options, aws, aggregator, function_env)
    finally:
        for child in (rss_child, archive_child):
            if child.poll() is None:
                child.kill()
                child.wait(timeout=10)
        aggregator.stop()
        aws.stop()

    results = Results(
        warm=warm,
        cold=cold,
        cold_parts=cold_parts,
        rss=rss,
        archive=archive,
        links=links,
        counts=counts,
        profile=profile,
        options=vars(options),
        elapsed_seconds=time.monotonic() - started,
    )
    passed = write_outputs(results, options.markdown, options.plot)
    return 1 if options.check and not passed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
