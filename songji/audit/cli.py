"""``songji audit``: the auditor's commands. Only an organisation with the auditor role."""

from __future__ import annotations

import asyncio
import contextlib
import os
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from pydantic import AwareDatetime, TypeAdapter, ValidationError
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from shared.eventsourcing.topics import SERVICES

if TYPE_CHECKING:
    from shared.eventsourcing.signing import PublicKeys

app = typer.Typer(help="The auditor's tools (auditor role only).", no_args_is_help=True)

TokenOption = Annotated[str | None, typer.Option(
    envvar="SONGJI_TOKEN", help="The auditor organisation's bearer token", show_default=False)]
SOURCES = ("enrolment", "training", "assessment")


def _state_dir() -> Path:
    return Path(os.environ.get("SONGJI_STATE_DIR", ".songji"))


def _authorise(token: str | None) -> str:
    from shared.infra.dev_organisations import organisations_env
    from shared.runtime.errors import DomainError
    from songji.audit.access import authorise_auditor

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


def _topics(services: tuple[str, ...], prefix: str) -> dict[str, str]:
    from shared.eventsourcing.topics import events_topic

    return {s: events_topic(s, prefix) for s in services}


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
    seals: Annotated[bool, typer.Option(
        "--seals/--no-seals",
        help="Check each chain against the heads its service sealed and published (needs "
             "the broker and the services' public keys); without them only the chain's "
             "consistency is checked, which a rewrite that recomputed it passes")] = True,
) -> None:
    """Check every store's hash chain and that it has the hashes its service sealed; name
    the first broken position. Exit 1 if any chain is broken, cut short or never sealed."""
    from shared.audit.verify import verify_stores
    from shared.eventsourcing.heads import read_seals

    auditor = _authorise(token)
    dsns = _dsns(service or SERVICES)
    found = None
    if seals:
        bootstrap, prefix = _bus()
        found = asyncio.run(read_seals(bootstrap, prefix, dsns, _public_keys(),
                                       client_options=_kafka_options()))
    verdicts = asyncio.run(verify_stores(dsns, found))
    typer.echo("hash-chain verification by " + auditor
               + (" against the sealed heads" if seals else " (not against sealed heads)"))
    for name, v in verdicts.items():
        if v.first_bad_position is not None:
            status = f"BROKEN at position {v.first_bad_position}: {v.reason}"
        elif v.unsealed:
            status = f"NOT SEALED: {v.reason}"
        elif v.latest_seal is not None:
            status = (f"ok, sealed at position {v.latest_seal.position} "
                      f"({v.latest_seal.sealed_at.isoformat(timespec='seconds')})")
            if v.checked > v.latest_seal.position:  # covered by the chain only, until sealed
                status += f"; not sealed yet: the last {v.checked - v.latest_seal.position}"
        else:
            status = "ok"
        if v.refused_seals:
            status += f"; {v.refused_seals} records on its heads topic did not verify"
        typer.echo(f"  {name:<14} {v.checked:>9} events  {status}")
    if not all(v.ok for v in verdicts.values()):
        raise typer.Exit(1)


def _bus() -> tuple[str, str]:
    from shared.infra.stores import bus_location

    try:
        return bus_location(_state_dir())
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _kafka_options() -> dict[str, object]:
    """How the auditor logs in to Kafka (SONGJI_KAFKA_*: a read-only user in production)."""
    from shared.eventsourcing.kafka_access import KafkaAccess

    try:
        return KafkaAccess.from_env().client_options()
    except ValueError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _public_keys() -> PublicKeys:
    """``SONGJI_PUBLIC_KEYS``, else the public keys ``songji up`` keeps in its state folder."""
    from shared.infra.signing_keys import known_public_keys

    try:
        return known_public_keys(_state_dir())
    except (LookupError, ValueError) as exc:  # a ValueError never shows a key
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


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
    check_stores: Annotated[bool, typer.Option(
        "--check-stores/--no-check-stores",
        help="With --source topics: check every record on the topics against the stores' "
             "hash-chained events, and every published event against the topics")] = True,
) -> None:
    """Rebuild the funding ledger from the history alone with the same pure function and
    compare it, line by line, with what funding recorded; read from the topics, also compare
    the topics with the stores (a forged or a missing event is a difference). Exit 1 on any
    difference."""
    from shared.audit.published import StoreDigests, TopicImage, store_heads
    from songji.audit.funding_replay import (
        records_from_stores,
        records_from_topics,
        write_differences,
    )
    from songji.audit.funding_replay import (
        replay as replay_ledger,
    )

    if source not in ("topics", "stores"):
        raise typer.BadParameter("'topics' or 'stores'", param_hint="--source")
    if differences.suffix.lower() not in (".json", ".csv"):
        raise typer.BadParameter("a .json or .csv file", param_hint="--differences")
    moment = _as_of(as_of)
    auditor = _authorise(token)
    funding_dsn = _dsns(["funding"])["funding"]

    with Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                  transient=False) as progress, contextlib.ExitStack() as stack:
        task = progress.add_task(f"reading the history from the {source}", total=None)

        def advance(count: int) -> None:
            progress.update(task, description=f"read {count:,} events from the {source}")

        image = None
        if source == "stores":
            reading = records_from_stores(_dsns(list(SOURCES)), progress=advance)
        else:
            bootstrap, prefix = _bus()
            public_keys = _public_keys()
            _kafka_options()  # the reader process logs in with them: refused here if incomplete
            if check_stores:
                sources, topics = _dsns(list(SOURCES)), _topics(SOURCES, prefix)
                heads = asyncio.run(store_heads(sources, topics))
                image = TopicImage(SOURCES, heads)
                # The stores are read and digested in a process of their own meanwhile.
                stored = stack.enter_context(StoreDigests(sources, heads))
            reading = records_from_topics(bootstrap, prefix, public_keys=public_keys,
                                          progress=advance, image=image)
        records = asyncio.run(reading)
        progress.update(task, description=f"rebuilding the ledger from {len(records):,} events")
        report = asyncio.run(replay_ledger(funding_dsn, records, as_of=moment))
        progress.update(task, description="compared with funding's recorded ledger")
        if image is not None:
            progress.update(task, description="comparing the topics with the stores")
            found = asyncio.run(image.compare(sources, topics, stored.result()))
            report = report.with_topics_compared(image, found)
            progress.update(task, description="compared the topics with the stores")

    typer.echo(f"replay by {auditor}" + (f" as of {moment.isoformat()}" if moment else ""))
    typer.echo(report.summary())
    if not report.ok:
        write_differences(report.differences, differences)
        typer.echo(f"{len(report.differences)} differences written to {differences}", err=True)
        raise typer.Exit(1)
