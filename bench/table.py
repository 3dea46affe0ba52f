"""The tables: the summary on the terminal and the whole page of docs/benchmarks.md."""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path

from bench.figures import (
    ARCHIVE_RSS_TARGET_MB,
    COLD_KINDS,
    COLD_LABELS,
    COLD_SHORT_LABELS,
    CONTENDERS,
    LINK_KINDS,
    LINK_LABELS,
    LOG_LEVELS,
    Results,
    archive_stats,
    cold_stats,
    link_stats,
    miss_beside_peer,
    targets,
    warm_stats,
)


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    memory = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = f", {int(line.split()[1]) / 1024 / 1024:.0f} GiB RAM"
                break
    except OSError:
        pass
    versions = ", ".join(
        f"{name} {metadata.version(name)}"
        for name in ("aws-lambda-powertools", "boto3", "urllib3", "orjson", "moto")
    )
    return {
        "machine": f"{cpu}, {os.cpu_count()} cores{memory}; {platform.platform()}",
        "python": f"CPython {platform.python_version()}",
        "libraries": versions,
    }


def _warm_rows(results: Results, level: str) -> list[list[str]]:
    warm = warm_stats(results, level)
    floor = warm["floor"]
    return [
        [
            label,
            f"{warm[name]['p50']:,.0f}",
            f"{warm[name]['p99']:,.0f}",
            f"{warm[name]['p50'] / floor['p50']:.2f}",
            f"{warm[name]['p99'] / floor['p99']:.2f}",
            f"{warm[name]['n']:,.0f}",
        ]
        for name, label in CONTENDERS.items()
    ]


def _after_table(results: Results, level: str) -> list[str]:
    """p50 of each contender of the targets' loop by the one that ran just before it."""
    after = results.warm[level]["after"]
    names = list(after)

    def cell(name: str, before: str) -> str:
        value = after[name].get(before)
        return "(none)" if value is None else f"{value:,.0f}"

    return _table(
        ["contender (p50 µs) ↓ / ran just before →", *names],
        [[CONTENDERS[name], *(cell(name, before) for before in names)] for name in names],
    )


def render(results: Results) -> tuple[list[str], list[str], bool]:
    """The summary for the terminal and the whole markdown page; and whether every target passed."""
    cold = cold_stats(results)
    checks = targets(results)
    target_rows = [[t.figure, t.shown, t.limit_shown, "pass" if t.passed else "**FAIL**"] for t in checks]
    warm_header = ["contender", "p50 µs", "p99 µs", "p50 / floor p50", "p99 / floor p99", "samples"]
    warm_tables = {level: _table(warm_header, _warm_rows(results, level)) for level in LOG_LEVELS}
    after_tables = {level: _after_table(results, level) for level in LOG_LEVELS}
    cold_rows = [
        [
            COLD_LABELS[kind],
            f"{cold[kind]['cold_ms']:.0f}",
            f"{cold[kind]['import_ms']:.0f}",
            f"{cold[kind]['first_call_ms']:.1f}",
            f"{cold[kind]['cold_ms'] / cold['floor']['cold_ms']:.2f}",
            f"{cold[kind]['min_ms']:.0f} to {cold[kind]['max_ms']:.0f}",
            f"{cold[kind]['runs']:.0f}",
        ]
        for kind in COLD_KINDS
    ]
    count_rows = [
        [
            "ours" if name == "ours" else "hand-written peer",
            str(c["invocations"]),
            str(c["distinct_ids"]),
            str(c["secrets_manager_calls"]),
            str(c["upstream_calls"]),
            str(c["redirects"]),
        ]
        for name, c in results.counts.items()
    ]
    archive = results.archive
    copy = archive_stats(results)
    mib = archive["size"] / 2**20
    archive_rows = [
        [
            "ours: SQS job through the handler (stream, multipart)",
            f"{copy['ours_mbps']:.0f}",
            f"{copy['ours_s']:.2f}",
        ],
        ["floor: one GET into memory + one PutObject", f"{copy['floor_mbps']:.0f}", f"{copy['floor_s']:.2f}"],
    ]
    profile_rows, profile_notes = _profile_rows(results)
    first_link_table, cached_link_table, link_notes = _link_tables(results)
    cold_header = [
        "cold start (medians)",
        "total ms",
        "init ms",
        "first call ms",
        "/ floor",
        "range ms",
        "runs",
    ]
    passed = all(t.passed for t in checks)
    summary = [
        *_table(["figure", "measured", "target", "result"], target_rows),
        "",
        *(line for level in LOG_LEVELS for line in [f"warm, {level}:", *warm_tables[level], ""]),
        *_table(cold_header, cold_rows),
        "",
        *_table(
            ["calls", "invocations", "distinct ids", "GetSecretValue", "upstream GETs", "302s"], count_rows
        ),
        "",
        *_table([f"archive, {mib:.0f} MiB video", "MB/s (median)", "s (median)"], archive_rows),
        "",
        "archive link, first in a fresh process:",
        *first_link_table,
        "",
        "archive link, cached hit:",
        *cached_link_table,
    ]
    machine = _machine()
    rss = results.rss
    page = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`python -m bench.run`) on {results.when:%Y-%m-%d %H:%M} UTC; "
        f"the run took {results.elapsed_seconds:.0f} s. Do not edit by hand: run `make bench` again.",
        "",
        f"- Machine: {machine['machine']}",
        f"- Python: {machine['python']}; {machine['libraries']}",
        "- Command: `make bench` (installs `bench/requirements.txt` into .venv, then runs "
        "`python -m bench.run`)",
        "",
        "## Targets",
        "",
        "Every ratio compares figures measured in this same run.",
        "",
        *_table(["figure", "measured", "target", "result"], target_rows),
        "",
        *(
            [
                "Where a target is not met, [Where the time goes](#where-the-time-goes) shows what the "
                "remaining cost is made of.",
                "",
            ]
            if not passed
            else []
        ),
        "## Warm latency",
        "",
        "Per invocation, measured around the call in warm processes (µs), the samples of "
        f"{results.warm['INFO']['processes']} processes in turn pooled; one run with "
        "`POWERTOOLS_LOG_LEVEL=INFO` (the template's default), one with `WARNING` (logging turned "
        "down: the `request done` lines are dropped, the EMF metrics are not).",
        "",
        *(line for level in LOG_LEVELS for line in [f"### {level}", "", *warm_tables[level], ""]),
        "The hand-written peer's row comes from its own loop, interleaved with our miss (p50 there: "
        + ", ".join(f"{miss_beside_peer(results, level):,.0f} µs at {level}" for level in LOG_LEVELS)
        + "), not from the targets' loop: see the next section.",
        "",
        "![Latency distributions of the contenders and cold starts](benchmarks.png)",
        "",
        "### What ran just before",
        "",
        "A contender's time depends on the one that ran just before it in the same process: what that "
        "one did evicted this one's code and data from the CPU's caches, and the more code a contender "
        "runs, the more it pays to fetch it again. By predecessor (p50, µs, the targets' loop; each "
        "cell holds a quarter of the contender's samples):",
        "",
        *(line for level in LOG_LEVELS for line in [f"{level}:", "", *after_tables[level], ""]),
        "After itself (the diagonal, as in a warm container, where a function follows itself) each "
        "contender is at its fastest. This is why the figures move between harnesses: a tight "
        "loop of one contender, the issue's interleaved loop, and an interleaved loop that also "
        "holds the peer, whose 4 ms of botocore and `urllib.request` per call leave little of the "
        "others in the caches. With the peer in the same loop (scratch runs of this code), the "
        "floor's GET cost 25 to 100 µs more after the peer than after any other contender and our "
        "miss 120 to 200 µs more; the WARNING ratios read 1.16 to 1.18 for the miss and 1.15 to "
        "1.17 for the hit, against 1.11 to 1.14 and 1.12 to 1.14 without it. A Lambda container "
        "runs no other function between two invocations, so the targets' loop holds the "
        "contenders the "
        "issue that set the targets interleaved, and the peer is measured beside our miss alone.",
        "",
        "## Cold start",
        "",
        "Measured inside a fresh process from its script's first line (before any import): *init* is "
        "the imports and the module-scope clients up to a ready handler, *first call* the first "
        "invocation (for ours a cache miss that reads the secret; for the floor the secret read and "
        "one GET). The interpreter's own start-up, before that first line, is the same for all and "
        "is not counted.",
        "",
        "*Ours as `make build` ships it* is the artifact's layout (handler.py, luma_download and the "
        "pinned dependencies side by side, nothing the runtime provides) built by src/Makefile's own "
        "recipe, retargeted at this interpreter: the artifact's bytecode is CPython 3.13's and its "
        "native code arm64's, which this machine's interpreter cannot load, so here the same recipe "
        "installs this interpreter's wheels and compiles with it (unchecked hash-based .pyc, as for "
        "3.13). *As it shipped before* is the same layout without any `__pycache__`, started with "
        "`PYTHONDONTWRITEBYTECODE=1` as on Lambda's read-only /var/task: each start compiles every "
        "module from source. *Ours from src/* and the floor load bytecode cached by the first, "
        "discarded round.",
        "",
        *_table(cold_header, cold_rows),
        "",
        "Where the time goes in a cold start: three more processes of each kind under "
        "`python -X importtime` (which slows every import a little, so read the parts as parts), "
        "each module's own import time counted under its package, medians in ms. *handler module "
        "body* is our module's own code at init: building the Secrets Manager client, the pool, "
        "the service.",
        "",
        *_table(
            ["part (ms, -X importtime)", *(COLD_SHORT_LABELS[kind] for kind in COLD_KINDS)],
            [
                [part, *(f"{results.cold_parts[kind][part] / 1000:.1f}" for kind in COLD_KINDS)]
                for part in results.cold_parts["ours"]
            ],
        ),
        "",
        f"## Calls per {results.counts['ours']['invocations']} invocations",
        "",
        f"{results.counts['ours']['invocations']} invocations of a freshly imported function (the first "
        "is its cold one) over a fixed mix of task ids. GetSecretValue calls are the real ones, counted "
        "by a botocore event hook (`before-parameter-build.secrets-manager.GetSecretValue`) on each "
        "function's own client; upstream GETs are the simulator's request log.",
        "",
        *_table(
            ["function", "invocations", "distinct ids", "GetSecretValue", "upstream GETs", "302s"], count_rows
        ),
        "",
        "## Memory",
        "",
        f"A fresh process imported the handler (peak RSS then {rss['rss_after_import_mb']:.1f} MB) and "
        f"answered {rss['ids_sent']:,} distinct task ids ({rss['redirects']:,} redirects), each a cache "
        f"miss; the link cache then held {rss['link_cache_entries']} entries (its default bound, "
        f"`URL_CACHE_MAX_ENTRIES=1024`). Peak RSS (`ru_maxrss`): **{rss['peak_rss_mb']:.1f} MB** "
        f"(VmHWM {rss['vm_hwm_mb']:.1f} MB). Linux folds a spawner's peak RSS into its child's "
        "`ru_maxrss` across `exec`, so this child is started first thing, while `bench.run` is still "
        f"small (its `ru_maxrss` was {rss['rss_at_start_mb']:.1f} MB before it imported anything), "
        "and gets its job on stdin once the servers are up.",
        "",
        "## The archive",
        "",
        f"A child process imported the handler with the archive on (`ARCHIVE_BUCKET` in moto's S3; peak "
        f"RSS then {archive['rss_after_import_mb']:.1f} MB) and took one SQS job for a "
        f"{archive['big_bytes'] / 2**20:.0f} MiB video the simulator serves from disk: the worker resolved "
        "it, streamed it with `upload_fileobj` (8 MiB parts, two at a time, SHA-256 per part) "
        f"and was done in {archive['big_seconds']:.1f} s ({copy['big_mbps']:.0f} MB/s). Peak RSS right "
        f"after (`ru_maxrss`): **{archive['peak_rss_mb']:.1f} MB** (VmHWM {archive['vm_hwm_mb']:.1f} MB); "
        f"the target is under {ARCHIVE_RSS_TARGET_MB} MB, so the worker fits a 256 MB function with room "
        "to spare.",
        "",
        f"Then {len(archive['ours_seconds'])} rounds with a {mib:.0f} MiB video, each archiving a new task "
        "through the handler (an SQS event, as Lambda's event source sends it) and, in alternating "
        "order, the floor: the same file fetched with one plain pooled urllib3 GET into memory and "
        "stored with one PutObject (what a copy costs at least, without streaming, parts, checksums "
        "or the aggregator call). Each copy is deleted after its round.",
        "",
        *_table([f"{mib:.0f} MiB video", "MB/s (median)", "s (median)"], archive_rows),
        "",
        f"Ours / floor, time: {copy['ours_s'] / copy['floor_s']:.2f}. All on loopback: moto keeps "
        "objects in memory and shares the parent's GIL with the simulator, so the absolute figures say "
        "little about S3; the ratio says what streaming in parts costs beside the plainest copy.",
        "",
        "## Handing out an archive link",
        "",
        "What `archive.store.link_to(archive, copy, deadline)` costs on an archive hit: an S3 presigned "
        "GET (the default), or a CloudFront link signed with the distribution's key (`ARCHIVE_CDN_DOMAIN`), "
        "ECDSA P-256 or RSA 2048. Each archive is built as `handler.with_archive` builds it, on the "
        "clients `handler` makes at init (`bench.links`). No target is set for these figures.",
        "",
        f"**The first link** in a container: {results.options['link_runs']} fresh processes per "
        "contender, the contenders in turn, after one discarded round; each imports the handler and "
        "builds the archive (the S3 client, the Secrets Manager provider, the `SigningKey`) before its "
        "clock starts, then times one `link_to`. For CloudFront that first link reads the PEM from "
        "Secrets Manager through the Powertools provider: **a real `GetSecretValue` to moto on "
        "loopback**, the first call of that client, as on a container whose first request is an archive "
        "hit. That call is timed on its own by "
        "botocore event hooks (`before-parameter-build` to `after-call`); *without the secret read* is "
        "the rest: importing `cryptography`, loading the key, building the signer, signing. The S3 "
        "presign reads no secret: its first call in a process pays the client's first use.",
        "",
        *first_link_table,
        "",
        f"**A cached hit**: one process holds the three archives, each warmed by one link (key read, "
        f"signer built), then each contender is called {results.links['cached']['iterations']:,} times "
        "in the warm phase's de Bruijn order (after 100 untimed calls each), each the real `link_to` "
        "with a new `Deadline`; Secrets Manager calls during the loop: "
        f"{results.links['cached']['secret_calls']}.",
        "",
        *cached_link_table,
        "",
        *link_notes,
        "",
        "## Where the time goes",
        "",
        f"A separate, untimed child ran {results.profile['hit']['invocations']:,} cache hits, then "
        f"{results.profile['miss']['invocations']:,} cache misses, under pyinstrument (sampling every "
        "0.1 ms); each sample is counted once, in the most specific bucket on its stack (the JSON "
        "dump inside the log line counts as the log line; the socket read inside urllib3 as the "
        "HTTP request). The profiler slows Python code, the more so the more small calls it makes, "
        "and not the wait on a socket: the shares say where the time goes, not how long it takes. "
        "The µs columns spread the interleaved INFO p50 over the buckets by those shares: an "
        "estimate of each part's cost in the timed run (for a miss, the socket wait is "
        "under-weighted, so the HTTP request's share is a floor).",
        "",
        *_table(
            ["bucket", "cache hit, share", "≈ µs of the p50", "cache miss, share", "≈ µs of the p50"],
            profile_rows,
        ),
        "",
        *profile_notes,
        "",
        "Some parts timed alone in the same child, in a tight loop (warm caches, so a lower bound):",
        "",
        *_table(
            ["part", "µs per call"],
            [[name, f"{value:.1f}"] for name, value in results.profile["direct_us"].items()],
        ),
        "",
        "## Method",
        "",
        "- One run, all on 127.0.0.1: moto's Secrets Manager (server mode) holds the token and the "
        "aggregator simulator (`local/aggregator.py`) serves completed tasks, presigning a fresh URL "
        "on every request. Both run in the parent process; the functions run in child processes, so "
        "they never share a GIL (or a core's time slice) with the servers, as in production.",
        f"- Warm: {results.warm['INFO']['processes']} child processes per log level, one after "
        "the other, each holding all the contenders; their samples are pooled, so no figure rests on "
        "one process's luck (where its code landed in memory, which core it ran on: one process's "
        "ratios moved by a few hundredths around the same centre). The targets' loops call the "
        f"floor, the framework floor, our miss and our hit {results.warm['INFO']['iterations']:,} times "
        f"each in all (after {results.options['warmup']} untimed calls each per process) in the "
        "order of a de Bruijn sequence repeated (`bench.warm.pair_order`): each contender runs "
        "right after every contender, itself included, equally often, and machine noise falls on "
        "all alike. The peer's loop does the same with the peer and our miss "
        f"({results.warm['INFO']['peer_iterations']:,} calls each). "
        "The floor is a raw pooled `urllib3` GET with the bearer header to the same simulator "
        "endpoint our handler asks; the "
        "framework floor is `bench/framework_floor.py` (the Powertools HTTP resolver routing the same "
        "path, Logger's context injection and one INFO line, Metrics with one count flushed as EMF, "
        "a constant 302): what any handler on the required stack pays per request; the "
        "peer is `bench/peer_handler.py` (boto3 client at module scope, `get_secret_value` on every "
        "call, a new connection per call with `urllib.request`, no cache, one printed JSON line per "
        "request); *miss* sends a task id never seen before each time, *hit* the same id every time.",
        "- Each invocation gets what the Lambda runtime gives it, before the clock starts: a new "
        "event parsed from its own JSON bytes (its own API Gateway request id and trace header), a "
        "new context (its own request id), and the `_X_AMZN_TRACE_ID` variable the runtime sets "
        "under active tracing (the Logger writes it on every line).",
        "- Logging as deployed: at INFO the function logs its one `request done` line per request, "
        "at WARNING only an error's; both write their EMF metrics blobs. Stdout is what Lambda gives "
        "a Python function: a pipe that another process drains (there the log agent, here `cat` "
        "into /dev/null), written through the runtime's unbuffered wrapper, so every line is one "
        "write(2) into the pipe.",
        "- The children get the variables the Lambda runtime sets (`LAMBDA_TASK_ROOT`, "
        "`AWS_LAMBDA_FUNCTION_NAME`, memory size, ...). The function carries no tracing SDK: "
        "deployed with `Tracing: Active`, Lambda records each invocation's segment outside it.",
        f"- Cold: {results.options['cold_runs']} fresh processes of each kind, the kinds in turn, "
        "after one discarded round (files in the page cache; src/'s and .venv's bytecode compiled). "
        "Each writes to its stdout, a pipe the parent drains. Medians are compared.",
        "- Percentiles are nearest-rank over all samples; nothing is trimmed.",
        "",
    ]
    return summary, page, passed


def _link_tables(results: Results) -> tuple[list[str], list[str], list[str]]:
    """The first link's table (ms), the cached hit's (µs), and what they say about RSA and ECDSA."""
    links = link_stats(results)
    sign_us = results.links["cached"]["sign_us"]
    first = _table(
        [
            "first link (fresh process)",
            "ms (median)",
            "range ms",
            "of it GetSecretValue ms",
            "without the secret read ms",
            "range ms",
            "runs",
        ],
        [
            [
                LINK_LABELS[kind],
                f"{links[kind]['first_ms']:.1f}",
                f"{links[kind]['first_min_ms']:.1f} to {links[kind]['first_max_ms']:.1f}",
                f"{links[kind]['secret_ms']:.1f}" if kind in sign_us else "none",
                f"{links[kind]['own_ms']:.1f}",
                f"{links[kind]['own_min_ms']:.1f} to {links[kind]['own_max_ms']:.1f}",
                f"{links[kind]['runs']:.0f}",
            ]
            for kind in LINK_KINDS
        ],
    )
    cached = _table(
        ["cached hit", "p50 µs", "p90 µs", "p50 / S3 presign p50", "signature alone µs", "samples"],
        [
            [
                LINK_LABELS[kind],
                f"{links[kind]['p50']:,.0f}",
                f"{links[kind]['p90']:,.0f}",
                f"{links[kind]['p50'] / links['s3']['p50']:.2f}",
                f"{sign_us[kind]:,.0f}" if kind in sign_us else "",
                f"{links[kind]['n']:,.0f}",
            ]
            for kind in LINK_KINDS
        ],
    )
    notes = [
        f"RSA / ECDSA: the signature alone {sign_us['rsa'] / sign_us['ecdsa']:.1f}x, a cached link "
        f"{links['rsa']['p50'] / links['ecdsa']['p50']:.1f}x (p50), the first link without the secret "
        f"read {links['rsa']['own_ms'] / links['ecdsa']['own_ms']:.1f}x (medians). *Signature alone* "
        "is the signing function the real path builds from the same secret, over a link's canned "
        "policy, in a tight loop (median of 7 repeats of 200): a lower bound.",
    ]
    return first, cached, notes


def _profile_rows(results: Results) -> tuple[list[list[str]], list[str]]:
    hit = results.profile["hit"]["seconds"]
    miss = results.profile["miss"]["seconds"]
    hit_total, miss_total = sum(hit.values()) or 1.0, sum(miss.values()) or 1.0
    buckets = sorted(
        set(hit) | set(miss),
        key=lambda name: -(hit.get(name, 0) / hit_total + miss.get(name, 0) / miss_total),
    )
    # Each bucket's share of the interleaved INFO p50: an estimate of its µs (see the text above).
    warm = warm_stats(results)
    hit_us, miss_us = warm["hit"]["p50"] / hit_total, warm["miss"]["p50"] / miss_total
    rows = [
        [
            name,
            f"{100 * hit.get(name, 0) / hit_total:.0f} %",
            f"{hit.get(name, 0) * hit_us:.0f}",
            f"{100 * miss.get(name, 0) / miss_total:.0f} %",
            f"{miss.get(name, 0) * miss_us:.0f}",
        ]
        for name in buckets
    ]

    def powertools(share: dict[str, float], total: float) -> float:
        return 100 * sum(v for k, v in share.items() if k.startswith("Powertools")) / total

    http = next((k for k in miss if k.startswith("upstream HTTP")), "")
    notes = [
        f"Powertools (Logger, Metrics, event handler) takes {powertools(hit, hit_total):.0f} % of a hit "
        f"and {powertools(miss, miss_total):.0f} % of a miss; the upstream HTTP request, the floor's "
        f"own work, {100 * miss.get(http, 0) / miss_total:.0f} % of a miss.",
    ]
    return rows, notes
