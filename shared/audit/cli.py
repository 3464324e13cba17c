"""``songji audit``: the auditor's commands. Only an organisation with the auditor role."""

from __future__ import annotations

import asyncio
import os
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shared.eventsourcing.topics import SERVICES

app = typer.Typer(help="The auditor's tools (auditor role only).", no_args_is_help=True)

TokenOption = Annotated[str | None, typer.Option(
    envvar="SONGJI_TOKEN", help="The auditor organisation's bearer token", show_default=False)]
SOURCES = ("enrolment", "training", "assessment")


def _state_dir() -> Path:
    return Path(os.environ.get("SONGJI_STATE_DIR", ".songji"))


def _authorise(token: str | None) -> str:
    from shared.audit.access import authorise_auditor
    from shared.infra.dev_organisations import organisations_env
    from shared.runtime.errors import DomainError

    os.environ.update(organisations_env(_state_dir()))
    try:
        return authorise_auditor(token).org_id
    except DomainError as exc:
        typer.echo(f"refused: {exc.message}", err=True)
        raise typer.Exit(3) from None


def _dsns(services: list[str] | tuple[str, ...]) -> dict[str, str]:
    from shared.infra.stores import store_dsns

    try:
        return store_dsns(services, _state_dir())
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _as_of(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return TypeAdapter(AwareDatetime).validate_python(value)
    except ValidationError:
        raise typer.BadParameter("give a timestamp with its offset, e.g. "
                                 "2025-08-08T00:00:00+08:00", param_hint="--as-of") from None


@app.command("verify")
def verify(
    token: TokenOption = None,
    service: Annotated[list[str] | None, typer.Option(
        help="Only this service's store (repeatable)")] = None,
) -> None:
    """Check every store's hash chain; name the first broken position. Exit 1 if any is."""
    from shared.audit.verify import verify_stores

    auditor = _authorise(token)
    verdicts = asyncio.run(verify_stores(_dsns(service or SERVICES)))
    typer.echo(f"hash-chain verification by {auditor}")
    for name, v in verdicts.items():
        status = "ok" if v.ok else f"BROKEN at position {v.first_bad_position}: {v.reason}"
        typer.echo(f"  {name:<14} {v.checked:>9} events  {status}")
    if not all(v.ok for v in verdicts.values()):
        raise typer.Exit(1)


@app.command("replay")
def replay(
    token: TokenOption = None,
    as_of: Annotated[str | None, typer.Option(
        "--as-of", help="Rebuild the ledger as it stood then (RFC 3339 with offset)")] = None,
    source: Annotated[str, typer.Option(
        help="Read the history from the 'topics' (first offset) or the services' 'stores'")]
    = "topics",
    differences: Annotated[Path, typer.Option(
        "--differences", help="Where to write the differences (.json or .csv)")]
    = Path("audit-differences.json"),
) -> None:
    """Rebuild the funding ledger from the history alone with the same pure function and
    compare it, line by line, with what funding recorded. Exit 1 on any difference."""
    from services.funding.audit import (
        records_from_stores,
        records_from_topics,
        write_differences,
    )
    from services.funding.audit import (
        replay as replay_ledger,
    )
    from shared.infra.signing_keys import known_public_keys
    from shared.infra.stores import bus_location

    if source not in ("topics", "stores"):
        raise typer.BadParameter("'topics' or 'stores'", param_hint="--source")
    if differences.suffix.lower() not in (".json", ".csv"):
        raise typer.BadParameter("a .json or .csv file", param_hint="--differences")
    moment = _as_of(as_of)
    auditor = _authorise(token)
    funding_dsn = _dsns(["funding"])["funding"]

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=False) as progress:
        task = progress.add_task(f"reading the history from the {source}", total=None)

        def advance(count: int) -> None:
            progress.update(task, description=f"read {count:,} events from the {source}")

        if source == "stores":
            reading = records_from_stores(_dsns(list(SOURCES)), progress=advance)
        else:
            try:
                bootstrap, prefix = bus_location(_state_dir())
                public_keys = known_public_keys(_state_dir())
            except (LookupError, ValueError) as exc:  # a ValueError never shows a key
                typer.echo(str(exc), err=True)
                raise typer.Exit(2) from None
            reading = records_from_topics(bootstrap, prefix, public_keys=public_keys,
                                          progress=advance)
        records = asyncio.run(reading)
        progress.update(task, description=f"rebuilding the ledger from {len(records):,} events")
        report = asyncio.run(replay_ledger(funding_dsn, records, as_of=moment))
        progress.update(task, description="compared with funding's recorded ledger")

    typer.echo(f"replay by {auditor}" + (f" as of {moment.isoformat()}" if moment else ""))
    typer.echo(report.summary())
    if not report.ok:
        write_differences(report.differences, differences)
        typer.echo(f"{len(report.differences)} differences written to {differences}", err=True)
        raise typer.Exit(1)
