"""The auditor's replay of the funding ledger, for ``songji audit replay``.

Replay rebuilds the funding ledger from the history alone -- the source services' stores or
their topics from the first offset, plus funding's own policy, budget and disbursement events
-- with the very same pure function the service uses, and compares it line by line with what
funding recorded: its ``funding_ledger`` table *and* the PayoutDue / PayoutReversed events in
its hash-chained store. (Every store's hash chain is checked by ``shared.audit.verify``.)

The CLI calls ``replay`` and renders the report; a ``progress`` callback receives the number
of records read so far.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import io
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import asyncpg

from services.funding.domain.facts import Consumed
from services.funding.domain.ledger import FundPosition, Ledger, LedgerLine, settle
from services.funding.domain.money import format_yuan
from services.funding.records import OUTPUT_TYPES, own_inputs, recorded_lines
from shared.audit.published import TopicDifference, TopicImage
from shared.contracts import model_for
from shared.eventsourcing.authenticity import Authenticity
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.signing import PublicKeys
from shared.eventsourcing.store import EventStore
from shared.eventsourcing.topics import events_topic
from songji.audit.history import History, fewer_collections, no_collections
from songji.audit.topic_reader import ReaderChecks, read_topics

Progress = Callable[[int], None]
COMPARED = ("amount_fen", "kind", "rule", "class_id", "worker_id", "payee_kind", "payee_id",
            "policy_id", "policy_version", "justified_by", "corrects_line_id", "due_at")
SOURCE_SERVICES = ("enrolment", "training", "assessment")
TOPICS_VS_STORES = "topics_vs_stores"  # a Difference's ``where``: a topic record not as stored


@dataclass(frozen=True)
class Difference:
    line_id: str
    where: str  # "ledger_table", "published_events" or TOPICS_VS_STORES
    field: str  # a field name, or "missing" / "unexpected"
    derived: Any
    recorded: Any


@dataclass(frozen=True)
class ReplayReport:
    as_of: datetime | None
    records_read: int
    derived_lines: int
    recorded_lines: int
    published_lines: int
    differences: tuple[Difference, ...]
    derived_total_fen: int
    # The budget the history gives (allocated, committed, paid, recovered per fund): what
    # funding's GET /budget must show when the lines match, rejections and recoveries
    # included.
    funds: tuple[FundPosition, ...] = ()
    # Records read from the topics and compared with the stores (None: not compared).
    compared_with_stores: int | None = None
    # Records on the topics that their owning service did not publish (forged: see
    # ``shared.eventsourcing.authenticity``): never counted, as the services never applied them.
    refused: int = 0
    refusals: tuple[str, ...] = ()  # the first few, with their reasons

    @property
    def matches(self) -> bool:
        """The lines derived from what the services published equal the recorded ones."""
        return not self.differences

    @property
    def ok(self) -> bool:
        """Nothing to report: the lines match and nobody else wrote to the topics. A forged
        record the services refused changed no line, but someone could write to a topic,
        and the auditor must say so (exit 1)."""
        return self.matches and not self.refused

    def summary(self) -> str:
        verdict = ("MATCHES" if self.matches else f"{len(self.differences)} DIFFERENCES") + (
            f", {self.refused} FORGED records refused" if self.refused else "")
        against = ""
        if self.compared_with_stores is not None:
            wrong = sum(d.where == TOPICS_VS_STORES for d in self.differences)
            against = (f"; {self.compared_with_stores} topic records compared with the stores"
                       f", {wrong} not as stored")
        text = (f"replayed {self.records_read} events: {self.derived_lines} lines derived "
                f"(net {self.derived_total_fen / 100:.2f} yuan), {self.recorded_lines} "
                f"recorded, {self.published_lines} published{against} -- {verdict}")
        text += "".join(
            f"\n  fund {f.fund}: allocated {format_yuan(f.allocated_fen)}, committed "
            f"{format_yuan(f.committed_fen)}, paid {format_yuan(f.paid_fen)}, recovered "
            f"{format_yuan(f.recovered_fen)}, available {format_yuan(f.available_fen)} yuan"
            for f in self.funds)
        if self.refused:
            text += (f"\n{self.refused} records on the topics REFUSED, not counted (not "
                     "published by their topic's service):\n" +
                     "\n".join(f"  {r}" for r in self.refusals))
        return text

    def with_topics_compared(self, image: TopicImage, found: Iterable[TopicDifference]
                             ) -> ReplayReport:
        """This report with the differences between the topics and the stores added: each
        named by its event's store position (``<service>@<position>``) or, for a record
        that names none, its event id."""
        extra = tuple(Difference(
            line_id=f"{d.service}@{d.position}" if d.position else f"{d.service}:{d.event_id}",
            where=TOPICS_VS_STORES, field=d.problem, derived=d.event_id, recorded=d.detail)
            for d in found)
        return dataclasses.replace(self, differences=self.differences + extra,
                                   compared_with_stores=image.records)


# -- pure comparison -------------------------------------------------------------------------

def compare_lines(derived: Iterable[LedgerLine], recorded: Iterable[LedgerLine],
                  where: str) -> list[Difference]:
    mine = {x.line_id: x for x in derived}
    theirs = {x.line_id: x for x in recorded}
    out: list[Difference] = []
    for line_id in sorted(mine.keys() | theirs.keys()):
        a, b = mine.get(line_id), theirs.get(line_id)
        if b is None:
            out.append(Difference(line_id, where, "missing", _plain(a), None))
        elif a is None:
            out.append(Difference(line_id, where, "unexpected", None, _plain(b)))
        else:
            for name in COMPARED:
                va, vb = getattr(a, name), getattr(b, name)
                if va != vb:
                    out.append(Difference(line_id, where, name, _value(va), _value(vb)))
    return out


def _value(v: Any) -> Any:
    if isinstance(v, datetime):
        return v.isoformat()
    if isinstance(v, tuple):
        return list(v)
    return v


def _plain(line: LedgerLine | None) -> dict[str, Any] | None:
    if line is None:
        return None
    return {k: _value(v) for k, v in dataclasses.asdict(line).items() if k in COMPARED}


def write_differences(differences: Iterable[Difference], path: Path) -> Path:
    """JSON or CSV by the file's suffix."""
    rows = [dataclasses.asdict(d) for d in differences]
    if path.suffix.lower() == ".csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=["line_id", "where", "field", "derived",
                                                 "recorded"], lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: json.dumps(v, ensure_ascii=False) if not isinstance(v, str)
                             else v for k, v in row.items()})
        path.write_text(out.getvalue(), encoding="utf-8")
    else:
        path.write_text(json.dumps(rows, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


# -- reading the history ---------------------------------------------------------------------

async def records_from_stores(dsns: Mapping[str, str], *, batch: int = 5000,
                              progress: Progress | None = None) -> History:
    """Every event of the given services' stores (e.g. enrolment, training, assessment)."""
    history = History()
    for _, dsn in sorted(dsns.items()):
        pool = await create_pool(dsn, max_size=2)
        try:
            store, position = EventStore(pool), 0
            while chunk := await store.read_after(position, limit=batch):
                for stored in chunk:
                    history.add_stored(str(stored.event_id), stored.stream_id, stored.version,
                                       stored.recorded_at, stored.event_type, stored.data)
                position = chunk[-1].position
                if progress:
                    progress(len(history))
        finally:
            await pool.close()
    return history


async def records_from_topics(bootstrap: str, prefix: str = "songji", *,
                              public_keys: PublicKeys,
                              services: Iterable[str] = SOURCE_SERVICES,
                              progress: Progress | None = None,
                              idle_ms: int = 2000, reader_process: bool = True,
                              reader_checks: ReaderChecks = "spare",
                              image: TopicImage | None = None) -> History:
    """Every event on the services' topics from the first offset (no consumer group), spilled
    to disk by worker as it is read (see ``songji.audit.history``).

    The topics are consumed by a reader process that hands the records over in batches while
    this process adds them to the history (``songji.audit.topic_reader``): the two
    overlap, on two CPUs. ``reader_process=False`` consumes here instead, taking turns; the
    history is the same.

    Each record is checked as the services' inboxes check it (its type belongs to its topic's
    service, which is its source and signed it, under ``public_keys``): a forged one is
    refused (``History.refused``), never counted. The reader process reaches the verdicts on
    as many records as ``reader_checks`` says (by default those it has time for while this
    process is behind: see ``topic_reader._judge``), this process those of the rest: the
    same check, so the same verdicts. With an ``image``, every record, refused or
    not, is also added to it, to be compared with the stores (``shared.audit.published``)."""
    services = list(services)
    topics = [events_topic(s, prefix) for s in services]
    owners = {topic: service for topic, service in zip(topics, services, strict=True)}
    authenticity = Authenticity(public_keys, owners)
    history = History(authenticity=authenticity)
    try:
        # Malformed messages are skipped: they went to the dead-letter topic.
        add = history.add_parts
        # The reader process checks the records' authenticity too, as far as it has time
        # (``topic_reader._judge``): its verdicts are taken, the rest are checked here.
        reading = read_topics(bootstrap, topics, idle_ms=idle_ms, process=reader_process,
                              authenticity=authenticity, checks=reader_checks)
        async with contextlib.aclosing(reading):
            with no_collections():
                async for batch in reading:
                    if image is None:
                        for topic, names, values, value, verdict in batch:
                            add(names, values, value, topic, verdict)
                    else:
                        for topic, names, values, value, verdict in batch:
                            add(names, values, value, topic, verdict)
                            image.add(owners[topic], names, values, value)
                    if progress:
                        progress(len(history))
    except BaseException:
        history.close()  # its spill files
        raise
    return history


async def _published_lines(conn: asyncpg.Connection) -> list[LedgerLine]:
    """The latest PayoutDue / PayoutReversed of every line, from funding's store."""
    rows = await conn.fetch(
        """SELECT DISTINCT ON (stream_id) event_type, data FROM events
           WHERE event_type = any($1) ORDER BY stream_id, version DESC""", list(OUTPUT_TYPES))
    lines = []
    for row in rows:
        ev = model_for(row["event_type"]).model_validate(row["data"])
        lines.append(LedgerLine(
            line_id=ev.line_id, seq=0, kind="", rule=ev.rule, class_id=ev.class_id,
            worker_id=ev.worker_id, payee_kind=ev.payee_kind, payee_id=ev.payee_id,
            amount_fen=ev.amount_fen, policy_id=ev.policy_id,
            policy_version=ev.policy_version, justified_by=tuple(ev.justified_by),
            corrects_line_id=ev.corrects_line_id, due_at=ev.due_at))
    return lines


# -- the two commands ------------------------------------------------------------------------

async def replay(funding_dsn: str, sources: History | Iterable[Consumed], *,
                 as_of: datetime | None = None) -> ReplayReport:
    """Rebuild the ledger from ``sources`` plus funding's own events and compare it with what
    funding recorded (lines due at or before ``as_of`` when given)."""
    pool = await create_pool(funding_dsn, max_size=2)
    try:
        async with pool.acquire() as conn:
            own = await own_inputs(conn)
            table = await recorded_lines(conn)
            published = await _published_lines(conn)
    finally:
        await pool.close()
    history = sources if isinstance(sources, History) else History.of(sources)
    derived, records_read = history.derive(own, as_of=as_of)
    refused, refusals = history.refused, tuple(history.refusals)
    if as_of is not None:
        table = [x for x in table if x.due_at <= as_of]
        published = [x for x in published if x.due_at <= as_of]
    kinds_free = [dataclasses.replace(x, seq=0, kind="") for x in derived]
    differences = compare_lines(derived, table, "ledger_table") + [
        d for d in compare_lines(kinds_free, published, "published_events")
        if d.field not in ("kind",)]
    own_then = own if as_of is None else [r for r in own if r.recorded_at <= as_of]
    return ReplayReport(as_of=as_of, records_read=records_read, derived_lines=len(derived),
                        recorded_lines=len(table), published_lines=len(published),
                        differences=tuple(differences),
                        derived_total_fen=sum(x.amount_fen for x in derived),
                        funds=settle(own_then, derived).funds,
                        refused=refused, refusals=refusals)


def rebuild_ledger(history: History | Iterable[Consumed], own: Iterable[Consumed] = (), *,
                   as_of: datetime | None = None) -> Ledger:
    """The whole ledger, statuses included, of a history plus funding's own records: what
    ``build_ledger`` gives, derived a slice at a time."""
    own = list(own)
    history = history if isinstance(history, History) else History.of(history)
    own_then = own if as_of is None else [r for r in own if r.recorded_at <= as_of]
    # The lines are passed on, not held here: ``settle`` lets each go as it copies it. It
    # makes a few objects a line, each one a container the collector would track: with its
    # default thresholds the collector would rescan every line again and again as they pile up.
    with fewer_collections():
        return settle(own_then, history.derive(own, as_of=as_of)[0])
