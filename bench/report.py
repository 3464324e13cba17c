"""Figures, each next to its baseline from the same run, and the result files."""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

REPORTED = "(reported)"


@dataclass(frozen=True)
class Figure:
    key: str  # stable name, e.g. "appends_single_vs_eventsourcing"
    benchmark: str
    what: str
    value: float
    unit: str
    baseline_name: str
    baseline: float | None
    ratio: float | None  # value / baseline, or the quantity the target is about
    target: str
    passed: bool

    @property
    def informational(self) -> bool:
        """Shown to explain other figures; it has no target of its own."""
        return self.target == REPORTED

    @property
    def verdict(self) -> str:
        if self.informational:
            return "—"
        return "PASS" if self.passed else "MISS"


def ratio_figure(key: str, benchmark: str, what: str, value: float, unit: str,
                 baseline_name: str, baseline: float, at_least: float) -> Figure:
    ratio = value / baseline if baseline else 0.0
    target = f"≥ {at_least:g}×" if at_least >= 1 else f"≥ {at_least:.0%}"
    return Figure(key, benchmark, what, value, unit, baseline_name, baseline, ratio, target,
                  ratio >= at_least)


def ratio_at_most_figure(key: str, benchmark: str, what: str, value: float, unit: str,
                         baseline_name: str, baseline: float, at_most: float) -> Figure:
    """A ratio that must stay small: value / baseline ≤ ``at_most``."""
    ratio = value / baseline if baseline else float("inf")
    return Figure(key, benchmark, what, value, unit, baseline_name, baseline, ratio,
                  f"≤ {at_most:g}×", ratio <= at_most)


def limit_figure(key: str, benchmark: str, what: str, value: float, unit: str, at_most: float,
                 baseline_name: str = "", baseline: float | None = None) -> Figure:
    """An absolute quantity with a ceiling (a count, milliseconds): value ≤ ``at_most``. The
    baseline, if any, only gives the value its context (e.g. how many were sent)."""
    return Figure(key, benchmark, what, value, unit, baseline_name, baseline, None,
                  f"≤ {at_most:g} {unit}".strip(), value <= at_most)


def reported_figure(key: str, benchmark: str, what: str, value: float, unit: str,
                    baseline_name: str = "", baseline: float | None = None) -> Figure:
    """A quantity shown for what it explains, with no target."""
    return Figure(key, benchmark, what, value, unit, baseline_name, baseline, None, REPORTED,
                  True)


def reported_ratio(key: str, benchmark: str, what: str, value: float, unit: str,
                   baseline_name: str, baseline: float) -> Figure:
    """A ratio shown for what it explains, with no target."""
    return Figure(key, benchmark, what, value, unit, baseline_name, baseline,
                  value / baseline if baseline else 0.0, REPORTED, True)


def _number(x: float | None, unit: str = "") -> str:
    if x is None:
        return "—"
    if isinstance(x, int):  # a count
        text = f"{x:,}"
    else:
        text = f"{x:,.0f}" if abs(x) >= 100 else f"{x:,.2f}"
    return f"{text} {unit}".strip()


def _ratio(f: Figure) -> str:
    if f.ratio is None:
        return "—"
    return f"{f.ratio:.0%}" if "%" in f.target or f.informational else f"{f.ratio:.2f}×"


def table(figures: list[Figure]) -> str:
    rows = ["| benchmark | figure | value | baseline (same run) | ratio | target | result |",
            "|---|---|---|---|---|---|---|"]
    for f in figures:
        baseline = f"{f.baseline_name}: {_number(f.baseline, f.unit)}" if f.baseline_name \
            else "—"
        rows.append(f"| {f.benchmark} | {f.what} | {_number(f.value, f.unit)} | {baseline} "
                    f"| {_ratio(f)} | {f.target} | {f.verdict} |")
    return "\n".join(rows)


def console_line(f: Figure) -> str:
    baseline = f"  vs {f.baseline_name} {_number(f.baseline, f.unit)}" if f.baseline_name \
        else ""
    return (f"  {f.what}: {_number(f.value, f.unit)}{baseline}  ratio {_ratio(f)}  "
            f"target {f.target}  {f.verdict}")


def write_results(out: Path, figures: list[Figure], details: dict, *, mode: str) -> None:
    out.mkdir(parents=True, exist_ok=True)
    meta = {"finished_at": datetime.now(UTC).isoformat(timespec="seconds"), "mode": mode,
            "python": platform.python_version(), "machine": platform.machine(),
            "cpus": _cpus()}
    (out / "latest.json").write_text(json.dumps(
        {"meta": meta, "figures": [asdict(f) | {"result": f.verdict} for f in figures],
         "details": details}, indent=2, ensure_ascii=False) + "\n")
    (out / "latest.md").write_text(
        f"# Benchmark results ({mode} run, {meta['finished_at']})\n\n"
        f"Python {meta['python']}, {meta['cpus']} CPUs, embedded PostgreSQL and Tansu broker. "
        "Every ratio is against a baseline measured in the same run.\n\n"
        + table(figures) + "\n")


def _cpus() -> int:
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else \
        (os.cpu_count() or 0)


def plot_latency(latencies_ms: list[float], path: Path, *, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    values = sorted(latencies_ms)
    fig, (hist, cdf) = plt.subplots(1, 2, figsize=(11, 4))
    hist.hist(values, bins=50, color="#4477aa")
    hist.set_xlabel("latency (ms)")
    hist.set_ylabel("certifications")
    hist.set_title("distribution")
    if values:
        cdf.plot(values, [(i + 1) / len(values) * 100 for i in range(len(values))],
                 color="#4477aa")
    cdf.axvline(250, color="#cc3311", linestyle="--", label="p99 target 250 ms")
    cdf.axhline(99, color="#999999", linestyle=":", linewidth=1)
    cdf.set_xlabel("latency (ms)")
    cdf.set_ylabel("percentile")
    cdf.set_title("cumulative")
    cdf.legend(loc="lower right")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
