"""The plot: docs/benchmarks.png (warm latency distributions beside the cold starts)."""

from __future__ import annotations

from pathlib import Path

from bench.figures import CONTENDERS, HIT_TARGET, MISS_TARGET, Results, cold_stats, warm_stats

COLOURS = {"floor": "#7f7f7f", "framework": "#9467bd", "peer": "#d62728", "miss": "#1f77b4", "hit": "#2ca02c"}


def plot(results: Results, path: Path) -> None:
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415
    import numpy as np  # noqa: PLC0415
    from matplotlib.ticker import FixedLocator, FuncFormatter, NullFormatter  # noqa: PLC0415

    warm = warm_stats(results)
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5), gridspec_kw={"width_ratios": [3, 2]})
    for name, label in CONTENDERS.items():
        values = np.sort(np.asarray(results.warm["samples_ns"][name], dtype=float) / 1000)
        shares = np.arange(1, len(values) + 1) / len(values)
        left.step(
            values,
            shares,
            where="post",
            color=COLOURS[name],
            label=f"{label} (p50 {warm[name]['p50']:,.0f} µs)",
        )
        left.axvline(warm[name]["p50"], color=COLOURS[name], linestyle=":", linewidth=1)
    floor, framework = warm["floor"]["p50"], warm["framework"]["p50"]
    for limit, name, text in (
        (MISS_TARGET * (floor + framework), "miss", f"miss target\n{MISS_TARGET} x (GET + framework)"),
        (HIT_TARGET * framework, "hit", f"hit target\n{HIT_TARGET} x framework"),
    ):
        left.axvline(limit, color=COLOURS[name], linestyle="--", linewidth=1, alpha=0.7)
        left.annotate(
            text,
            (limit, 0.5),
            xytext=(3, 0),
            textcoords="offset points",
            fontsize=8,
            color=COLOURS[name],
        )
    left.set_xscale("log")
    ticks = [
        t
        for t in (50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000)
        if t < 1.5 * max(warm[n]["p99"] for n in warm)
    ]
    left.xaxis.set_major_locator(FixedLocator(ticks))
    left.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:,.0f}"))
    left.xaxis.set_minor_formatter(NullFormatter())
    left.set_xlabel("latency per invocation, µs (log scale)")
    left.set_ylabel("share of invocations at or below (ECDF)")
    left.set_title(f"Warm invocations, interleaved ({results.warm['iterations']:,} each)")
    left.grid(True, which="both", alpha=0.3)
    left.legend(loc="lower right", fontsize=9)

    kinds = [("floor", "floor"), ("ours", "ours")]
    cold = cold_stats(results)
    for row, (kind, _label) in enumerate(kinds):
        init, first = cold[kind]["import_ms"], cold[kind]["first_call_ms"]
        right.barh(
            row,
            init,
            height=0.5,
            color="#bcbd22",
            label="init (imports, clients), median" if row == 0 else None,
        )
        right.barh(
            row,
            first,
            left=init,
            height=0.5,
            color="#17becf",
            label="first invocation, median" if row == 0 else None,
        )
        totals = [run["cold_s"] * 1000 for run in results.cold[kind]]
        right.scatter(
            totals,
            [row] * len(totals),
            color="black",
            s=14,
            zorder=3,
            label="each run, total" if row == 0 else None,
        )
    right.set_yticks(range(len(kinds)), [label for _, label in kinds])
    right.set_xlabel("cold start, ms (from the child's first line)")
    ratio = cold["ours"]["cold_ms"] / cold["floor"]["cold_ms"]
    right.set_title(f"Cold starts, {results.options['cold_runs']} each (ours / floor = {ratio:.2f})")
    right.grid(True, axis="x", alpha=0.3)
    right.set_ylim(-0.5, len(kinds) - 0.1)
    right.legend(loc="upper left", fontsize=8, ncol=2)
    figure.suptitle(
        f"make bench, {results.when:%Y-%m-%d}: luma-download handler vs floors and hand-written peer"
    )
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110, metadata={"Software": None})
    plt.close(figure)
