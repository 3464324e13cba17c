"""The auditor's history: every record to rebuild the ledger from, kept so that the ledger is
derived one slice at a time, in memory that does not grow with the length of the history.

A worker's lines depend only on their own records (attendance, voids, certificates,
revocations), the records of their classes and a few shared ones (see ``derive_lines``). So:

- class-level and shared records (a few per class) are parsed once and kept in memory;
- worker-level records, nearly all of a history, are written as the JSON they arrived in to
  one of ``buckets`` spill files chosen by a hash of the worker (records of other types, which
  bear on no money, by a hash of their id: they are only counted);
- ``derive`` reads one spill file at a time, validates each record once against its contract,
  and derives the lines of that file's workers with ``ClassRecords.lines_of``.

Peak memory is one bucket, the class-level records and the lines. The lines are the same as
``derive_lines`` over the whole history: the same function on the same slices. A message is
accepted exactly when the services' inbox would accept it (``Envelope.from_kafka`` and the
contract), and duplicates collapse by event id as in ``canonical``; two records with one id
but different contents are reported (``ConflictingDuplicate``) when they land in one bucket,
i.e. unless the contents differ in the worker they are about.
"""

from __future__ import annotations

import contextlib
import gc
import json
import pickle
import re
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

from pydantic import ValidationError

from services.funding.domain.facts import ConflictingDuplicate, Consumed
from services.funding.domain.ledger import (
    CLASS_RECORDS,
    SHARED_RECORDS,
    WORKER_RECORDS,
    ClassRecords,
    LedgerLine,
    worker_of,
)
from shared.contracts import Envelope, Event, UnknownEventType, model_for

BUCKETS = 128
_FLUSH_AT = 50_000  # buffered records, all buckets together
_WORKER_TYPES = frozenset(m.ce_type() for m in WORKER_RECORDS)
_KEPT_TYPES = frozenset(m.ce_type() for m in (*CLASS_RECORDS, *SHARED_RECORDS))
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")

# A record as spilled: (event id, stream id, stream version, recorded at, CloudEvents type,
# data). From Kafka: the id and time as their header text, the data as the body's JSON bytes
# (checked and parsed once, in ``_parse``); from a store or given: checked values and a dict.
Entry = tuple[str, str, int, "datetime | str", str, Any]


def bucket_of(key: str, buckets: int = BUCKETS) -> int:
    return zlib.crc32(key.encode()) % buckets


def _event_id(text: str) -> str:
    return text if _CANONICAL_UUID.fullmatch(text) else str(UUID(text))


class History:
    """Records read from the topics or the stores (or given), partitioned for ``derive``.

    ``spill=False`` keeps the buckets in memory (for short histories and tests)."""

    def __init__(self, *, buckets: int = BUCKETS, spill: bool = True) -> None:
        self.buckets = buckets
        self.kept: dict[str, Consumed] = {}
        self.added = 0
        self.skipped = 0  # malformed or of no known type (they went to the dead-letter topic)
        self._buffers: list[list[Entry]] = [[] for _ in range(buckets)]
        self._buffered = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = (
            tempfile.TemporaryDirectory(prefix="songji-audit-") if spill else None)
        self._spilled = [False] * buckets

    @classmethod
    def of(cls, records: Iterable[Consumed | Envelope], *, spill: bool = False) -> History:
        history = cls(spill=spill)
        for record in records:
            history.add(record)
        return history

    def __len__(self) -> int:
        return self.added

    def close(self) -> None:
        if self._dir is not None:
            self._dir.cleanup()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- adding ------------------------------------------------------------------------------

    def add_message(self, headers: Sequence[tuple[str, bytes]] | None,
                    value: bytes | None) -> bool:
        """A binary-mode CloudEvent from Kafka; False if the services' inbox would refuse it
        for its headers (``Envelope.from_kafka``'s checks; the id, the time and the data are
        checked when the record is parsed, see ``_parse``)."""
        try:
            h = {k: v.decode() for k, v in headers or ()}
            if h.get("ce_specversion") != "1.0" or not (
                    h.get("ce_id") and h.get("ce_source") and h.get("ce_type")
                    and h.get("ce_subject") and h.get("ce_time")):
                raise ValueError("not a Songji CloudEvent")
            int(h.get("ce_schemaversion", "1"))
            version = h.get("ce_streamversion")
            stream_version = 0 if version is None else int(version)
            if h.get("ce_position") is not None:
                int(h["ce_position"])
        except ValueError:  # UnicodeDecodeError included
            self.skipped += 1
            return False
        event_type = h["ce_type"]
        entry = (h["ce_id"], h["ce_subject"], stream_version, h["ce_time"], event_type,
                 value or b"")
        if event_type in _WORKER_TYPES:
            worker = _worker_in(entry[5])
            if worker is None:
                self.skipped += 1
                return False
            return self._spill(bucket_of(worker, self.buckets), entry)
        return self._route(entry)

    def add_stored(self, event_id: str, stream_id: str, version: int, recorded_at: datetime,
                   event_type: str, data: dict[str, Any]) -> bool:
        """A record read from a service's event store."""
        return self._route((event_id, stream_id, version, recorded_at, event_type, data))

    def add(self, record: Consumed | Envelope) -> bool:
        if isinstance(record, Envelope):
            record = Consumed.from_envelope(record)
        return self._route((record.event_id, record.stream_id, record.stream_version,
                            record.recorded_at, record.event.ce_type(),
                            record.event.model_dump(mode="json")), parsed=record)

    def _route(self, entry: Entry, parsed: Consumed | None = None) -> bool:
        event_type = entry[4]
        if event_type in _WORKER_TYPES:
            data = entry[5]
            worker = data.get("worker_id") if isinstance(data, dict) else _worker_in(data)
            if not isinstance(worker, str):  # the contract requires it: refused by the inbox
                self.skipped += 1
                return False
            bucket = bucket_of(worker, self.buckets)
        elif event_type in _KEPT_TYPES:
            record = parsed or _parse(entry)
            if record is None:
                self.skipped += 1
                return False
            _keep(self.kept, record)
            self.added += 1
            return True
        else:
            try:
                model_for(event_type)
            except UnknownEventType:
                self.skipped += 1
                return False
            bucket = bucket_of(entry[0], self.buckets)
        return self._spill(bucket, parsed if self._dir is None and parsed else entry)

    def _spill(self, bucket: int, entry: Entry | Consumed) -> bool:
        self._buffers[bucket].append(entry)  # type: ignore[arg-type]
        self.added += 1
        if self._dir is not None:
            self._buffered += 1
            if self._buffered >= _FLUSH_AT:
                self._flush()
        return True

    def _path(self, bucket: int) -> Path:
        assert self._dir is not None
        return Path(self._dir.name) / f"bucket-{bucket:04d}"

    def _flush(self) -> None:
        for bucket, buffer in enumerate(self._buffers):
            if buffer:
                with self._path(bucket).open("ab") as f:
                    pickle.dump(buffer, f, protocol=pickle.HIGHEST_PROTOCOL)
                self._spilled[bucket] = True
                self._buffers[bucket] = []
        self._buffered = 0

    # -- reading back ------------------------------------------------------------------------

    def _entries(self, bucket: int) -> Iterator[Entry | Consumed]:
        if self._dir is not None and self._spilled[bucket]:
            with self._path(bucket).open("rb") as f:
                while True:
                    try:
                        yield from pickle.load(f)
                    except EOFError:
                        break
        yield from self._buffers[bucket]

    def _bucket(self, bucket: int, as_of: datetime | None) -> dict[str, Consumed]:
        """One bucket's valid records by event id (recorded at or before ``as_of``)."""
        out: dict[str, Consumed] = {}
        for entry in self._entries(bucket):
            if isinstance(entry, Consumed):
                record: Consumed | None = entry
            else:
                record = _parse(entry)
            if record is None or (as_of is not None and record.recorded_at > as_of):
                continue
            _keep(out, record)
        return out

    def __iter__(self) -> Iterator[Consumed]:
        """Every valid record once (each bucket deduplicated), in no particular order."""
        yield from self.kept.values()
        for bucket in range(self.buckets):
            yield from self._bucket(bucket, None).values()

    def derive(self, extra: Iterable[Consumed] = (), *, as_of: datetime | None = None
               ) -> tuple[list[LedgerLine], int]:
        """The ledger lines of this history plus ``extra`` records (funding's own: few), as
        ``derive_lines`` gives them, and how many distinct records they were derived from."""
        with fewer_collections():
            return self._derive(extra, as_of)

    def _derive(self, extra: Iterable[Consumed], as_of: datetime | None
                ) -> tuple[list[LedgerLine], int]:
        kept = dict(self.kept)
        extra_own: dict[int, list[Consumed]] = defaultdict(list)
        for record in extra:
            worker = worker_of(record.event)
            if worker is not None:
                extra_own[bucket_of(worker, self.buckets)].append(record)
            else:
                _keep(kept, record)
        shared = [r for r in kept.values() if as_of is None or r.recorded_at <= as_of]
        index = ClassRecords(shared)
        counted = len(shared)
        workers_by_bucket: dict[int, list[str]] = defaultdict(list)
        for worker in index.workers():
            workers_by_bucket[bucket_of(worker, self.buckets)].append(worker)
        lines: list[LedgerLine] = []
        for bucket in range(self.buckets):
            records = self._bucket(bucket, as_of)
            for record in extra_own.get(bucket, ()):
                if as_of is None or record.recorded_at <= as_of:
                    _keep(records, record)
            counted += len(records)
            own: dict[str, list[Consumed]] = defaultdict(list)
            for record in records.values():
                worker = worker_of(record.event)
                if worker is not None:
                    own[worker].append(record)
            for worker in sorted(workers_by_bucket.get(bucket, ())):
                lines.extend(index.lines_of(worker, own.get(worker, ())))
        return lines, counted


@contextlib.contextmanager
def fewer_collections() -> Iterator[None]:
    """Reading and deriving a history allocate millions of small objects that live until
    their bucket is written or derived; the collector's default thresholds would rescan them
    over and over (a third of the time, more as the history grows). Neither makes reference
    cycles to speak of, so collect less often while they run."""
    before = gc.get_threshold()
    gc.set_threshold(100_000, 50, 1000)
    try:
        yield
    finally:
        gc.set_threshold(*before)


def _worker_in(data: bytes | str) -> str | None:
    """The worker a worker-level record is about, read from its JSON without parsing it all.
    Exact when ``"worker_id"`` occurs once (then it is the key) with a plain string value;
    anything else is parsed. A record whose data breaks its contract goes nowhere anyway."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(b'"worker_id"') == 1:
        start = raw.find(b'"worker_id":"') + 13
        end = raw.find(b'"', start)
        if start > 12 and end > 0 and b"\\" not in raw[start:end]:
            try:
                return raw[start:end].decode()
            except UnicodeDecodeError:
                return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    worker = parsed.get("worker_id") if isinstance(parsed, dict) else None
    return worker if isinstance(worker, str) else None


def _parse(entry: Entry) -> Consumed | None:
    """The record with its event validated against its contract, once; None if the inbox
    refused it (it went to the dead-letter topic, so the ledger never saw it). Messages from
    Kafka carry their id and time as header text, checked here as ``Envelope`` checks them."""
    event_id, stream_id, version, recorded_at, event_type, data = entry
    try:
        if isinstance(recorded_at, str):
            recorded_at = datetime.fromisoformat(recorded_at)
            if recorded_at.utcoffset() is None:
                return None
            event_id = _event_id(event_id)
        model: type[Event] = model_for(event_type)
        if isinstance(data, bytes):
            try:
                event = model.model_validate_json(data)
            except ValidationError:
                # The inbox validates the decoded JSON: where the JSON mode is stricter (a
                # lone surrogate, say), that decides.
                event = model.model_validate(json.loads(data))
        else:
            event = model.model_validate(data)
    except (UnknownEventType, ValidationError, ValueError):
        return None
    return Consumed(event_id=event_id, stream_id=stream_id, stream_version=version,
                    recorded_at=recorded_at, event=event)


def _keep(records: dict[str, Consumed], record: Consumed) -> None:
    seen = records.get(record.event_id)
    if seen is None:
        records[record.event_id] = record
    elif seen != record:
        raise ConflictingDuplicate(f"event {record.event_id} was read with two contents")
