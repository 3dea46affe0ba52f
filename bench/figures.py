"""The figures of a run: what was measured, the statistics over it, and the targets they meet.

``bench.table`` writes them as tables (the terminal and docs/benchmarks.md), ``bench.plot`` as
docs/benchmarks.png.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bench.common import median, percentile

CONTENDERS = {
    "floor": "floor: raw pooled urllib3 GET",
    "framework": "framework floor: Powertools route, log line, EMF, constant 302",
    "peer": "hand-written peer",
    "miss": "ours, cache miss",
    "hit": "ours, cache hit",
}
# Warm runs: the template's default level, and the one an operator turns logging down to.
LOG_LEVELS = ("INFO", "WARNING")
COLD_KINDS = ("ours", "shipped", "shipped_source", "floor")
COLD_LABELS = {
    "ours": "ours from src/ (import handler + first call, a miss)",
    "shipped": "ours as `make build` ships it, with its bytecode",
    "shipped_source": "ours as it shipped before: no bytecode, compiled at each start",
    "floor": "cold floor (boto3, urllib3, Logger, Metrics, HTTP resolver; secret + one GET)",
}
COLD_SHORT_LABELS = {
    "ours": "ours, src/",
    "shipped": "ours as shipped",
    "shipped_source": "as shipped before (no bytecode)",
    "floor": "cold floor",
}
# Handing out an archive link (bench.links): no target, the figures say what each way costs.
LINK_KINDS = ("s3", "ecdsa", "rsa")
LINK_LABELS = {
    "s3": "S3 presign (`generate_presigned_url`)",
    "ecdsa": "CloudFront, ECDSA P-256",
    "rsa": "CloudFront, RSA 2048",
}
HIT_TARGET = 1.15  # hit p50 / framework floor p50
MISS_TARGET = 1.15  # miss p50 / (raw GET p50 + framework floor p50)
COLD_TARGET = 1.05
ARCHIVE_RSS_TARGET_MB = 150  # the worker must fit a 256 MB function with room to spare


@dataclass
class Results:
    warm: dict[str, dict[str, Any]]  # by log level
    cold: dict[str, list[dict[str, Any]]]
    cold_parts: dict[str, dict[str, float]]  # µs of import time by part (bench.importtime), by kind
    rss: dict[str, Any]
    archive: dict[str, Any]
    links: dict[str, Any]  # bench.links: "first" (fresh processes, by kind) and "cached" (samples)
    counts: dict[str, dict[str, int]]
    profile: dict[str, Any]
    options: dict[str, Any]
    elapsed_seconds: float
    when: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Target:
    figure: str
    value: float
    shown: str
    limit: float
    limit_shown: str

    @property
    def passed(self) -> bool:
        return self.value <= self.limit


def warm_stats(results: Results, level: str = "INFO") -> dict[str, dict[str, float]]:
    stats = {}
    for name in CONTENDERS:
        values = sorted(ns / 1000 for ns in results.warm[level]["samples_ns"][name])
        stats[name] = {"p50": median(values), "p99": percentile(values, 0.99), "n": len(values)}
    return stats


def miss_beside_peer(results: Results, level: str = "INFO") -> float:
    """Our miss's p50 (µs) in the peer's loop, where the peer's ratio is measured."""
    return median([ns / 1000 for ns in results.warm[level]["miss_beside_peer_ns"]])


def cold_stats(results: Results) -> dict[str, dict[str, float]]:
    return {
        kind: {
            "cold_ms": median([run["cold_s"] * 1000 for run in runs]),
            "import_ms": median([run["import_s"] * 1000 for run in runs]),
            "first_call_ms": median([run["first_call_s"] * 1000 for run in runs]),
            "min_ms": min(run["cold_s"] * 1000 for run in runs),
            "max_ms": max(run["cold_s"] * 1000 for run in runs),
            "runs": len(runs),
        }
        for kind, runs in results.cold.items()
    }


def archive_stats(results: Results) -> dict[str, float]:
    """Median seconds and MB/s (10^6 bytes) of our archive copies and of the floor's."""
    archive = results.archive
    ours, floor = median(archive["ours_seconds"]), median(archive["floor_seconds"])
    return {
        "ours_s": ours,
        "floor_s": floor,
        "ours_mbps": archive["size"] / ours / 1e6,
        "floor_mbps": archive["size"] / floor / 1e6,
        "big_mbps": archive["big_bytes"] / archive["big_seconds"] / 1e6,
    }


def link_stats(results: Results) -> dict[str, dict[str, float]]:
    """By contender: the first link (ms: medians, ranges; the GetSecretValue call and the rest), and
    the cached hit (µs: p50, p90)."""
    stats = {}
    for kind in LINK_KINDS:
        runs = results.links["first"][kind]
        totals = [run["total_s"] * 1000 for run in runs]
        own = [(run["total_s"] - run["secret_s"]) * 1000 for run in runs]
        hits = sorted(ns / 1000 for ns in results.links["cached"]["samples_ns"][kind])
        stats[kind] = {
            "first_ms": median(totals),
            "first_min_ms": min(totals),
            "first_max_ms": max(totals),
            "secret_ms": median([run["secret_s"] * 1000 for run in runs]),
            "own_ms": median(own),
            "own_min_ms": min(own),
            "own_max_ms": max(own),
            "runs": len(runs),
            "p50": median(hits),
            "p90": percentile(hits, 0.9),
            "n": len(hits),
        }
    return stats


def warm_targets(results: Results, level: str) -> list[Target]:
    warm = warm_stats(results, level)
    floor, framework = warm["floor"]["p50"], warm["framework"]["p50"]
    hit_ratio = warm["hit"]["p50"] / framework
    miss_ratio = warm["miss"]["p50"] / (floor + framework)
    return [
        Target(
            f"cache hit p50 / framework floor p50, {level}",
            hit_ratio,
            f"{hit_ratio:.2f}",
            HIT_TARGET,
            f"≤ {HIT_TARGET}",
        ),
        Target(
            f"cache miss p50 / (raw GET p50 + framework floor p50), {level}",
            miss_ratio,
            f"{miss_ratio:.2f}",
            MISS_TARGET,
            f"≤ {MISS_TARGET}",
        ),
    ]


def cold_ratio(results: Results, kind: str) -> float:
    cold = cold_stats(results)
    return cold[kind]["cold_ms"] / cold["floor"]["cold_ms"]


def targets(results: Results) -> list[Target]:
    warm = warm_stats(results)
    ours_counts = results.counts["ours"]
    peer_ratio = miss_beside_peer(results) / warm["peer"]["p50"]
    return [
        *(target for level in LOG_LEVELS for target in warm_targets(results, level)),
        Target(
            "our miss p50 / hand-written peer p50 (interleaved in their own loop), INFO",
            peer_ratio,
            f"{peer_ratio:.2f}",
            0.5,
            "≤ 0.5",
        ),
        *(
            Target(
                f"cold start / cold floor (medians): {label}",
                cold_ratio(results, kind),
                f"{cold_ratio(results, kind):.2f}",
                COLD_TARGET,
                f"≤ {COLD_TARGET}",
            )
            for kind, label in (("shipped", "ours as `make build` ships it"), ("ours", "ours from src/"))
        ),
        Target(
            f"Secrets Manager calls over {ours_counts['invocations']} invocations",
            ours_counts["secrets_manager_calls"],
            str(ours_counts["secrets_manager_calls"]),
            1,
            "≤ 1",
        ),
        Target(
            f"peak RSS after {results.rss['ids_sent']:,} distinct ids",
            results.rss["peak_rss_mb"],
            f"{results.rss['peak_rss_mb']:.1f} MB",
            90,
            "≤ 90 MB",
        ),
        Target(
            f"peak RSS while archiving a {results.archive['big_bytes'] / 2**20:.0f} MiB video",
            results.archive["peak_rss_mb"],
            f"{results.archive['peak_rss_mb']:.1f} MB",
            ARCHIVE_RSS_TARGET_MB,
            f"< {ARCHIVE_RSS_TARGET_MB} MB",
        ),
    ]
