"""Group-committed writes (bot/batchwrite.py) on a real SQLite store."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.batchwrite import BatchedWrites
from bot.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> Store:
    s = await Store.open(tmp_path / "db.sqlite3")
    await s.execute("CREATE TABLE t (k TEXT PRIMARY KEY, v INTEGER NOT NULL)")
    yield s  # type: ignore[misc]
    await s.close()


async def count(store: Store) -> int:
    n: int = await store.fetchval("SELECT COUNT(*) FROM t")
    return n


async def test_each_write_is_committed_when_it_returns(store: Store) -> None:
    rows = BatchedWrites(store, "INSERT INTO t(k, v) VALUES (?, ?)")
    committed: list[int] = []

    async def one(i: int) -> None:
        await rows.write((f"k{i}", i))
        # Visible to a separate read the moment write() returns.
        got = await store.fetchval("SELECT v FROM t WHERE k=?", (f"k{i}",))
        committed.append(got)

    await asyncio.gather(*(one(i) for i in range(50)))
    assert sorted(committed) == list(range(50))
    assert await count(store) == 50


async def test_concurrent_writes_share_trips_to_sqlite(store: Store) -> None:
    trips = 0
    started = asyncio.Event()
    execute, executemany = store.execute, store.executemany

    async def counted_execute(*a: object, **kw: object) -> int:
        nonlocal trips
        trips += 1
        started.set()
        return await execute(*a, **kw)  # type: ignore[arg-type]

    async def counted_executemany(*a: object, **kw: object) -> None:
        nonlocal trips
        trips += 1
        await executemany(*a, **kw)  # type: ignore[arg-type]

    store.execute = counted_execute  # type: ignore[method-assign]
    store.executemany = counted_executemany  # type: ignore[method-assign]
    rows = BatchedWrites(store, "INSERT INTO t(k, v) VALUES (?, ?)")
    # 100 writers at the same moment: one transaction.
    await asyncio.gather(*(rows.write((f"k{i}", i)) for i in range(100)))
    assert trips == 1
    # One write under way, 10 arrive meanwhile: they share the next one.
    first = asyncio.create_task(rows.write(("first", 0)))
    await started.wait()
    await asyncio.gather(*(rows.write((f"later{i}", i)) for i in range(10)), first)
    store.execute, store.executemany = execute, executemany  # type: ignore[method-assign]
    assert trips == 3
    assert await count(store) == 111


async def test_flush_waits_for_rows_queued_for_later(store: Store) -> None:
    rows = BatchedWrites(store, "INSERT INTO t(k, v) VALUES (?, ?)")
    for i in range(20):
        rows.write_later((f"k{i}", i))
    await rows.flush()
    assert await count(store) == 20
    await rows.flush()  # nothing queued: returns at once


async def test_a_failed_write_raises_for_its_callers_and_is_reported(store: Store) -> None:
    errors: list[Exception] = []
    rows = BatchedWrites(store, "INSERT INTO t(k, v) VALUES (?, ?)", on_error=errors.append)
    await rows.write(("dup", 1))
    with pytest.raises(Exception, match="UNIQUE"):
        await rows.write(("dup", 2))
    rows.write_later(("dup", 3))  # nobody awaits it: counted, and the writer carries on
    await rows.flush()
    await rows.write(("fine", 4))
    assert len(errors) == 2
    assert await count(store) == 2
