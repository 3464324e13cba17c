"""``songji dlq``: the dead letters (what no consumer could handle) and the relays' quarantine
(what the broker refused for good): list them, show one, put them back.

The broker and topic prefix come from the environment (``KAFKA_BOOTSTRAP_SERVERS``,
``SONGJI_TOPIC_PREFIX``), else from what ``songji up`` wrote; the services' databases, for the
quarantine, likewise (``SONGJI_<SERVICE>_DATABASE_URL``).
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from shared.dlq import letters as dl
from shared.eventsourcing.topics import SERVICES, dead_letter_topic

app = typer.Typer(help="Dead letters and quarantined events: list, show, replay.",
                  no_args_is_help=True)

BODY_SHOWN = 65_536  # bytes of a body printed by `show`
REASON_SHOWN = 100  # characters of a reason in a listing

LimitOption = Annotated[int, typer.Option(min=1, max=10_000, help="At most this many")]
ConsumerOption = Annotated[str | None, typer.Option(
    help="Only letters from this consumer, e.g. notifications.workers", show_default=False)]
TypeOption = Annotated[str | None, typer.Option(
    "--type", help="Only this CloudEvents type", show_default=False)]
OriginOption = Annotated[str | None, typer.Option(
    help="Only letters that came from this topic", show_default=False)]
ReasonOption = Annotated[str | None, typer.Option(
    help="Only letters whose reason contains this text", show_default=False)]
QuarantinedOption = Annotated[bool, typer.Option(
    "--quarantined", help="The relays' quarantine instead of the dead-letter topic")]
ServiceOption = Annotated[list[str] | None, typer.Option(
    "--service", help="Only this service's quarantine (repeatable)", show_default=False)]


def _state_dir() -> Path:
    return Path(os.environ.get("SONGJI_STATE_DIR", ".songji"))


def _bus() -> tuple[str, str]:
    from shared.infra.stores import bus_location

    try:
        bootstrap, prefix = bus_location(_state_dir())
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    return bootstrap, dead_letter_topic(prefix)


def _dsns(services: list[str] | None) -> dict[str, str]:
    from shared.infra.stores import store_dsns

    unknown = sorted(set(services or ()) - set(SERVICES))
    if unknown:
        raise typer.BadParameter(f"not a service: {', '.join(unknown)}", param_hint="--service")
    try:
        return store_dsns(services or SERVICES, _state_dir())
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None


def _when(timestamp_ms: int, failed_at: str) -> str:
    if failed_at:
        return failed_at[:19].replace("T", " ")
    return datetime.fromtimestamp(timestamp_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")


def _one_line(text: str, width: int) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"


@app.command("list")
def list_letters(
    limit: LimitOption = 50,
    consumer: ConsumerOption = None,
    event_type: TypeOption = None,
    origin_topic: OriginOption = None,
    reason: ReasonOption = None,
    after: Annotated[list[str] | None, typer.Option(
        help="Page on: only letters after this partition:offset (repeatable, one per "
             "partition; the last line of a page names where to go on)",
        show_default=False)] = None,
    quarantined: QuarantinedOption = False,
    service: ServiceOption = None,
) -> None:
    """The dead letters, oldest first: where each is (partition:offset, to show or replay it),
    when it failed, which consumer, where it came from, its type, id and the reason. With
    --quarantined: the events each relay quarantined."""
    if quarantined:
        _list_quarantined(_dsns(service), limit)
        return
    bootstrap, topic = _bus()
    try:
        pages = dict(dl.parse_ref(ref) for ref in after or ())
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--after") from None
    keep = dl.LetterFilter(consumer, event_type, origin_topic, reason)
    found = asyncio.run(dl.read_letters(bootstrap, topic, keep=keep, limit=limit, after=pages))
    typer.echo(f"{len(found)} dead letter(s) on {topic}" + (" (filtered)" if not keep.empty
                                                            else ""))
    for letter in found:
        origin = ":".join(letter.origin)
        typer.echo(f"  {letter.ref:<10} {_when(letter.timestamp_ms, letter.dlq('failed_at'))}  "
                   f"{letter.dlq('consumer') or '-':<26} {origin or '-'}")
        typer.echo(f"  {'':<10} {letter.event_type or '(no type)'}  id {letter.event_id or '-'}")
        typer.echo(f"  {'':<10} {_one_line(letter.dlq('reason'), REASON_SHOWN)}")
    if len(found) == limit:
        last: dict[int, int] = {}
        for letter in found:
            last[letter.partition] = max(last.get(letter.partition, -1), letter.offset)
        typer.echo("more may follow: " + " ".join(f"--after {p}:{o}"
                                                  for p, o in sorted(last.items())))


def _list_quarantined(dsns: dict[str, str], limit: int) -> None:
    rows = asyncio.run(_quarantined(dsns, limit))
    total = sum(len(r) for r in rows.values())
    typer.echo(f"{total} quarantined event(s)")
    for name, found in rows.items():
        for q in found:
            typer.echo(f"  {name:<14} position {q.position:<8} {q.state:<15} "
                       f"{q.quarantined_at:%Y-%m-%d %H:%M:%S}  attempts {q.attempts}")
            typer.echo(f"  {'':<14} {q.event_type}  id {q.event_id}  stream {q.stream_id}")
            typer.echo(f"  {'':<14} {_one_line(q.reason, REASON_SHOWN)}")


async def _quarantined(dsns: dict[str, str], limit: int) -> dict[str, list]:
    import asyncpg

    from shared.eventsourcing import quarantine

    found = {}
    for name, dsn in dsns.items():
        conn = await asyncpg.connect(dsn)
        try:
            found[name] = await quarantine.listed(conn, limit=limit, include_redriven=True)
        finally:
            await conn.close()
    return found


@app.command("show")
def show(ref: Annotated[str, typer.Argument(help="partition:offset, as `list` names it")]
         ) -> None:
    """One dead letter: every header, then the body (events carry no personal data)."""
    bootstrap, topic = _bus()
    try:
        partition, offset = dl.parse_ref(ref)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="REF") from None
    letter = asyncio.run(dl.read_one(bootstrap, topic, partition, offset))
    if letter is None:
        typer.echo(f"no dead letter at {ref} on {topic}", err=True)
        raise typer.Exit(1)
    typer.echo(f"dead letter {letter.ref} on {topic}")
    typer.echo(f"key: {(letter.key or b'').decode(errors='replace')}")
    for name, value in letter.headers.items():
        typer.echo(f"{name}: {value}")
    body = letter.value or b""
    typer.echo(f"body ({len(body)} bytes):")
    typer.echo(body[:BODY_SHOWN].decode(errors="replace"))
    if len(body) > BODY_SHOWN:
        typer.echo(f"... ({len(body) - BODY_SHOWN} bytes more not shown)")


@app.command("replay")
def replay(
    refs: Annotated[list[str] | None, typer.Argument(
        help="partition:offset of each dead letter to replay", show_default=False)] = None,
    consumer: ConsumerOption = None,
    event_type: TypeOption = None,
    origin_topic: OriginOption = None,
    reason: ReasonOption = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Every dead letter (or, with "
                                             "--quarantined, every quarantined event)")] = False,
    limit: LimitOption = 100,
    dry_run: Annotated[bool, typer.Option(help="Say what would be replayed; replay "
                                          "nothing")] = False,
    quarantined: QuarantinedOption = False,
    service: ServiceOption = None,
    position: Annotated[list[int] | None, typer.Option(
        help="With --quarantined: the store position of an event to re-drive (repeatable)",
        show_default=False)] = None,
) -> None:
    """Put dead letters back on the topics they came from, with their own key and headers:
    the consumers that failed read them again (the others skip what they had). Name them, or
    select them with filters, or give --all. With --quarantined: ask each service's relay
    to publish its quarantined events again (--position, or --all), once the cause is fixed."""
    if quarantined:
        _redrive(service, position, replay_all, dry_run)
        return
    keep = dl.LetterFilter(consumer, event_type, origin_topic, reason)
    if not refs and keep.empty and not replay_all:
        raise typer.BadParameter("name the letters (partition:offset), filter them, or "
                                 "give --all", param_hint="REFS")
    bootstrap, topic = _bus()
    if refs:
        try:
            wanted = {dl.parse_ref(ref) for ref in refs}
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="REFS") from None
        found = [letter for p, o in sorted(wanted)
                 if (letter := asyncio.run(dl.read_one(bootstrap, topic, p, o))) is not None
                 and keep(letter)]
        missing = len(wanted) - len(found)
        if missing:
            typer.echo(f"{missing} of the letters named are not on {topic} (or filtered out)",
                       err=True)
    else:
        found = asyncio.run(dl.read_letters(bootstrap, topic, keep=keep, limit=limit))
    chosen = dl.distinct_origins(found)
    for letter in chosen:
        typer.echo(f"  {letter.ref:<10} -> {':'.join(letter.origin)}  {letter.event_type}  "
                   f"id {letter.event_id or '-'}")
    if dry_run:
        typer.echo(f"{len(chosen)} record(s) would be replayed (dry run)")
        return
    sent = asyncio.run(dl.replay(bootstrap, chosen))
    typer.echo(f"{sent} record(s) replayed to their origin topics")


def _redrive(services: list[str] | None, positions: list[int] | None, every: bool,
             dry_run: bool) -> None:
    if not positions and not every:
        raise typer.BadParameter("give --position (repeatable) or --all", param_hint="--position")
    if positions and not services:
        raise typer.BadParameter("positions are per store: name the --service",
                                 param_hint="--service")
    dsns = _dsns(services)
    if dry_run:
        rows = asyncio.run(_quarantined(dsns, 10_000))
        chosen = [(n, q.position) for n, qs in rows.items() for q in qs
                  if q.redriven_at is None and (not positions or q.position in positions)]
        for name, pos in chosen:
            typer.echo(f"  {name:<14} position {pos}")
        typer.echo(f"{len(chosen)} quarantined event(s) would be re-driven (dry run)")
        return
    asked = asyncio.run(_ask(dsns, positions))
    for name, count in asked.items():
        typer.echo(f"  {name:<14} {count} re-drive(s) asked; its relay publishes them")
    typer.echo(f"{sum(asked.values())} quarantined event(s) to be re-driven; `songji dlq list "
               "--quarantined` shows when each is")


async def _ask(dsns: dict[str, str], positions: list[int] | None) -> dict[str, int]:
    import asyncpg

    from shared.eventsourcing import quarantine

    asked = {}
    for name, dsn in dsns.items():
        conn = await asyncpg.connect(dsn)
        try:
            asked[name] = await quarantine.ask_redrive(conn, positions)
        finally:
            await conn.close()
    return asked
