"""``python -m bench [--quick]``: the benchmarks on servers of their own.

Starts an embedded PostgreSQL and an embedded broker (or uses ``POSTGRES_URL`` /
``KAFKA_BOOTSTRAP_SERVERS``), runs each benchmark, prints each figure next to its baseline from
the same run with the ratio, the target and PASS/MISS, and writes ``bench/results/latest.json``,
``latest.md`` and ``latency.png``. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.report import (
    REPORTED,
    Figure,
    console_line,
    limit_figure,
    plot_latency,
    ratio_at_most_figure,
    ratio_figure,
    reported_figure,
    reported_ratio,
    write_results,
)

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Sizes:
    single_commits: int
    batch_commits: int
    relay_events: int
    replay_small: int
    replay_large: int
    certifications: int
    cert_rate: float
    background_rate: float
    repeats: int
    burst_trainees: int  # check-ins sent at once
    growth_small: int  # attendance records already in the two classes compared
    growth_large: int
    growth_requests: int  # commands timed in each of them
    throughput_trainees: int  # per class and round
    province_small: int  # trainees in the two provinces compared
    province_large: int
    province_reads: int  # timed reads per province figure


FULL = Sizes(single_commits=2000, batch_commits=300, relay_events=50_000,
             replay_small=250_000, replay_large=1_000_000, certifications=1020,
             cert_rate=20, background_rate=100, repeats=3, burst_trainees=200,
             growth_small=100, growth_large=5000, growth_requests=200,
             throughput_trainees=100, province_small=10_000, province_large=100_000,
             province_reads=2000)
QUICK = Sizes(single_commits=200, batch_commits=20, relay_events=3000, replay_small=5000,
              replay_large=20_000, certifications=30, cert_rate=20, background_rate=50,
              repeats=1, burst_trainees=50, growth_small=100, growth_large=1000,
              growth_requests=50, throughput_trainees=12, province_small=1000,
              province_large=10_000, province_reads=200)
BENCHMARKS = ("appends", "relay", "replay", "latency", "messagedb", "burst", "growth",
              "throughput", "province", "tracing")
THROUGHPUT_CLASSES, THROUGHPUT_CONCURRENCY = 20, 32
BURST_P99_MS, GROWTH_AT_MOST, THROUGHPUT_AT_LEAST = 100, 1.2, 0.5
PROVINCE_DURING_JOB_AT_MOST = 2.0
PROVINCE_AT_MOST = 1.2
TRACING_OFF_AT_LEAST = 0.95  # appends with tracing's hooks, off, vs without them: noise only


def say(text: str) -> None:
    print(text, flush=True)


async def run_appends(pg: str, sizes: Sizes, figures: list[Figure], details: dict) -> None:
    from bench.store_appends import bench_appends

    for label, batch, commits in (("single-event commits", 1, sizes.single_commits),
                                  ("100-event batches", 100, sizes.batch_commits)):
        say(f"[1] store appends, {label}: {commits} commits x {batch} event(s), "
            f"median of {sizes.repeats}")
        rates = await bench_appends(pg, batch=batch, commits=commits, repeats=sizes.repeats)
        details[f"appends_batch_{batch}"] = {k: asdict(v) for k, v in rates.items()}
        key = "single" if batch == 1 else "batch100"
        for f in (
            ratio_figure(f"appends_{key}_vs_eventsourcing", "1 store appends",
                         f"{label}, pooled, vs eventsourcing recorder",
                         rates["songji"].per_second, "events/s", "eventsourcing",
                         rates["eventsourcing"].per_second, 1.5),
            ratio_figure(f"appends_{key}_vs_raw", "1 store appends",
                         f"{label}, one connection, vs raw inserts",
                         rates["songji_one_connection"].per_second, "events/s",
                         "raw asyncpg", rates["raw"].per_second, 0.7),
            reported_ratio(f"appends_{key}_row_alone_vs_raw", "1 store appends",
                           f"{label}: the store's row alone (plain INSERT: no head lock, "
                           "hash chain or version check) vs raw inserts",
                           rates["row_alone"].per_second, "events/s", "raw asyncpg",
                           rates["raw"].per_second),
        ):
            figures.append(f)
            say(console_line(f))


async def run_relay(pg: str, kafka: str, sizes: Sizes, figures: list[Figure],
                    details: dict) -> None:
    from bench.relay_publish import bench_relay

    say(f"[2] relay publish: {sizes.relay_events} events, median of {sizes.repeats}")
    rates = await bench_relay(pg, kafka, events=sizes.relay_events, repeats=sizes.repeats)
    details["relay"] = {k: asdict(v) for k, v in rates.items()}
    f = ratio_figure("relay_vs_raw_producer", "2 relay", "relay publish rate vs raw producer",
                     rates["relay"].per_second, "events/s", "raw aiokafka",
                     rates["raw"].per_second, 0.5)
    figures.append(f)
    say(console_line(f))
    for name, rate in rates.items():
        if name not in ("relay", "raw"):
            say(f"  (for comparison) {rate.name}: {rate.per_second:,.0f} events/s")


async def run_replay(kafka: str, sizes: Sizes, figures: list[Figure], details: dict) -> None:
    from bench.history import write_history
    from bench.replay import measure

    runs = {}
    for size in (sizes.replay_small, sizes.replay_large):
        prefix = f"benchreplay{uuid.uuid4().hex[:6]}"
        say(f"[3] replay: writing a history of {size:,} events to {prefix}.*")
        started = time.perf_counter()
        written = await write_history(kafka, prefix, size, progress=lambda n: None)
        say(f"  written {written:,} events in {time.perf_counter() - started:.1f}s")
        for mode in ("raw", "ledger"):
            run = await asyncio.to_thread(measure, mode, kafka, prefix)
            runs[(size, mode)] = run
            say(f"  {mode}: {run.events:,} events in {run.seconds:.1f}s "
                f"({run.per_second:,.0f}/s, CPU {run.cpu_seconds:.1f}s), "
                f"peak RSS {run.peak_rss_mb:,.0f} MB"
                + (f" (own {run.own_peak_rss_mb:,.0f} + child {run.children_peak_rss_mb:,.0f}),"
                   f" {run.lines:,} lines (read {run.read_seconds:.1f}s, build "
                   f"{run.build_seconds:.1f}s, ledger ~{run.ledger_mb:,.0f} MB)"
                   if mode == "ledger" else ""))
    details["replay"] = {f"{size}_{mode}": asdict(run) for (size, mode), run in runs.items()}
    small, large = sizes.replay_small, sizes.replay_large
    raw, ledger = runs[(large, "raw")], runs[(large, "ledger")]
    limit = 20.0 * large / 1_000_000
    beyond_small = runs[(small, "ledger")].peak_rss_mb - runs[(small, "ledger")].ledger_mb
    beyond_large = ledger.peak_rss_mb - ledger.ledger_mb
    growth = beyond_large / beyond_small if beyond_small else 0.0
    for f in (
        ratio_figure("replay_vs_raw_consumer", "3 replay",
                     f"ledger rebuilt from {large:,} events vs raw consumer",
                     ledger.per_second, "events/s", "raw consumer", raw.per_second, 0.5),
        Figure("replay_seconds", "3 replay", f"time to rebuild from {large:,} events",
               ledger.seconds, "s", "raw consumer", raw.seconds, None,
               f"< {limit:g} s", ledger.seconds < limit),
        Figure("replay_memory_growth", "3 replay",
               f"peak RSS beyond the ledger at {large:,} events (vs at {small:,})",
               beyond_large, "MB", f"at {small:,}", beyond_small, growth,
               "≤ 1.25× (flat)", growth <= 1.25),
    ):
        figures.append(f)
        say(console_line(f))


async def run_latency(pg: str, kafka: str, sizes: Sizes, figures: list[Figure],
                      details: dict, out: Path) -> None:
    from bench.latency import bench_latency

    say(f"[4] latency, SkillLevelCertified appended -> payout line in funding's ledger: "
        f"{sizes.certifications} certifications")
    result = await bench_latency(pg, kafka, certifications=sizes.certifications,
                                 rate_per_second=sizes.cert_rate,
                                 background_per_second=sizes.background_rate,
                                 progress=say)
    p50, p95, p99 = (result.quantile(q) for q in (50, 95, 99))
    details["latency"] = {"certifications": result.certifications, "observed": result.observed,
                          "background_events": result.background_events,
                          "cert_rate_per_s": sizes.cert_rate,
                          "background_rate_per_s": sizes.background_rate,
                          "p50_ms": p50, "p95_ms": p95, "p99_ms": p99,
                          "max_ms": max(result.latencies_ms, default=float("nan")),
                          "latencies_ms": [round(x, 2) for x in result.latencies_ms]}
    complete = result.observed == result.certifications
    for f in (
        Figure("latency_p50_ms", "4 latency", "p50 certified -> ledger line", p50, "ms", "",
               None, None, REPORTED, complete),
        Figure("latency_p95_ms", "4 latency", "p95 certified -> ledger line", p95, "ms", "",
               None, None, REPORTED, complete),
        Figure("latency_p99_ms", "4 latency", "p99 certified -> ledger line", p99, "ms", "",
               None, None, "< 250 ms", complete and p99 < 250),
        Figure("latency_lines_seen", "4 latency", "certifications whose line appeared",
               result.observed, "", "appended", result.certifications,
               result.observed / max(result.certifications, 1), "all", complete),
    ):
        figures.append(f)
        say(console_line(f))
    plot_latency(result.latencies_ms, out / "latency.png",
                 title=f"SkillLevelCertified -> funding ledger line, {result.observed} "
                       f"certifications, background {sizes.background_rate:g} events/s "
                       f"(p50 {p50:.0f} ms, p99 {p99:.0f} ms)")


async def run_message_db(pg: str, sizes: Sizes, figures: list[Figure], details: dict) -> None:
    from bench.message_db_appends import bench_message_db

    for label, batch, commits in (("single-event commits", 1, sizes.single_commits),
                                  ("100-event appends", 100, sizes.batch_commits)):
        say(f"[5] appends vs Message DB, {label}: {commits} commits x {batch} event(s), "
            f"median of {sizes.repeats} alternating rounds")
        rates = await bench_message_db(pg, batch=batch, commits=commits, repeats=sizes.repeats)
        details[f"message_db_batch_{batch}"] = {k: asdict(v) for k, v in rates.items()}
        key = "single" if batch == 1 else "batch100"
        f = ratio_figure(f"appends_{key}_vs_message_db", "5 Message DB appends",
                         f"{label}, pooled, vs Message DB write_message",
                         rates["songji"].per_second, "events/s", "Message DB",
                         rates["message_db"].per_second, 1.0)
        figures.append(f)
        say(console_line(f))


async def run_burst(pg: str, kafka: str, sizes: Sizes, figures: list[Figure],
                    details: dict) -> None:
    from bench.checkin_burst import bench_burst

    n = sizes.burst_trainees
    say(f"[6] check-in burst: {n} trainees of one class check in to one session at once")
    result = await bench_burst(pg, kafka, trainees=n)
    answers = result.answers
    details["burst"] = {**answers.summary(), "stored_events": result.stored_events,
                        "ceiling": result.ceiling.summary(),
                        "register_ms": result.register_ms,
                        "register_recorded": result.register_recorded,
                        "latencies_ms": [round(x, 2) for x in answers.latencies_ms]}
    for f in (
        limit_figure("burst_refused", "6 check-in burst",
                     f"check-ins refused, {n} at once to one session (no retry)",
                     answers.refused_count, "", 0, "sent", len(answers.latencies_ms)),
        reported_figure("burst_p50_ms", "6 check-in burst",
                        "p50 check-in answer (accepted or refused)", answers.quantile(50),
                        "ms"),
        limit_figure("burst_p99_ms", "6 check-in burst",
                     "p99 check-in answer (accepted or refused)", answers.quantile(99), "ms",
                     BURST_P99_MS),
        reported_figure("burst_ceiling_p99_ms", "6 check-in burst",
                        "p99 of the same burst to the bare route (one INSERT a request, no "
                        "auth, store or rules): the floor on this machine",
                        result.ceiling.quantile(99), "ms"),
        reported_figure("burst_register_ms", "6 check-in burst",
                        f"the same {n} check-ins as one session register (one request, "
                        f"{result.register_recorded} lines recorded)", result.register_ms, "ms"),
    ):
        figures.append(f)
        say(console_line(f))
    if answers.refused:
        say(f"  refused: {answers.refused}")


async def run_growth(pg: str, kafka: str, sizes: Sizes, figures: list[Figure],
                     details: dict) -> None:
    from bench.stream_growth import bench_growth

    small, large = sizes.growth_small, sizes.growth_large
    say(f"[7] stream growth: {sizes.growth_requests} attendance commands, one at a time, in a "
        f"class holding {small:,} attendance records and one holding {large:,}")
    result = await bench_growth(pg, kafka, small=small, large=large,
                                requests=sizes.growth_requests, progress=say)
    details["growth"] = {"small": result.small.summary(), "large": result.large.summary(),
                         "small_class_events": result.small_events,
                         "large_class_events": result.large_events,
                         "history_seconds": result.history_seconds}
    f = ratio_at_most_figure(
        "growth_large_vs_small", "7 stream growth",
        f"median attendance command, class with {large:,} records "
        f"({result.large_events:,} events) vs {small:,} ({result.small_events:,})",
        result.large.quantile(50), "ms", f"{small:,} records", result.small.quantile(50),
        GROWTH_AT_MOST)
    figures.append(f)
    say(console_line(f))


async def run_throughput(pg: str, kafka: str, sizes: Sizes, figures: list[Figure],
                         details: dict) -> None:
    from bench.command_throughput import bench_throughput

    classes, concurrency = THROUGHPUT_CLASSES, THROUGHPUT_CONCURRENCY
    per_round = classes * sizes.throughput_trainees
    say(f"[8] command throughput: {per_round} attendance commands across {classes} classes, "
        f"{concurrency} at once, vs a bare route with one INSERT; median of {sizes.repeats}")
    result = await bench_throughput(pg, kafka, classes=classes,
                                    trainees=sizes.throughput_trainees,
                                    concurrency=concurrency, rounds=sizes.repeats,
                                    progress=say)
    details["throughput"] = {
        "classes": classes, "concurrency": concurrency, "commands_per_round": per_round,
        "rounds": [{"service": r.service.summary(), "service_seconds": r.service_seconds,
                    "service_per_second": r.service_rate, "ceiling": r.ceiling.summary(),
                    "ceiling_seconds": r.ceiling_seconds, "ceiling_per_second": r.ceiling_rate}
                   for r in result.rounds]}
    for f in (
        ratio_figure("throughput_vs_ceiling", "8 command throughput",
                     f"attendance commands accepted per second, {classes} classes, "
                     f"{concurrency} at once, vs a bare route doing one INSERT",
                     result.service_rate, "commands/s", "bare FastAPI + INSERT",
                     result.ceiling_rate, THROUGHPUT_AT_LEAST),
        reported_figure("throughput_refused", "8 command throughput",
                        "commands refused (no retry)", result.refused, "", "sent",
                        result.sent),
    ):
        figures.append(f)
        say(console_line(f))


async def run_province(pg: str, kafka: str, sizes: Sizes, figures: list[Figure],
                       details: dict) -> None:
    from bench.province import bench_provinces

    small, large = sizes.province_small, sizes.province_large
    say(f"[9] province scale: funding's reads over HTTP with {small:,} and {large:,} trainees")
    runs = await bench_provinces(pg, kafka, sizes=(small, large),
                                 requests=sizes.province_reads, progress=say)
    for trainees, run in runs.items():
        say(f"    {trainees:,} trainees: "
            + ", ".join(f"{name} p99 {t.quantile(99):.1f} ms" for name, t in run.reads.items())
            + f"; policy published in {run.policy_seconds:.1f}s "
              f"({run.policy_lines:,} lines added)")
    for phase, watch in (("quiet", runs[large].watch_quiet),
                         ("during the job", runs[large].watch_during_job)):
        seen = watch.summary()
        say(f"    {large:,} trainees, {phase}: event loop woken >10 ms late "
            f"{_share(seen['event_loop_lag']['over_10_ms'])} of "
            f"{seen['event_loop_lag']['observed']:,} times; worker ledger requests >10 ms "
            f"in the app {_share(seen['ledger_request_in_app']['over_10_ms'])} of "
            f"{seen['ledger_request_in_app']['observed']:,}")
    details["province"] = {str(n): run.summary() for n, run in runs.items()}
    what = {"ledger_by_class": "GET /ledger?limit=100&class_id=...",
            "ledger_by_worker": "GET /ledger?limit=100&worker_id=...",
            "budget": "GET /budget", "line": "GET /ledger/{line_id}"}
    for name, request in what.items():
        f = ratio_at_most_figure(
            f"province_{name}_p99", "9 province scale",
            f"p99 {request}, {large:,} trainees vs {small:,}",
            runs[large].reads[name].quantile(99), "ms", f"{small:,} trainees",
            runs[small].reads[name].quantile(99), PROVINCE_AT_MOST)
        figures.append(f)
        say(console_line(f))
    run = runs[large]
    for f in (
        reported_ratio(
            "province_policy_seconds", "9 province scale",
            f"policy version published to its recompute job done ({run.policy_lines:,} "
            f"adjustment lines), {large:,} trainees vs {small:,}",
            run.policy_seconds, "s", f"{small:,} trainees", runs[small].policy_seconds),
        reported_figure("province_policy_answered_ms", "9 province scale",
                        f"POST /policies answered (202 with its job), {large:,} trainees",
                        run.policy_answered_seconds * 1000, "ms"),
        ratio_at_most_figure(
            "province_reads_during_job_p99", "9 province scale",
            f"p99 GET /ledger?limit=100&worker_id=... while the policy's job runs, "
            f"{large:,} trainees, vs quiet ({len(run.reads_during_job.latencies_ms)} reads)",
            run.reads_during_job.quantile(99), "ms", "quiet",
            run.reads["ledger_by_worker"].quantile(99), PROVINCE_DURING_JOB_AT_MOST),
    ):
        figures.append(f)
        say(console_line(f))


def _share(fraction: float | None) -> str:
    return "-" if fraction is None else f"{fraction:.2%}"


async def run_tracing_off(pg: str, sizes: Sizes, figures: list[Figure],
                          details: dict) -> None:
    from bench.tracing_off import bench_tracing_off

    commits, repeats = max(500, sizes.single_commits), max(7, sizes.repeats)
    say(f"[10] tracing off: {commits} single-event appends with the tracing hooks and "
        f"without them, alternated, median of {repeats}")
    result = await bench_tracing_off(pg, commits=commits, repeats=repeats)
    details["tracing_off"] = asdict(result)
    for f in (
        ratio_figure("tracing_off_appends", "10 tracing off",
                     "single-event appends, tracing off, vs the hooks removed",
                     result.with_hooks, "events/s", "no hooks", result.without_hooks,
                     TRACING_OFF_AT_LEAST),
        reported_figure("tracing_off_hooks_ns", "10 tracing off",
                        "the relay's and the inbox's per-event hooks, tracing off",
                        result.hooks_ns, "ns"),
    ):
        figures.append(f)
        say(console_line(f))


async def main_async(args: argparse.Namespace, pg: str, kafka: str) -> list[Figure]:
    sizes = QUICK if args.quick else FULL
    if args.replay_events:
        sizes = Sizes(**{**asdict(sizes), "replay_large": args.replay_events,
                         "replay_small": args.replay_events // 4})
    if args.certifications:
        sizes = Sizes(**{**asdict(sizes), "certifications": args.certifications})
    if args.province_trainees:
        small, large = args.province_trainees
        sizes = Sizes(**{**asdict(sizes), "province_small": small, "province_large": large})
    chosen = args.only.split(",") if args.only else list(BENCHMARKS)
    figures: list[Figure] = []
    details: dict = {"sizes": asdict(sizes)}
    out = Path(args.out)
    if "appends" in chosen:
        await run_appends(pg, sizes, figures, details)
    if "relay" in chosen:
        await run_relay(pg, kafka, sizes, figures, details)
    if "replay" in chosen:
        await run_replay(kafka, sizes, figures, details)
    if "latency" in chosen:
        out.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, before any timing)
        await run_latency(pg, kafka, sizes, figures, details, out)
    if "messagedb" in chosen:
        await run_message_db(pg, sizes, figures, details)
    if "burst" in chosen:
        await run_burst(pg, kafka, sizes, figures, details)
    if "growth" in chosen:
        await run_growth(pg, kafka, sizes, figures, details)
    if "throughput" in chosen:
        await run_throughput(pg, kafka, sizes, figures, details)
    if "province" in chosen:
        await run_province(pg, kafka, sizes, figures, details)
    if "tracing" in chosen:
        await run_tracing_off(pg, sizes, figures, details)
    write_results(out, figures, details, mode="quick" if args.quick else "full")
    return figures


def _two_sizes(text: str) -> tuple[int, int]:
    try:
        small, large = (int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError("two whole numbers, SMALL,LARGE") from None
    if not 0 < small < large or small % 50 or large % 50:
        raise argparse.ArgumentTypeError("0 < SMALL < LARGE, both multiples of 50")
    return small, large


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        default=os.environ.get("SONGJI_BENCH_QUICK") == "1",
                        help="small sizes: a smoke run in under a minute")
    parser.add_argument("--only", help=f"comma-separated subset of {','.join(BENCHMARKS)}")
    parser.add_argument("--replay-events", type=int,
                        help="history length of the replay (the small run is a quarter)")
    parser.add_argument("--certifications", type=int, help="certifications to time")
    parser.add_argument("--province-trainees", type=_two_sizes, metavar="SMALL,LARGE",
                        help="trainees of the two provinces compared (multiples of 50)")
    parser.add_argument("--out", default=str(RESULTS), help="folder for the result files")
    args = parser.parse_args()
    unknown = set(args.only.split(",")) - set(BENCHMARKS) if args.only else set()
    if unknown:
        parser.error(f"no benchmark named {', '.join(sorted(unknown))}")

    from shared.auth.tokens import ENV_FILE, ENV_INLINE
    from shared.infra.provision import kafka_broker, postgres_server
    from shared.runtime.logging import configure_logging

    configure_logging("WARNING", "console")
    # The latency benchmark starts funding, and the attendance benchmarks training, with
    # organisations of their own making.
    for name in (ENV_INLINE, ENV_FILE):
        os.environ.pop(name, None)
    started = time.perf_counter()
    with postgres_server() as pg, kafka_broker() as kafka:
        figures = asyncio.run(main_async(args, pg, kafka))
    checked = [f for f in figures if not f.informational]
    missed = [f for f in checked if not f.passed]
    say(f"done in {time.perf_counter() - started:.0f}s: {len(checked) - len(missed)} PASS, "
        f"{len(missed)} MISS; results in {args.out}/latest.md")


if __name__ == "__main__":
    main()
