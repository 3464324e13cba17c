"""``python -m chaos [--quick] [--workers N] [--seed S] [--json FILE]``: exit 0 when nothing
was lost or duplicated, 1 otherwise."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from chaos.run import Options, main
from shared.runtime.logging import configure_logging


def parse(argv: list[str]) -> Options:
    parser = argparse.ArgumentParser(prog="python -m chaos", description=__doc__)
    parser.add_argument("--quick", action="store_true",
                        help="a small run (12 workers, short pauses) for the test suite")
    parser.add_argument("--workers", type=int)
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--json", type=Path, help="write the results as JSON here")
    parser.add_argument("--replicas", action="store_true",
                        help="two copies of each service; kill -9 each relay's holder and a "
                             "consumer copy of each too, and report the failover times")
    args = parser.parse_args(argv)
    replicas = 2 if args.replicas else 1
    if args.quick:
        # One of funding's commands killed mid-request (the others lose their answer): each
        # kill keeps funding away while its consumer rejoins the group.
        return Options(workers=args.workers or 12, seed=args.seed, pause=(0.5, 2.0),
                       settle_seconds=90, json_out=args.json, request_kills=1,
                       outage_seconds=5.0, replicas=replicas)
    return Options(workers=args.workers or 149, seed=args.seed, json_out=args.json,
                   replicas=replicas)


def run() -> None:
    options = parse(sys.argv[1:])
    configure_logging("WARNING", "console")

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    try:
        code = asyncio.run(main(options))
    except KeyboardInterrupt:
        code = 130
    raise SystemExit(code)


if __name__ == "__main__":
    run()
