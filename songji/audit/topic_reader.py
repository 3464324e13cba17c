"""Reading topics in a process of its own, for the auditor's replay.

Consuming a topic with aiokafka costs ~4 µs of Python per record with the garbage collector
off, ~6 µs with it on (fetch responses, record batches, ``ConsumerRecord`` objects), and
``History.add_message`` ~5 µs. In one process the two take turns on one CPU. Here a *reader
process* consumes and hands each record's raw headers and value on, in batches, over a
pipe, while the calling process adds them to its history: the two overlap, on two CPUs. It
also checks the records' authenticity when it has time (see ``B`` below).

The reader is a fresh interpreter (``python -m songji.audit.topic_reader``) that imports
aiokafka and of Songji's how to log in to Kafka (``kafka_access``, standard library only)
and, to check authenticity, the contracts and the keys (loaded in a thread while the consumer
connects): it starts in ~0.1 s, shares no memory with the caller (so its peak RSS is its
own) and inherits no event loop, threads or locks from it, as a fork would.

What goes over the pipe, each frame a 9-byte head (kind, length) and a body:

- ``B``: a batch, ``marshal`` of a list of ``(topic, header names, header values, value,
  verdict)`` (``Message``): the topic (one interned string per topic, so written once a frame), the
  bytes as aiokafka gave them, the headers' ``(name, value)`` pairs split
  into two tuples. ``marshal`` because it is the cheapest measured for this shape: ~0.9 µs a
  record to write and ~1.7 µs to read, against ~3.9 and ~2.0 µs for ``pickle`` (which
  memoises every object it writes). Both ends are the same interpreter, and the bytes are
  the reader's own, not the broker's.

  The names are the same ten for nearly every record, but aiokafka decodes them afresh for
  each: sent as they came, the caller would get ten new strings a record, copied out of
  every frame, hashed and compared by content in every header lookup. So every record with
  the same names shares one tuple of interned strings (``_known``): ``marshal`` writes it
  once a frame and the caller gets back the very strings its lookups use, for ~1.4 µs a
  record of splitting in the reader (the measurements: docs/benchmarks.md, benchmark 3).

  Each record also carries the verdict on its authenticity, when the reader reached it
  (``_judge``; None otherwise: the caller checks it). Checking a signed event (its leaf, its
  proof, a signature per batch of 64) costs ~9 µs of Python, more than the caller's ~6 µs
  for everything else: checked in the caller alone, they would make the caller the
  bottleneck of the replay. The reader checks while the caller is behind, so the checks go
  to whichever CPU has time.
- ``E``: the end, when the topics stayed quiet for ``idle_ms``; the body is the number of
  records sent, checked by the caller.
- ``X``: an error the reader met (the broker unreachable, say), pickled, raised in the caller.

Frames are written by a thread of the reader, so that it goes on fetching while a frame is
in the pipe, but at most ``_QUEUED`` frames wait there: if the caller is slower, the reader
waits, and memory stays bounded by a few batches whatever the length of the history.

Those batches are small: each record in hand is ~2 KB of Python objects (``ConsumerRecord``,
its headers as a tuple of pairs) and ~0.5 KB marshalled. The reader takes at most
``_BATCH_RECORDS`` records from the consumer at a time (a ``getmany`` without a limit returns
everything prefetched, all marshalled before the first frame waits) and sends them in frames
of at most ``_FRAME_RECORDS``, so what it holds is bounded by those limits and ``_QUEUED``,
not by how far behind the caller falls (its peaks: docs/benchmarks.md, benchmark 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import gc
import json
import marshal
import os
import pickle
import queue
import struct
import subprocess
import sys
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:  # imported by the reader process only when it checks (``_authenticity``)
    from shared.eventsourcing.authenticity import Authenticity, Verdict

# A record as handed over: its topic (the readers check what it holds against its owner),
# its header names, its header values (in the same order), its value, and the verdict on its
# authenticity when the reader process reached it (None: the caller checks it). See
# ``batches`` for why the headers are split, ``_judge`` for the verdicts.
Message = tuple[str, tuple[str, ...], tuple["bytes | None", ...], "bytes | None",
                "Verdict | None"]
# Which verdicts the reader process reaches: as many as it has time for while the caller is
# behind (``spare``, see ``_judge``), every one (``all``: the reader may become the slower
# of the two), or none (``none``: the caller checks every record).
ReaderChecks = Literal["spare", "all", "none"]

_HEAD = struct.Struct("<cQ")
_BATCH, _END, _ERROR = b"B", b"E", b"X"
_QUEUED = 2  # frames written but not yet in the pipe, in the reader
_BATCH_RECORDS = 5_000  # records taken from the consumer at a time
_FRAME_RECORDS = 5_000  # a batch is split into frames of at most this many records
_JUDGED = 500  # records judged between two looks at whether the caller is still behind
_NAME_SEQUENCES = 64  # header name sequences shared (``_known``); more are sent as they are
_PIPE_BYTES = 1 << 20  # asked of the kernel for the pipe (Linux; 64 KB otherwise)
_LET_FETCH = 3  # loop turns: the fetch routine wakes, builds the requests, its tasks send them


class ReaderFailed(RuntimeError):
    """The reader process ended without saying why (killed, say), or sent something else."""


def consumer_settings() -> dict[str, Any]:
    """How the auditor's consumer fetches: from the first offset, no consumer group, no
    commits. The benchmark's raw consumer is configured the same, so it is no worse off."""
    return {"group_id": None, "auto_offset_reset": "earliest", "enable_auto_commit": False}


# -- the reader process ----------------------------------------------------------------------

async def batches(bootstrap: str, topics: Sequence[str], *, idle_ms: int
                  ) -> AsyncIterator[list[Message]]:
    """Every record on ``topics`` from the first offset, as a ``Message``, a fetched batch
    at a time, read in this process until the topics stay quiet for ``idle_ms``."""
    from aiokafka import AIOKafkaConsumer

    from shared.eventsourcing.kafka_access import KafkaAccess  # the auditor's login, if any

    consumer = AIOKafkaConsumer(*topics, bootstrap_servers=bootstrap, **consumer_settings(),
                                **KafkaAccess.from_env().client_options())
    known: dict[tuple[str, ...], tuple[str, ...]] = {}
    await consumer.start()
    try:
        # The broker's end offsets cannot be trusted (see DESIGN.md): read until the topics
        # stay quiet for ``idle_ms``.
        while batch := await consumer.getmany(timeout_ms=idle_ms,
                                               max_records=_BATCH_RECORDS):
            # Let the fetch routine send the next requests before this batch is worked
            # through (it runs only when the loop does), so the broker prepares them
            # meanwhile instead of after.
            for _ in range(_LET_FETCH):
                await asyncio.sleep(0)
            records: list[Message] = []
            for part in batch.values():
                for m in part:
                    if m.headers:
                        names, values = zip(*m.headers, strict=True)
                        names = known.get(names) or _known(known, names)
                    else:
                        names = values = ()
                    records.append((sys.intern(m.topic), names, values, m.value, None))
            yield records
    finally:
        await consumer.stop()


def _known(known: dict[tuple[str, ...], tuple[str, ...]], names: tuple[str, ...]
           ) -> tuple[str, ...]:
    """One interned tuple for each sequence of header names (the first few dozen: a topic
    of Songji's has one or two), which every record with those names then shares."""
    if len(known) >= _NAME_SEQUENCES:
        return names
    canonical = known[names] = tuple(sys.intern(name) for name in names)
    return canonical


async def _consume(bootstrap: str, topics: list[str], idle_ms: int, out: _Writer,
                   checks: str) -> int:
    # The checks' code (the contracts) loads in a thread while the consumer connects.
    loading = asyncio.ensure_future(asyncio.to_thread(_authenticity, checks)) if checks else None
    authenticity: Authenticity | None = None
    behind = out.behind
    sent = 0
    async for records in batches(bootstrap, topics, idle_ms=idle_ms):
        if loading is not None:
            (authenticity, every), loading = await loading, None
            if every:
                behind = _always
        for start in range(0, len(records), _FRAME_RECORDS):
            frame = records[start:start + _FRAME_RECORDS]
            if authenticity is not None:
                _judge(frame, authenticity, behind)
            # Waits only when ``_QUEUED`` frames are already waiting: the caller is behind.
            await out.put(_BATCH, marshal.dumps(frame))
        sent += len(records)
    if loading is not None:  # no records: its failure, if any, is still reported
        await loading
    return sent


def _authenticity(checks: str) -> tuple[Authenticity, bool]:
    """The caller's checks (``_checks_argument``) in this process, and whether to judge
    every record."""
    from shared.eventsourcing.authenticity import Authenticity
    from shared.eventsourcing.signing import PublicKeys

    keys, owners, mode = json.loads(checks)
    return Authenticity(PublicKeys.from_setting(keys), owners), mode == "all"


def _checks_argument(authenticity: Authenticity | None, mode: ReaderChecks) -> str:
    if authenticity is None or mode == "none":
        return ""
    return json.dumps([authenticity.keys.to_setting(), authenticity.owners, mode])


def _always() -> bool:
    return True


def _judge(frame: list[Message], authenticity: Authenticity, behind: Callable[[], bool]
           ) -> None:
    """Reach the verdicts on ``frame``'s records here, ``_JUDGED`` at a time, for as long
    as the caller is ``behind`` (frames wait for it): then this process has time to spare,
    and each verdict reached here is CPU time the caller does not spend. When the caller
    catches up, the rest go over without one and the caller checks them: so on two CPUs the
    checks fall where there is time for them, whichever process is the slower.

    The verdict is ``Authenticity.verdict`` on exactly the mapping the caller's
    ``History.add_parts`` would check: given only when the header names are distinct and
    every value is ASCII bytes, where it maps them as ``dict(zip(names, values))`` (a null
    value makes ``join`` fail: no verdict either). An unexpected exception in the checks
    leaves the record without a verdict, so that the caller meets it as before."""
    for start in range(0, len(frame), _JUDGED):
        if not behind():
            return
        for at in range(start, min(start + _JUDGED, len(frame))):
            topic, names, values, value, _ = frame[at]
            try:
                headers = dict(zip(names, values, strict=True))
                if len(headers) != len(names) or not b"".join(values).isascii():  # type: ignore[arg-type]
                    continue
                verdict = authenticity.verdict(headers, value, topic)
            except Exception:  # the caller reaches it again, and meets it
                continue
            frame[at] = (topic, names, values, value, verdict)


class _Writer:
    """Frames to a pipe, written by a thread (a blocking write releases the GIL)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        self.frames: queue.Queue[tuple[bytes, bytes] | None] = queue.Queue(maxsize=_QUEUED)
        self.failed: BaseException | None = None
        self.writing = False  # a frame is being written (set and read without a lock: a hint)
        self.thread = threading.Thread(target=self._run, name="frames", daemon=True)
        self.thread.start()

    async def put(self, kind: bytes, body: bytes) -> None:
        frame = (_HEAD.pack(kind, len(body)), body)
        try:
            self.frames.put_nowait(frame)
        except queue.Full:
            await asyncio.to_thread(self.frames.put, frame)
        if self.failed is not None:
            raise self.failed

    def behind(self) -> bool:
        """Whether frames wait for the caller: one being written (into a full pipe, as a
        rule: the caller's own reading thread already holds the next frame in full) or
        queued. The caller then has at least two frames to work through besides."""
        return self.writing or self.frames.qsize() > 0

    def close(self) -> None:
        self.frames.put(None)
        self.thread.join()

    def _run(self) -> None:
        try:
            while (frame := self.frames.get()) is not None:
                self.writing = True
                for part in frame:
                    view, done = memoryview(part), 0
                    while done < len(part):  # a write may stop short (a signal, say)
                        done += os.write(self.fd, view[done:])
                self.writing = False
        except BaseException as exc:  # the caller went away (BrokenPipeError)
            self.failed = exc
            with contextlib.suppress(queue.Empty):  # unblock a waiting ``put``
                while True:
                    self.frames.get_nowait()


def _main(argv: list[str]) -> int:
    fd, bootstrap, idle_ms, checks, topics = (int(argv[0]), argv[1], int(argv[2]), argv[3],
                                              argv[4:])
    # The reader holds nothing for long and makes no reference cycles to speak of, but
    # allocates several objects a record: collections, even rarer ones, rescan the batch in
    # hand over and over (a third of its CPU time, measured).
    gc.disable()
    out = _Writer(fd)
    try:
        sent = asyncio.run(_consume(bootstrap, topics, idle_ms, out, checks))
        tail = (_END, str(sent).encode())
    except Exception as exc:  # handed to the caller, which raises it
        try:
            body = pickle.dumps(exc)
            pickle.loads(body)  # some exceptions pickle but do not come back
            tail = (_ERROR, body)
        except Exception:  # its type and text, then
            tail = (_ERROR, pickle.dumps(ReaderFailed(f"{type(exc).__name__}: {exc}")))
    if out.failed is None:
        with contextlib.suppress(Exception):
            asyncio.run(out.put(*tail))
    with contextlib.suppress(Exception):
        out.close()
    return 0 if out.failed is None else 1


# -- the caller's side -----------------------------------------------------------------------

def _read_exactly(fd: int, size: int) -> bytearray:
    buffer = bytearray(size)
    view, got = memoryview(buffer), 0
    while got < size:
        n = os.readv(fd, [view[got:]])
        if n == 0:
            raise EOFError
        got += n
    return buffer


def _next_frame(fd: int) -> tuple[bytes, bytearray]:
    kind, size = _HEAD.unpack(_read_exactly(fd, _HEAD.size))
    return kind, _read_exactly(fd, size)


async def read_topics(bootstrap: str, topics: Sequence[str], *, idle_ms: int,
                      process: bool = True, authenticity: Authenticity | None = None,
                      checks: ReaderChecks = "spare") -> AsyncIterator[list[Message]]:
    """Batches of ``Message``s of every record on ``topics`` from the first offset,
    until the topics stay quiet for ``idle_ms``: read by a reader process, or by this one
    (``process=False``: the same records, the same batches, without the overlap). With
    ``authenticity``, the reader process reaches the verdicts, with the same keys and
    owners, of as many records as ``checks`` says (see ``ReaderChecks``): the others'
    verdicts are None."""
    if not process:
        async for records in batches(bootstrap, topics, idle_ms=idle_ms):
            yield records
        return
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):  # a larger pipe: fewer wake-ups per frame
        fcntl.fcntl(write_end, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    try:
        # A session of its own: a Ctrl-C reaches the caller, which ends the reader.
        reader = await asyncio.create_subprocess_exec(
            sys.executable, "-m", __name__, str(write_end), bootstrap, str(idle_ms),
            _checks_argument(authenticity, checks), *topics,
            pass_fds=(write_end,), stdin=subprocess.DEVNULL, start_new_session=True)
    except BaseException:
        os.close(read_end)
        raise
    finally:
        os.close(write_end)  # the reader's only: when it ends, our reads see end of file
    loop = asyncio.get_running_loop()
    # One thread reads the frames, so that the next frame comes through the pipe while the
    # caller works through this one, and so that waiting for it does not block the loop.
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="topic-reader")
    received, ended = 0, False
    pending: asyncio.Future[tuple[bytes, bytearray]] | None = None
    try:
        pending = loop.run_in_executor(pool, _next_frame, read_end)
        while True:
            try:
                kind, body = await pending
            except EOFError:
                raise ReaderFailed("the topic reader ended with "
                                   f"{await reader.wait()} before the end of the topics"
                                   ) from None
            if kind == _BATCH:
                pending = loop.run_in_executor(pool, _next_frame, read_end)
                records = marshal.loads(body)
                del body
                received += len(records)
                yield records
            elif kind == _END:
                if int(body) != received:
                    raise ReaderFailed(f"the topic reader sent {int(body)} records, "
                                       f"{received} came through")
                ended = True
                break
            elif kind == _ERROR:
                try:
                    failure = pickle.loads(body)
                except Exception:
                    failure = ReaderFailed("the topic reader failed (its error did not load)")
                raise failure
            else:
                raise ReaderFailed(f"the topic reader sent a frame of kind {kind!r}")
    finally:
        # However this ends (the end, an error, the caller no longer reading), the reader is
        # ended and waited for, and only then its pipe closed: a read still waiting in the
        # thread sees the end of the file once the reader is gone.
        if ended:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.wait(), 5)  # it sent its last frame, is leaving
        if reader.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                reader.kill()
        await reader.wait()
        if pending is not None:
            # A read the caller no longer waits for (it stopped early) ends at the end of
            # the file now that the reader is gone; its EOFError is taken here, not left to
            # be reported as never retrieved.
            await asyncio.gather(pending, return_exceptions=True)
        pool.shutdown(wait=True)
        os.close(read_end)


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
