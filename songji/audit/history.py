"""The auditor's history: every record to rebuild the ledger from, kept so that the ledger is
derived one slice at a time, in memory that does not grow with the length of the history,
and on as many CPUs as there are.

A worker's lines depend only on their own records (attendance, voids, certificates,
revocations), the records of their classes and a few shared ones (see ``derive_lines``). So:

- shared records (policies, assessment bodies: a handful) are parsed once and kept;
- class-level records (schedule, completion, assessment: three per class) are kept as the
  JSON they arrived in, grouped by class, in a class file when spilling (in memory, deflated,
  otherwise), and parsed only while a bucket that needs them is derived (parsed, a class with
  its roster and sessions is ~60 KB; as JSON ~8 KB);
- worker-level records, nearly all of a history, are written as the JSON they arrived in to
  one of ``buckets`` spill files. The bucket is that of the worker's *home class* (the class
  named by the first record read about the worker), and a class's records belong to the
  bucket of the class: so the trainees of a class and the class itself nearly always share a
  bucket and a class is parsed once, not once per bucket that one of its trainees hashed to.
  Records of other types, which bear on no money, go by a hash of their id (only counted);
- ``derive`` reads one spill file at a time, validates each record once against its
  contract, parses the classes that file's workers were in (those of the bucket, those named
  by their records and those whose completion lists them) and derives the lines of the
  file's workers with ``ClassRecords.lines_of``. The buckets are shared between forked
  processes, each deriving every n-th bucket.

Peak memory per process is one bucket, its classes, where each class's records are, the
worker -> home class map and the lines. The lines are the same as ``derive_lines`` over the
whole history: the same function on the same slices. A message is accepted exactly when the
services' inbox would accept it (``Envelope.from_kafka`` and the contract), and duplicates
collapse by event id as in ``canonical``; two records with one id but different contents
are reported (``ConflictingDuplicate``) when they land in one bucket or class, i.e. unless the
contents differ in the worker or class they are about.
"""

from __future__ import annotations

import contextlib
import gc
import json
import os
import pickle
import re
import tempfile
import zlib
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
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
    class_of,
    worker_of,
)
from shared.contracts import Envelope, Event, UnknownEventType, model_for
from shared.contracts.training import ClassCompleted
from shared.eventsourcing.authenticity import AUTHENTIC, UNKNOWN_TYPE, Authenticity, Verdict

# Fixed before the length of the history is known. A bucket's records, parsed, are what a
# derivation process holds besides what it inherited, so they are kept few: ~1,000 a bucket
# at 1M events (docs/benchmarks.md, benchmark 3).
BUCKETS = 1024
_FLUSH_AT = 50_000  # buffered records, all buckets together
_REFUSALS_KEPT = 20  # forged records named in the report; all are counted
# Below this many records one process derives everything: forking costs more than it saves.
PARALLEL_FROM = 50_000
_WORKER_TYPES = frozenset(m.ce_type() for m in WORKER_RECORDS)
_CLASS_TYPES = frozenset(m.ce_type() for m in CLASS_RECORDS)
_SHARED_TYPES = frozenset(m.ce_type() for m in SHARED_RECORDS)
_COMPLETED = ClassCompleted.ce_type()
_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_WORKER_KEY = b'"worker_id"'
_CLASS_KEY = b'"class_id"'
_OPENED = {key: key + b':"' for key in (_WORKER_KEY, _CLASS_KEY)}  # a string value follows
# The known types' header bytes -> their names (the same text as decoding them).
_TYPE_NAMES = {t.encode(): t for t in _WORKER_TYPES | _CLASS_TYPES | _SHARED_TYPES}

# A record as kept or spilled: (event id, stream id, stream version, recorded at, CloudEvents
# type, data). From Kafka: the id, subject and time as their header bytes, the data as the
# body's JSON bytes (decoded, checked and parsed once, in ``_parse``); from a store: checked
# values and a dict; given: the parsed record itself.
Entry = tuple["str | bytes", "str | bytes", int, "datetime | str | bytes", str, Any]
Kept = Entry | Consumed


def bucket_of(key: str, buckets: int = BUCKETS) -> int:
    return zlib.crc32(key.encode()) % buckets


def default_processes() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


class History:
    """Records read from the topics or the stores (or given), partitioned for ``derive``.

    ``spill=False`` keeps the buckets in memory (for short histories and tests). With
    ``authenticity``, messages (``add_message``, ``add_parts``) are checked as the services'
    inboxes check them, and the forged ones refused (``refused``, ``refusals``)."""

    def __init__(self, *, buckets: int = BUCKETS, spill: bool = True,
                 authenticity: Authenticity | None = None) -> None:
        self.buckets = buckets
        self.authenticity = authenticity
        self.refused = 0  # not published by their topic's service: dead-lettered by inboxes
        self.refusals: list[str] = []  # the first few: topic, event id, reason
        self.kept: dict[str, Consumed] = {}  # shared records, parsed
        # class id -> its records (with ``spill``, where each is in the class file)
        self.classes: dict[str, list[Kept | tuple[int, int]]] = defaultdict(list)
        # worker -> the bucket of their home class: a small int, one shared object
        self.homes: dict[str, int] = {}
        self.added = 0
        self.skipped = 0  # malformed or of no known type (they went to the dead-letter topic)
        self._buffers: list[list[Kept]] = [[] for _ in range(buckets)]
        self._buffered = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = (
            tempfile.TemporaryDirectory(prefix="songji-audit-") if spill else None)
        self._spilled = [False] * buckets
        self._class_fd: int | None = None  # the class file, written at its end, read by offset
        self._class_end = 0

    @classmethod
    def of(cls, records: Iterable[Consumed | Envelope], *, spill: bool = False,
           buckets: int = BUCKETS) -> History:
        history = cls(spill=spill, buckets=buckets)
        for record in records:
            history.add(record)
        return history

    def __len__(self) -> int:
        return self.added

    def close(self) -> None:
        if self._class_fd is not None:
            os.close(self._class_fd)
            self._class_fd = None
        if self._dir is not None:
            self._dir.cleanup()

    def __enter__(self) -> History:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- adding ------------------------------------------------------------------------------

    def add_message(self, headers: Sequence[tuple[str, bytes | None]] | None,
                    value: bytes | None, topic: str | None = None) -> bool:
        """A binary-mode CloudEvent from Kafka, read from ``topic``; False if the services'
        inbox would refuse it for its headers (``Envelope.from_kafka``'s checks, then its
        authenticity; the id, the time and the data are checked when the record is parsed,
        see ``_parse``)."""
        if headers:
            names, values = zip(*headers, strict=True)
            return self.add_parts(names, values, value, topic)
        return self.add_parts((), (), value, topic)

    def add_parts(self, names: Sequence[str], values: Sequence[bytes | None],
                  value: bytes | None, topic: str | None = None,
                  verdict: Verdict | None = None) -> bool:
        """``add_message`` with the headers as their names and their values: how the topic
        reader hands them over (the names of every record one shared tuple of interned
        strings, so that they are not copied, hashed and compared for every record).

        ``verdict``: this history's ``authenticity.verdict`` on the headers as they are
        mapped here (``dict(zip(names, values))``, the value and the topic), when another
        process already reached it (the topic reader, see ``songji.audit.topic_reader``);
        None: reached here."""
        # The inbox decodes every header as UTF-8. Nearly always they are all ASCII, and then
        # their concatenation is too (one C call instead of a decode per header) and the
        # bytes compare and convert as the text would; otherwise decode them one by one.
        try:
            h: dict[str, Any] = dict(zip(names, values, strict=True))
            if len(h) != len(names) or not b"".join(h.values()).isascii():
                # UnicodeDecodeError: refused
                h = {k: v.decode() for k, v in zip(names, values, strict=True)}
                one, empty = "1.0", ""
            else:
                one, empty = b"1.0", b""
            if h.get("ce_specversion") != one or not (
                    h.get("ce_id", empty) and h.get("ce_source", empty)
                    and h.get("ce_type", empty) and h.get("ce_subject", empty)
                    and h.get("ce_time", empty)):
                raise ValueError("not a Songji CloudEvent")
            int(h.get("ce_schemaversion", "1"))
            version = h.get("ce_streamversion")
            stream_version = 0 if version is None else int(version)
            if h.get("ce_position") is not None:
                int(h["ce_position"])
            event_type = h["ce_type"]
            if isinstance(event_type, bytes):
                event_type = _TYPE_NAMES.get(event_type) or event_type.decode()
        except (ValueError, TypeError, AttributeError):
            # UnicodeDecodeError is a ValueError; a null header value (TypeError in the join,
            # AttributeError in the decode) is dead-lettered by the services' inbox too
            # (``text_headers``).
            self.skipped += 1
            return False
        if self.authenticity is not None:
            if verdict is None:
                verdict = self.authenticity.verdict(h, value, topic or "")
            if verdict is not AUTHENTIC:
                if verdict is UNKNOWN_TYPE:  # dead-lettered as unknown by the inbox
                    self.skipped += 1
                else:  # forged: the reason
                    self._refuse(topic, h.get("ce_id"), str(verdict))
                return False
        entry = (h["ce_id"], h["ce_subject"], stream_version, h["ce_time"], event_type,
                 value or b"")
        if event_type in _WORKER_TYPES:
            data = entry[5]
            worker = _text_in(data, _WORKER_KEY)
            if worker is None:  # the contract requires it: refused by the inbox
                self.skipped += 1
                return False
            # Nearly every record: ``_spill(_bucket_of_worker(...))`` written out, two calls
            # fewer a record.
            home = self.homes.get(worker)
            if home is None:
                home = self._bucket_of_worker(worker, data)
            self._buffers[home].append(entry)
            self.added += 1
            if self._dir is not None:
                self._buffered += 1
                if self._buffered >= _FLUSH_AT:
                    self._flush()
            return True
        return self._route(entry)

    def _refuse(self, topic: str | None, event_id: bytes | str | None, reason: str) -> None:
        self.refused += 1
        if len(self.refusals) < _REFUSALS_KEPT:
            if isinstance(event_id, bytes):
                event_id = event_id.decode(errors="replace")
            self.refusals.append(f"{topic} event {(event_id or '?')[:64]}: {reason[:300]}")

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
        event_type, data = entry[4], entry[5]
        kept: Kept = parsed if self._dir is None and parsed else entry
        if event_type in _WORKER_TYPES:
            worker = data.get("worker_id") if isinstance(data, dict) else _text_in(
                data, _WORKER_KEY)
            if not isinstance(worker, str):  # the contract requires it: refused by the inbox
                self.skipped += 1
                return False
            return self._spill(self._bucket_of_worker(worker, data), kept)
        if event_type in _CLASS_TYPES:
            class_id = data.get("class_id") if isinstance(data, dict) else _text_in(
                data, _CLASS_KEY)
            if not isinstance(class_id, str):
                self.skipped += 1
                return False
            # Kept as it came unless given parsed: ``derive`` parses a class while a bucket
            # needs it, so the parsed rosters never pile up. Spilling, in the class file (see
            # ``_class_spill``); otherwise in memory, the JSON deflated.
            self.classes[class_id].append(
                parsed or (self._class_spill(entry) if self._dir is not None
                           else _deflated(entry)))
            self.added += 1
            return True
        if event_type in _SHARED_TYPES:
            record = parsed or _parse(entry)
            if record is None:
                self.skipped += 1
                return False
            _keep(self.kept, record)
            self.added += 1
            return True
        try:
            model_for(event_type)
        except UnknownEventType:
            self.skipped += 1
            return False
        id_text = entry[0].decode(errors="replace") if isinstance(entry[0], bytes) else entry[0]
        return self._spill(bucket_of(id_text, self.buckets), kept)

    def _bucket_of_worker(self, worker: str, data: Any) -> int:
        home = self.homes.get(worker)
        if home is None:
            class_id = data.get("class_id") if isinstance(data, dict) else _text_in(
                data, _CLASS_KEY)
            home = self.homes[worker] = bucket_of(
                class_id if isinstance(class_id, str) else worker, self.buckets)
        return home

    def _class_spill(self, entry: Entry) -> tuple[int, int]:
        """A class record written to the class file: where it is (offset, length). Kept in
        memory, even deflated, the class records would grow with the history and every
        derivation process would inherit them; this way a class costs a list of three small
        tuples, and its records are read back (``os.pread``, which each forked process can do
        on the shared descriptor) when it is parsed."""
        if self._class_fd is None:
            self._class_fd = os.open(Path(self._dir.name) / "classes",  # type: ignore[union-attr]
                                     os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o600)
        data = pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL)
        written = 0
        while written < len(data):  # a regular file takes it all at once, but may not
            written += os.write(self._class_fd, data[written:])
        where = (self._class_end, len(data))
        self._class_end += len(data)
        return where

    def _class_entry(self, kept: Kept | tuple[int, int]) -> Kept:
        """A class record as it came (or as given, parsed), wherever it is kept."""
        if isinstance(kept, Consumed):
            return kept
        if len(kept) == 2:  # in the class file
            assert self._class_fd is not None
            offset, length = kept  # type: ignore[misc]
            return pickle.loads(os.pread(self._class_fd, length, offset))
        return _inflated(kept)  # type: ignore[arg-type]

    def _spill(self, bucket: int, entry: Kept) -> bool:
        self._buffers[bucket].append(entry)
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

    def _entries(self, bucket: int) -> Iterator[Kept]:
        if self._dir is not None and self._spilled[bucket]:
            with self._path(bucket).open("rb") as f:
                while True:
                    try:
                        yield from pickle.load(f)
                    except EOFError:
                        break
        yield from self._buffers[bucket]

    def _class_bucket(self, class_id: str) -> int:
        return bucket_of(class_id, self.buckets)

    def _own(self, bucket: int, as_of: datetime | None) -> dict[str, Consumed]:
        """One bucket's valid records by event id (recorded at or before ``as_of``)."""
        out: dict[str, Consumed] = {}
        for entry in self._entries(bucket):
            record = entry if isinstance(entry, Consumed) else _parse(entry)
            if record is None or (as_of is not None and record.recorded_at > as_of):
                continue
            _keep(out, record)
        return out

    def _class(self, class_id: str, as_of: datetime | None) -> dict[str, Consumed]:
        """One class's valid records by event id (recorded at or before ``as_of``)."""
        out: dict[str, Consumed] = {}
        for kept in self.classes.get(class_id, ()):
            entry = self._class_entry(kept)
            record = entry if isinstance(entry, Consumed) else _parse(entry)
            if record is None or (as_of is not None and record.recorded_at > as_of):
                continue
            _keep(out, record)
        return out

    def _plan(self) -> tuple[dict[int, list[str]], dict[int, set[str]]]:
        """Each bucket's own classes, and the classes of other buckets whose completion lists
        one of its workers (a trainee with no record of their own in that class still has a
        claim in it). Gives a home to trainees not seen yet."""
        own: dict[int, list[str]] = defaultdict(list)
        foreign: dict[int, set[str]] = defaultdict(set)
        for class_id, entries in self.classes.items():
            bucket = self._class_bucket(class_id)
            own[bucket].append(class_id)
            for entry in entries:
                for worker in _trainees(self._class_entry(entry)):
                    b = self.homes.setdefault(worker, bucket)
                    if b != bucket:
                        foreign[b].add(class_id)
        return own, foreign

    def __iter__(self) -> Iterator[Consumed]:
        """Every valid record once (each bucket and class deduplicated), in no particular
        order."""
        yield from self.kept.values()
        for class_id in self.classes:
            yield from self._class(class_id, None).values()
        for bucket in range(self.buckets):
            yield from self._own(bucket, None).values()

    def derive(self, extra: Iterable[Consumed] = (), *, as_of: datetime | None = None,
               processes: int | None = None) -> tuple[list[LedgerLine], int]:
        """The ledger lines of this history plus ``extra`` records (funding's own: few), as
        ``derive_lines`` gives them, and how many distinct records they were derived from.

        ``processes`` (default: every CPU this process may use, for histories of at least
        ``PARALLEL_FROM`` records) share the buckets between forked processes."""
        if processes is None:
            processes = default_processes() if len(self) >= PARALLEL_FROM else 1
        with fewer_collections():
            return _Derivation(self, list(extra), as_of).run(max(1, processes))


class _Derivation:
    """One ``derive``: what every bucket draws from, then the buckets."""

    def __init__(self, history: History, extra: list[Consumed], as_of: datetime | None
                 ) -> None:
        self.history, self.as_of = history, as_of
        shared = dict(history.kept)
        self.extra_own: dict[int, list[Consumed]] = defaultdict(list)
        self.extra_classes: dict[str, list[Consumed]] = defaultdict(list)
        for record in extra:
            worker, class_id = worker_of(record.event), class_of(record.event)
            if worker is not None:
                self.extra_own[history._bucket_of_worker(
                    worker, {"class_id": class_id})].append(record)
            elif class_id is not None:
                self.extra_classes[class_id].append(record)
            else:
                _keep(shared, record)
        self.shared = [r for r in shared.values() if as_of is None or r.recorded_at <= as_of]
        self.own_classes, self.foreign = history._plan()
        for class_id in self.extra_classes:
            if class_id not in history.classes:
                self.own_classes[history._class_bucket(class_id)].append(class_id)

    def run(self, processes: int) -> tuple[list[LedgerLine], int]:
        buckets = range(self.history.buckets)
        if processes == 1:
            return self._derive(buckets, count_shared=True)
        directory = Path(tempfile.mkdtemp(prefix="songji-derive-"))
        children: list[tuple[int, Path]] = []
        try:
            for i in range(1, processes):
                path = directory / f"part-{i}"
                pid = os.fork()
                if pid == 0:  # the child: derive every n-th bucket, hand back, leave at once
                    _child(path, self, buckets[i::processes])
                children.append((pid, path))
            lines, counted = self._derive(buckets[0::processes], count_shared=True)
            for more, more_counted in _results(children):
                lines.extend(more)
                counted += more_counted
            return lines, counted
        finally:
            with contextlib.suppress(Exception):  # an error above is the one to raise
                _results(children)  # reaps what is left running; nothing when all went well
            for path in directory.iterdir():
                path.unlink()
            directory.rmdir()

    def _derive(self, buckets: Iterable[int], *, count_shared: bool,
                sink: Callable[[list[LedgerLine]], None] | None = None,
                ) -> tuple[list[LedgerLine], int]:
        """The lines of ``buckets`` and how many records they came from; with a ``sink``,
        each bucket's lines go there instead (and are let go of)."""
        history, as_of = self.history, self.as_of
        lines: list[LedgerLine] = []
        counted = len(self.shared) if count_shared else 0
        for bucket in buckets:
            records = history._own(bucket, as_of)
            for record in self.extra_own.get(bucket, ()):
                if as_of is None or record.recorded_at <= as_of:
                    _keep(records, record)
            counted += len(records)
            own: dict[str, list[Consumed]] = defaultdict(list)
            needed = set(self.own_classes.get(bucket, ())) | self.foreign.get(bucket, set())
            for record in records.values():
                worker = worker_of(record.event)
                if worker is not None:
                    own[worker].append(record)
                    needed.add(record.event.class_id)  # type: ignore[attr-defined]
            class_records: list[Consumed] = []
            for class_id in needed:
                parsed = history._class(class_id, as_of)
                for record in self.extra_classes.get(class_id, ()):
                    if as_of is None or record.recorded_at <= as_of:
                        _keep(parsed, record)
                if history._class_bucket(class_id) == bucket:
                    counted += len(parsed)  # each class is counted in its own bucket only
                class_records.extend(parsed.values())
            index = ClassRecords([*self.shared, *class_records])
            homes = history.homes  # every trainee has one (``_plan``)
            workers = sorted(w for w in index.workers() if homes[w] == bucket)
            mine = [x for worker in workers for x in index.lines_of(worker, own.get(worker, ()))]
            if sink is None:
                lines.extend(mine)
            else:
                sink(mine)
        return lines, counted


def _child(path: Path, derivation: _Derivation, buckets: range) -> None:
    """Derive ``buckets`` in a forked process, writing each bucket's lines to ``path`` as it
    goes (so they do not pile up here too), then the count, or the error met; and end the
    process without running the parent's exit handlers (its temporary directories)."""
    code = 0
    try:
        with path.open("wb") as f:
            def sink(lines: list[LedgerLine]) -> None:
                pickle.dump(lines, f, protocol=pickle.HIGHEST_PROTOCOL)

            try:
                _, counted = derivation._derive(buckets, count_shared=False, sink=sink)
                pickle.dump(counted, f)
            except Exception as exc:  # handed to the parent, which raises it
                pickle.dump(exc, f)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _results(children: list[tuple[int, Path]]) -> list[tuple[list[LedgerLine], int]]:
    """Wait for the forked processes (once each: they are taken off the list) and read what
    each handed back; raise the first error one of them met."""
    results: list[tuple[list[LedgerLine], int]] = []
    failure: BaseException | None = None
    while children:
        pid, path = children.pop(0)
        _, status = os.waitpid(pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            failure = failure or RuntimeError(f"a derivation process ended with {status}")
            continue
        lines: list[LedgerLine] = []
        with path.open("rb") as f:
            while isinstance(part := pickle.load(f), list):
                lines.extend(part)
        if isinstance(part, BaseException):
            failure = failure or part
        else:
            results.append((lines, part))
    if failure is not None:
        raise failure
    return results


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


@contextlib.contextmanager
def no_collections() -> Iterator[None]:
    """Reading adds a few objects per message to buffers that live until they are spilled:
    even the rarer collections of ``fewer_collections`` rescan them and cost a fifth of the
    reading's CPU time (measured). ``add_message`` makes no reference cycles, so none are
    collected while it runs; what others make meanwhile waits until the end."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _text_in(data: bytes | str, key: bytes) -> str | None:
    """A string field of a record, read from its JSON without parsing it all. Exact when the
    key occurs once (then it is a key of the object: a quote inside a JSON string is escaped)
    with a plain string value; anything else is parsed. A record whose data breaks its
    contract goes nowhere anyway."""
    raw = data.encode() if isinstance(data, str) else data
    if raw.count(key) == 1:
        start = raw.find(_OPENED[key]) + len(key) + 2
        end = raw.find(b'"', start)
        if start > len(key) + 1 and end > 0 and raw.find(b"\\", start, end) < 0:
            try:
                return raw[start:end].decode()
            except UnicodeDecodeError:
                return None
    try:
        parsed = json.loads(raw)
    except ValueError:
        return None
    found = parsed.get(key[1:-1].decode()) if isinstance(parsed, dict) else None
    return found if isinstance(found, str) else None


def _deflated(entry: Entry) -> Entry:
    """A class record's JSON compressed: a class's schedule, completion and assessment are
    ~9 KB of JSON, repeating the same keys for every session and trainee, and they are kept
    for the whole replay (18 MB at 1M events, in every derivation process too); deflated
    they are a seventh of it, for ~12 µs a record, and ~6 µs to inflate when parsed."""
    data = entry[5]
    if not isinstance(data, bytes):
        return entry
    return (*entry[:5], zlib.compress(data, 1))


def _inflated(entry: Entry) -> Entry:
    """A class record as it came (see ``_deflated``)."""
    data = entry[5]
    if not isinstance(data, bytes):
        return entry
    return (*entry[:5], zlib.decompress(data))


def _trainees(entry: Kept) -> list[str]:
    """The workers a class completion (as it came: ``History._class_entry``) lists, as
    ``derive`` will read it (validated the same way, so exactly the trainees it will see);
    none for other records or broken ones."""
    if not isinstance(entry, Consumed):
        if entry[4] != _COMPLETED:
            return []
        parsed = _parse(entry)
        if parsed is None:
            return []
        entry = parsed
    event = entry.event
    return [t.worker_id for t in event.trainees] if isinstance(event, ClassCompleted) else []


def _parse(entry: Entry) -> Consumed | None:
    """The record with its event validated against its contract, once; None if the inbox
    refused it (it went to the dead-letter topic, so the ledger never saw it). Messages from
    Kafka carry their id and time as header bytes, checked here as ``Envelope`` checks them."""
    event_id, stream_id, version, recorded_at, event_type, data = entry
    try:
        if isinstance(recorded_at, bytes):  # ASCII (checked when it was read)
            event_id, stream_id, recorded_at = (
                event_id.decode(), stream_id.decode(), recorded_at.decode())  # type: ignore[union-attr]
        if isinstance(recorded_at, str):
            recorded_at = _from_iso(recorded_at)
            if recorded_at.utcoffset() is None:
                return None
            if not _is_canonical_uuid(event_id):  # type: ignore[arg-type]
                event_id = str(UUID(event_id))  # type: ignore[arg-type]
        if isinstance(data, bytes):
            try:
                event = _json_validator(event_type)(data)
            except ValidationError:
                # The inbox validates the decoded JSON: where the JSON mode is stricter (a
                # lone surrogate, say), that decides.
                event = model_for(event_type).model_validate(json.loads(data))
        else:
            event = model_for(event_type).model_validate(data)
    except (UnknownEventType, ValidationError, ValueError):
        return None
    # Positional: this runs for every record of a history (``recorded_at`` is aware here, so
    # ``Consumed``'s own check passes).
    return Consumed(event_id, stream_id, version, recorded_at, event)  # type: ignore[arg-type]


_from_iso = datetime.fromisoformat
_is_canonical_uuid = _CANONICAL_UUID.fullmatch
_JSON_VALIDATORS: dict[str, Callable[[bytes], Event]] = {}


def _json_validator(event_type: str) -> Callable[[bytes], Event]:
    """What ``model_for(event_type).model_validate_json`` calls, with the same (default)
    arguments, looked up once per type: the wrapper and the registry lookup were a tenth of
    parsing a record (UnknownEventType for a type no contract declares, as before)."""
    validate = _JSON_VALIDATORS.get(event_type)
    if validate is None:
        validate = _JSON_VALIDATORS[event_type] = (
            model_for(event_type).__pydantic_validator__.validate_json)
    return validate


def _keep(records: dict[str, Consumed], record: Consumed) -> None:
    seen = records.get(record.event_id)
    if seen is None:
        records[record.event_id] = record
    elif seen != record:
        raise ConflictingDuplicate(f"event {record.event_id} was read with two contents")
