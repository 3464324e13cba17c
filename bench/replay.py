"""Auditor replay: rebuild the funding ledger from the topics, against a raw consumer.

Each measurement runs in a fresh subprocess (``python -m bench.replay MODE ...``), so its peak
resident memory (``ru_maxrss``) is its own:

- ``raw``: an aiokafka consumer reads every record of the same topics and does nothing with it
  (the ceiling). It is configured as the auditor's reader is (``consumer_settings``, the
  same fetch sizes) and, like the reader process, runs with the garbage collector off
  (which makes it a third faster): it is no worse off than the auditor;
- ``ledger``: the auditor's own path, ``records_from_topics`` (a reader process consumes the
  topics and hands the records over while this process spills the history to disk by worker)
  then ``rebuild_ledger`` (the lines a slice at a time, in as many forked processes as there
  are CPUs, as ``songji audit replay`` derives them before it compares, plus the statuses, as
  ``build_ledger`` gives them). Its peak memory is its own plus its largest child's (see
  ``_peaks``).

Each run also reports its CPU time, its own and its children's (user + system): on a shared
machine the wall times move with the load, the CPU time much less.

Both stop the same way, when the topics stay quiet for ``idle_ms`` (the broker's end offsets
cannot be trusted); that final quiet wait is subtracted from both times.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import resource
import subprocess
import sys
import time
from dataclasses import dataclass

from shared.eventsourcing.topics import events_topic

IDLE_MS = 1000
SOURCES = ("training", "assessment")


@dataclass(frozen=True)
class ReplayRun:
    mode: str
    events: int
    seconds: float
    per_second: float
    peak_rss_mb: float
    lines: int = 0
    ledger_mb: float = 0.0
    read_seconds: float = 0.0
    build_seconds: float = 0.0
    own_peak_rss_mb: float = 0.0
    children_peak_rss_mb: float = 0.0
    cpu_seconds: float = 0.0


def _peak_rss_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory. For this process, the kernel's high-water mark of its own
    address space (``VmHWM``): ``ru_maxrss`` survives ``exec`` (Linux), so a process started
    by a parent holding 350 MB reports at least 350 MB, whatever it uses itself. For the
    children, ``ru_maxrss`` of the largest (an upper bound of each, for the same reason)."""
    if who == resource.RUSAGE_SELF:
        with contextlib.suppress(OSError, StopIteration, ValueError):
            with open("/proc/self/status") as status:
                line = next(x for x in status if x.startswith("VmHWM:"))
            return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(who).ru_maxrss / 1024  # kB on Linux


async def _raw(bootstrap: str, prefix: str) -> dict:
    from aiokafka import AIOKafkaConsumer

    from songji.audit.topic_reader import consumer_settings

    gc.disable()  # as in the auditor's reader process
    consumer = AIOKafkaConsumer(*(events_topic(s, prefix) for s in SOURCES),
                                bootstrap_servers=bootstrap, **consumer_settings())
    await consumer.start()
    count = 0
    started = time.perf_counter()
    try:
        while batch := await consumer.getmany(timeout_ms=IDLE_MS):
            for records in batch.values():
                count += len(records)
    finally:
        seconds = time.perf_counter() - started - IDLE_MS / 1000
        await consumer.stop()
    return {"events": count, "seconds": seconds}


async def _ledger(bootstrap: str, prefix: str) -> dict:
    from bench.history import bench_public_keys, policy_record
    from songji.audit.funding_replay import rebuild_ledger, records_from_topics

    started = time.perf_counter()
    records = await records_from_topics(bootstrap, prefix, services=SOURCES, idle_ms=IDLE_MS,
                                        public_keys=bench_public_keys())
    read = time.perf_counter() - started - IDLE_MS / 1000
    built = time.perf_counter()
    ledger = rebuild_ledger(records, [policy_record()])
    build = time.perf_counter() - built
    records.close()
    # The peaks are taken before ``deep_size`` runs: its set of every object seen would add
    # a third to the peak at 1M events (and grow with the ledger), and it is no part of the
    # auditor's path.
    peaks = _peaks()
    return {"events": len(records), "seconds": read + build, "read_seconds": read,
            "build_seconds": build, "lines": len(ledger.lines),
            "ledger_mb": deep_size(ledger.lines) / 2**20, **peaks}


def deep_size(obj: object, seen: set[int] | None = None) -> int:
    """Bytes held by ``obj`` and everything it references (each object counted once)."""
    seen = set() if seen is None else seen
    if id(obj) in seen:
        return 0
    seen.add(id(obj))
    size = sys.getsizeof(obj)
    if isinstance(obj, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in obj.items())
    elif isinstance(obj, list | tuple | set | frozenset):
        size += sum(deep_size(x, seen) for x in obj)
    elif hasattr(obj, "__dict__"):
        size += deep_size(vars(obj), seen)
    return size


def measure(mode: str, bootstrap: str, prefix: str) -> ReplayRun:
    """Run one mode in a fresh interpreter and return what it measured."""
    out = subprocess.run([sys.executable, "-m", "bench.replay", mode, bootstrap, prefix],
                         check=True, capture_output=True, text=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return ReplayRun(mode=mode, per_second=data["events"] / max(data["seconds"], 1e-9), **data)


def main() -> None:
    mode, bootstrap, prefix = sys.argv[1:4]
    run = _raw if mode == "raw" else _ledger
    result = asyncio.run(run(bootstrap, prefix))
    print(json.dumps({**_peaks(), "cpu_seconds": _cpu_seconds(), **result}))


def _peaks() -> dict[str, float]:
    """The ledger path reads in a reader process and derives in forked processes: their
    memory counts. ``ru_maxrss`` of the children is the largest peak of any one child that
    has been waited for (every one has, by now). On 2 CPUs at most one child runs at a time:
    the reader while this process reads, then one derivation process; so this process's
    peak plus the largest child's is an upper bound of what the processes held together at
    any moment. It overstates: the peaks need not coincide, and a forked child's pages
    shared with this process (the interpreter, the class JSON, ...) are counted twice. (On
    more CPUs several derivation processes run at once and this would undercount.)"""
    own, children = _peak_rss_mb(), _peak_rss_mb(resource.RUSAGE_CHILDREN)
    return {"own_peak_rss_mb": own, "children_peak_rss_mb": children,
            "peak_rss_mb": own + children}


def _cpu_seconds() -> float:
    """User + system time of this process and of its children waited for."""
    return sum(r.ru_utime + r.ru_stime for r in (
        resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)))


if __name__ == "__main__":
    main()
