"""The plot: docs/benchmarks.png (warm latency distributions at each log level, the cold starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.figures import (
    COLD_KINDS,
    COLD_SHORT_LABELS,
    CONTENDERS,
    HIT_TARGET,
    LOG_LEVELS,
    MISS_TARGET,
    Results,
    cold_ratio,
    cold_stats,
    warm_stats,
)

COLOURS = {"floor": "#7f7f7f", "framework": "#9467bd", "peer": "#d62728", "miss": "#1f77b4", "hit": "#2ca02c"}


def plot(results: Results, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    figure, axes = plt.subplots(
        1, len(LOG_LEVELS) + 1, figsize=(19, 5.5), gridspec_kw={"width_ratios": [3] * len(LOG_LEVELS) + [2]}
    )
    for level, axis in zip(LOG_LEVELS, axes, strict=False):
        warm_panel(axis, results, level)
    cold_panel(axes[-1], results)
    figure.suptitle(
        f"make bench, {results.when:%Y-%m-%d}: luma-download handler vs floors and hand-written peer"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(figure)


def warm_panel(axis: Any, results: Results, level: str) -> None:
    """The contenders' latency ECDFs at one log level, with their p50s and the two targets."""
    import numpy as np  # noqa: PLC0415
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: PLC0415

    warm = warm_stats(results, level)
    for name, label in CONTENDERS.items():
        values = np.sort(np.asarray(results.warm[level]["samples_ns"][name], dtype=float) / 1000)
        shares = np.arange(1, len(values) + 1) / len(values)
        axis.step(
            values,
            shares,
            where="post",
            color=COLOURS[name],
            label=f"{label} (p50 {warm[name]['p50']:,.0f} µs)",
        )
        axis.axvline(warm[name]["p50"], color=COLOURS[name], linestyle=":", linewidth=1)
    floor, framework = warm["floor"]["p50"], warm["framework"]["p50"]
    for limit, name, text in (
        (MISS_TARGET * (floor + framework), "miss", f"miss target\n{MISS_TARGET} x (GET + framework)"),
        (HIT_TARGET * framework, "hit", f"hit target\n{HIT_TARGET} x framework"),
    ):
        axis.axvline(limit, color=COLOURS[name], linestyle="--", linewidth=1, alpha=0.7)
        axis.annotate(
            text, (limit, 0.5), xytext=(3, 0), textcoords="offset points", fontsize=8, color=COLOURS[name]
        )
    axis.set_xscale("log")
    ticks = [
        t
        for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
        if t < 1.5 * max(warm[n]["p99"] for n in warm)
    ]
    axis.xaxis.set_major_locator(FixedLocator(ticks))
    axis.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    axis.xaxis.set_minor_formatter(NullFormatter())
    axis.set_xlabel("latency per invocation, µs (log scale)")
    axis.set_ylabel("share of invocations at or below (ECDF)")
    axis.set_title(
        f"Warm, POWERTOOLS_LOG_LEVEL={level}, interleaved ({results.warm[level]['iterations']:,} each)"
    )
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(loc="lower right", fontsize=8)


def cold_panel(axis: Any, results: Results) -> None:
    """Each kind's median init and first call as stacked bars, every run's total as a dot."""
    cold = cold_stats(results)
    for row, kind in enumerate(COLD_KINDS):
        init, first = cold[kind]["import_ms"], cold[kind]["first_call_ms"]
        axis.barh(
            row,
            init,
            height=0.5,
            color="#bcbd22",
            label="init (imports, clients), median" if row == 0 else None,
        )
        axis.barh(
            row,
            first,
            left=init,
            height=0.5,
            color="#17becf",
            label="first invocation, median" if row == 0 else None,
        )
        totals = [run["cold_s"] * 1000 for run in results.cold[kind]]
        axis.scatter(
            totals,
            [row] * len(totals),
            color="black",
            s=14,
            zorder=3,
            label="each run, total" if row == 0 else None,
        )
    axis.set_yticks(range(len(COLD_KINDS)), [COLD_SHORT_LABELS[kind] for kind in COLD_KINDS])
    axis.set_xlabel("cold start, ms (from the child's first line)")
    axis.set_title(
        f"Cold starts, {results.options['cold_runs']} each "
        f"(as shipped / floor = {cold_ratio(results, 'shipped'):.2f})"
    )
    axis.grid(True, axis="x", alpha=0.3)
    axis.set_ylim(-0.5, len(COLD_KINDS) - 0.1)
    axis.legend(loc="upper right", fontsize=8)
