"""The event store on the real PostgreSQL: concurrency, commit order, the hash chain."""

from __future__ import annotations

import asyncio
import random
import uuid

import asyncpg
import pytest

from shared.aggregate import load
from shared.contracts import Metadata
from shared.contracts.enrolment import WorkerRegistered
from shared.eventsourcing.db import create_pool
from shared.eventsourcing.migrations import KIT_MIGRATIONS, apply_migrations, migration_files
from shared.eventsourcing.store import ConcurrencyError, EventStore, StoredEvent, StreamAppend

pytestmark = pytest.mark.integration

META = Metadata(correlation_id="test")


def registered(n: int) -> WorkerRegistered:
    return WorkerRegistered(worker_id=f"w-{n}", gender="female", birth_year=1990)


async def test_append_and_read_stream(store: EventStore) -> None:
    stored = await store.append("worker-1", 0, [registered(1), registered(2)], META)
    assert [e.version for e in stored] == [1, 2]
    assert [e.position for e in stored] == [1, 2]
    read = await store.read_stream("worker-1")
    assert [e.data["worker_id"] for e in read] == ["w-1", "w-2"]
    assert read[0].event_type == "songji.enrolment.WorkerRegistered.v1"
    assert read[0].recorded_at.tzinfo is not None
    assert await store.stream_version("worker-1") == 2


async def test_wrong_expected_version_is_refused_and_nothing_stored(store: EventStore) -> None:
    await store.append("s", 0, [registered(1)], META)
    with pytest.raises(ConcurrencyError) as err:
        await store.append("s", 0, [registered(2)], META)
    assert (err.value.expected, err.value.actual) == (0, 1)
    assert len(await store.read_stream("s")) == 1
    assert await store.last_position() == 1


async def test_two_writers_same_expected_version_exactly_one_wins(store: EventStore) -> None:
    await store.append("contested", 0, [registered(0)], META)
    results = await asyncio.gather(
        *(store.append("contested", 1, [registered(i)], META) for i in range(1, 9)),
        return_exceptions=True,
    )
    winners = [r for r in results if not isinstance(r, BaseException)]
    losers = [r for r in results if isinstance(r, ConcurrencyError)]
    assert len(winners) == 1
    assert len(losers) == 7
    assert [e.version for e in await store.read_stream("contested")] == [1, 2]


async def test_reader_tailing_by_position_sees_every_event_once_in_commit_order(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """Writers hold their transactions open for random moments, so commits arrive late and out
    of start order; a reader tailing ``position > n`` must still miss nothing."""
    writers, per_writer = 12, 25
    done = asyncio.Event()

    async def writer(w: int) -> None:
        for i in range(per_writer):
            async with pool.acquire() as conn, conn.transaction():
                await store.append(f"stream-{w}", i, [registered(w * 1000 + i)], META, conn=conn)
                await asyncio.sleep(random.random() * 0.004)  # a late commit

    seen: list[int] = []
    commit_order: list[str] = []

    async def reader() -> None:
        position = 0
        while True:
            finished = done.is_set()
            batch = await store.read_after(position, 50)
            for event in batch:
                seen.append(event.position)
                commit_order.append(event.data["worker_id"])
                position = event.position
            if finished and not batch:
                return
            await asyncio.sleep(0.001)

    tail = asyncio.create_task(reader())
    await asyncio.gather(*(writer(w) for w in range(writers)))
    done.set()
    await tail

    total = writers * per_writer
    assert seen == list(range(1, total + 1)), "a gap or a duplicate in what the reader saw"
    for w in range(writers):  # each stream's own order kept
        mine = [int(x.split("-")[1]) for x in commit_order if int(x.split("-")[1]) // 1000 == w]
        assert mine == sorted(mine)


async def test_hash_chain_verifies_and_names_an_edited_row(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    for i in range(5):
        await store.append(f"s{i}", 0, [registered(i)], META)
    assert (await store.verify()).ok
    async with pool.acquire() as conn:
        await conn.execute(
            """UPDATE events SET data = jsonb_set(data, '{birth_year}', '1991')
               WHERE position = 3"""
        )
    result = await store.verify()
    assert not result.ok
    assert result.first_bad_position == 3
    assert result.checked == 2


async def test_hash_chain_notices_a_deleted_row(store: EventStore, pool: asyncpg.Pool) -> None:
    for i in range(4):
        await store.append(f"s{i}", 0, [registered(i)], META)
    async with pool.acquire() as conn:
        await conn.execute("DELETE FROM events WHERE position = 2")
    result = await store.verify()
    assert result.first_bad_position == 2
    assert "missing" in (result.reason or "")


async def test_migrations_are_safe_to_run_twice(pool: asyncpg.Pool) -> None:
    files = migration_files(KIT_MIGRATIONS)
    async with pool.acquire() as conn:
        assert await apply_migrations(conn, files) == []
        assert await conn.fetchval("SELECT count(*) FROM event_head") == 1


@pytest.mark.parametrize("size", [1, 3], ids=["one event", "several events"])
async def test_an_expected_version_the_stream_never_had_is_refused(
    store: EventStore, size: int
) -> None:
    await store.append("short", 0, [registered(0)], META)
    with pytest.raises(ConcurrencyError) as err:
        await store.append("short", 4, [registered(i) for i in range(size)], META)
    assert (err.value.expected, err.value.actual) == (4, 1)
    assert len(await store.read_stream("short")) == 1
    assert await store.last_position() == 1
    assert (await store.verify()).ok


@pytest.mark.parametrize("size", [1, 3], ids=["one event", "several events"])
async def test_a_conflict_inside_the_callers_transaction_rolls_it_back(
    store: EventStore, pool: asyncpg.Pool, size: int
) -> None:
    await store.append("taken", 0, [registered(0)], META)
    with pytest.raises(ConcurrencyError) as err:
        async with pool.acquire() as conn, conn.transaction():
            await store.append("other", 0, [registered(9)], META, conn=conn)
            await store.append("taken", 0, [registered(i) for i in range(size)], META,
                               conn=conn)
    assert err.value.expected == 0
    # The batch function checks the version itself and says it; the single-event statement
    # meets the unique index, which aborts the transaction, so the version is not read.
    assert err.value.actual == (None if size == 1 else 1)
    assert "taken" in str(err.value)
    assert await store.stream_version("other") == 0
    assert await store.last_position() == 1


async def test_single_and_batch_appends_interleave_into_one_chain(store: EventStore) -> None:
    """One-event appends and batches take different statements; concurrent writers of both
    kinds must still give gap-free positions, contiguous versions and one verifiable chain."""
    async def writer(w: int) -> None:
        version = 0
        for i in range(6):
            size = 1 if (w + i) % 2 else 3
            events = [registered(w * 100 + i * 10 + k) for k in range(size)]
            stored = await store.append(f"mixed-{w}", version, events, META)
            assert [e.version for e in stored] == list(range(version + 1, version + size + 1))
            version += size

    await asyncio.gather(*(writer(w) for w in range(6)))
    total = await store.last_position()
    events = await store.read_after(0, limit=total + 10)
    assert [e.position for e in events] == list(range(1, total + 1))
    assert all(isinstance(e.data, dict) and e.data["worker_id"].startswith("w-") for e in events)
    for w in range(6):
        versions = [e.version for e in await store.read_stream(f"mixed-{w}")]
        assert versions == list(range(1, len(versions) + 1))
    verification = await store.verify()
    assert verification.ok and verification.checked == total == 6 * (3 * 3 + 3 * 1)


async def test_a_stream_is_read_on_the_callers_connection(database: str) -> None:
    """A handler inside a transaction loads its aggregate on the connection it holds: taking a
    second one from the pool deadlocks once every connection is held by a handler waiting for
    another (seen as enrolment requests hanging under load)."""
    pool = await create_pool(database, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await apply_migrations(conn, migration_files(KIT_MIGRATIONS))
        store = EventStore(pool)
        await store.append("w-1", 0, [registered(1), registered(2)], META)
        async with pool.acquire() as conn, conn.transaction():  # the pool's only connection
            state, version = await asyncio.wait_for(
                load(store, "w-1", lambda n, _: n + 1, 0, conn=conn), timeout=5)
            events = await asyncio.wait_for(store.read_stream("w-1", conn=conn), timeout=5)
            version_read = await asyncio.wait_for(store.stream_version("w-1", conn=conn),
                                                  timeout=5)
        assert (state, version) == (2, 2) and version_read == 2
        assert [e.data["worker_id"] for e in events] == ["w-1", "w-2"]
    finally:
        await pool.close()


@pytest.mark.parametrize("size", [1, 2, 100])
async def test_the_appended_events_returned_are_the_ones_read_back(
    store: EventStore, size: int
) -> None:
    """The append builds what it returns from what it sent and the one row that comes back
    (first position, chained hashes): it must be exactly what a reader gets from the rows."""
    await store.append("before", 0, [registered(0)], META)
    meta = Metadata(correlation_id="c-1", causation_id="e-0")
    # The batch joins the data texts with U+001E: a value holding one must come back whole.
    odd = WorkerRegistered(worker_id='w-\x1e-"富"\n', gender="male", birth_year=1991)
    events = [odd, *(registered(n) for n in range(size - 1))]
    appended = await store.append("worker-富", 0, events, meta)
    read = await store.read_stream("worker-富")
    assert appended == read
    assert read[0].data["worker_id"] == 'w-\x1e-"富"\n'
    assert [e.position for e in appended] == list(range(2, size + 2))
    assert all(e.event_id.version == 4 for e in appended)
    assert len({e.event_id for e in appended}) == size
    assert all(e.hash == r.hash and e.content_hash() == r.content_hash()
               for e, r in zip(appended, read, strict=True))
    assert (await store.verify()).ok


async def test_the_earlier_batch_function_still_appends_into_the_same_chain(
    store: EventStore, pool: asyncpg.Pool
) -> None:
    """songji_append (sql/0003) stays for writers still running the code that calls it: its
    events chain with the new function's and the store still verifies."""
    from shared.eventsourcing.hashing import canonical_json, canonical_time, content_hash

    await store.append("new-1", 0, [registered(1), registered(2)], META)
    when = store.clock()
    data = canonical_json(registered(3).model_dump(mode="json"))
    meta = canonical_json(META.model_dump(mode="json"))
    ids = [uuid.uuid4(), uuid.uuid4()]
    hashes = [content_hash(event_id=ids[k], stream_id="old-1", version=k + 1,
                           event_type=registered(3).ce_type(), schema_version=1,
                           data_json=data, metadata_json=meta,
                           recorded_at=canonical_time(when)) for k in range(2)]
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT out_position FROM songji_append($1, 0, $2, $3, $4, $5, $6, $7, $8)",
            "old-1", ids, [registered(3).ce_type()] * 2, [1, 1], [data.decode()] * 2,
            meta.decode(), when, hashes)
    assert [r["out_position"] for r in rows] == [3, 4]
    await store.append("new-1", 2, [registered(4), registered(5)], META)
    assert await store.last_position() == 6
    assert (await store.verify()).ok


@pytest.mark.parametrize(("types", "data", "hashes"), [
    ("t\x1et", "{}\x1e{}", b"h" * 32),  # one content hash for two events
    ("t\x1et", "{}", b"h" * 64),  # one data text
    ("t\x1et\x1et", "{}\x1e{}", b"h" * 64),  # three types
])
async def test_a_batch_whose_parts_do_not_count_alike_is_refused(
    pool: asyncpg.Pool, types: str, data: str, hashes: bytes,
) -> None:
    """The types and data arrive joined by U+001E and the content hashes as one bytea: a count
    that differs from the events' (a separator where none may be) writes nothing."""
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="songji_append_batch: 2 events"):
            await conn.fetchrow(
                "SELECT * FROM songji_append_batch('s', 0, $1, $2, $3, $4, '{}', now(), $5)",
                [uuid.uuid4(), uuid.uuid4()], types, [1, 1], data, hashes)
        assert await conn.fetchval("SELECT last_position FROM event_head") == 0
        assert await conn.fetchval("SELECT count(*) FROM events") == 0


async def test_events_of_several_streams_are_appended_in_one_call(store: EventStore) -> None:
    """``append_to_streams`` gives each stream its versions and the whole call gap-free
    positions in the order given, returns what a reader gets back, and chains with ``append``
    (single events and batches) written beside it at the same time."""
    await store.append("old", 0, [registered(0)], META)
    meta = Metadata(correlation_id="c-streams")

    async def several(w: int) -> list[list[StoredEvent]]:
        return await store.append_to_streams([
            StreamAppend(f"many-{w}-a", 0, [registered(w * 10 + 1)]),
            StreamAppend("old" if w == 0 else f"many-{w}-b", 1 if w == 0 else 0,
                         [registered(w * 10 + 2), registered(w * 10 + 3)]),
            StreamAppend(f"many-{w}-c", 0, []),  # nothing to append: not checked, not written
        ], meta)

    async def single(w: int) -> None:
        await store.append(f"single-{w}", 0, [registered(900 + w)], META)
        await store.append(f"single-{w}", 1, [registered(910 + w), registered(920 + w)], META)

    results = await asyncio.gather(*(several(w) for w in range(4)),
                                   *(single(w) for w in range(4)))
    appended = results[:4]
    for w, (a, b, c) in enumerate(appended):
        assert [e.version for e in a] == [1] and c == []
        assert [e.version for e in b] == ([2, 3] if w == 0 else [1, 2])
        positions = [e.position for e in (*a, *b)]
        assert positions == list(range(positions[0], positions[0] + 3))
        assert a == await store.read_stream(f"many-{w}-a")
        assert b == (await store.read_stream("old" if w == 0 else f"many-{w}-b"))[-2:]
        assert await store.stream_version(f"many-{w}-c") == 0
    total = await store.last_position()
    assert total == 1 + 4 * 3 + 4 * 3
    assert [e.position for e in await store.read_after(0, total + 10)] == list(
        range(1, total + 1))
    verification = await store.verify()
    assert verification.ok and verification.checked == total


async def test_appends_of_several_streams_keep_each_their_own_metadata(
    store: EventStore
) -> None:
    """Commands of separate requests are appended in one call (a batch): each stream's events
    carry its own metadata, the others the call's, as stored, returned and chained."""
    mine, theirs = Metadata(correlation_id="c-mine"), Metadata(correlation_id="c-theirs")
    a, b, c = await store.append_to_streams([
        StreamAppend("own-a", 0, [registered(1), registered(2)], mine),
        StreamAppend("own-b", 0, [registered(3)]),
        StreamAppend("own-c", 0, [registered(4)], theirs),
    ], META)
    assert [e.metadata["correlation_id"] for e in (*a, *b, *c)] == [
        "c-mine", "c-mine", "test", "c-theirs"]
    assert a == await store.read_stream("own-a")
    assert c == await store.read_stream("own-c")
    [only] = (await store.append_to_streams([StreamAppend("own-d", 0, [registered(5)],
                                                          theirs)], META))
    assert only[0].metadata["correlation_id"] == "c-theirs"
    verification = await store.verify()
    assert verification.ok and verification.checked == 5


@pytest.mark.parametrize(("expected", "actual"), [(0, 1), (3, 1)],
                         ids=["moved on", "a version it never had"])
async def test_a_conflict_on_any_stream_appends_to_none(
    store: EventStore, pool: asyncpg.Pool, expected: int, actual: int
) -> None:
    await store.append("taken", 0, [registered(0)], META)
    with pytest.raises(ConcurrencyError) as err:
        await store.append_to_streams([
            StreamAppend("free-1", 0, [registered(1)]),
            StreamAppend("taken", expected, [registered(2), registered(3)]),
            StreamAppend("free-2", 0, [registered(4)]),
        ], META)
    assert (err.value.stream_id, err.value.expected, err.value.actual) == (
        "taken", expected, actual)
    assert await store.last_position() == 1
    assert [await store.stream_version(s) for s in ("free-1", "taken", "free-2")] == [0, 1, 0]
    # inside the caller's transaction, the conflict rolls the caller's writes back too
    with pytest.raises(ConcurrencyError):
        async with pool.acquire() as conn, conn.transaction():
            await store.append("mine", 0, [registered(5)], META, conn=conn)
            await store.append_to_streams([StreamAppend("taken", expected, [registered(6)])],
                                          META, conn=conn)
    assert await store.stream_version("mine") == 0
    assert (await store.verify()).ok


async def test_writers_of_several_streams_racing_for_one_exactly_one_wins(
    store: EventStore
) -> None:
    results = await asyncio.gather(
        *(store.append_to_streams([StreamAppend(f"own-{i}", 0, [registered(i)]),
                                   StreamAppend("contested", 0, [registered(100 + i)])], META)
          for i in range(6)), return_exceptions=True)
    winners = [r for r in results if not isinstance(r, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(r, ConcurrencyError) and r.stream_id == "contested"
               for r in results if isinstance(r, BaseException))
    assert await store.last_position() == 2
    assert len(await store.read_stream("contested")) == 1
    assert (await store.verify()).ok


async def test_a_stream_named_twice_in_one_call_is_refused(store: EventStore) -> None:
    with pytest.raises(ValueError, match="named twice"):
        await store.append_to_streams([StreamAppend("s", 0, [registered(1)]),
                                       StreamAppend("s", 1, [registered(2)])], META)
    assert await store.last_position() == 0


async def test_several_streams_whose_versions_do_not_follow_each_other_are_refused(
    pool: asyncpg.Pool
) -> None:
    """The function refuses a call whose events of one stream skip a version (the store
    never sends one; this guards the function itself)."""
    ids = [uuid.uuid4(), uuid.uuid4()]
    async with pool.acquire() as conn:
        with pytest.raises(asyncpg.RaiseError, match="do not follow each other"):
            await conn.fetchrow(
                "SELECT * FROM songji_append_streams($1, $2, $3, $4, $5, $6, '{}', now(), $7)",
                ids, ["s", "s"], [1, 3], "t\x1et", [1, 1], "{}\x1e{}", b"h" * 64)
        assert await conn.fetchval("SELECT count(*) FROM events") == 0
