"""The bot's own state in SQLite (WAL), off the event loop via aiosqlite.

Each feature owns its tables and registers its migrations under its own
component name; ``schema_versions`` records how far each component is, so
features evolve their schema independently. Multi-step changes go through
``transaction()`` so they land entirely or not at all.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

log = logging.getLogger(__name__)

Params = Sequence[Any] | dict[str, Any]


class Store:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        # One connection, so one writer at a time: a transaction holds the lock
        # and plain statements wait for it instead of interleaving.
        self._lock = asyncio.Lock()

    @classmethod
    async def open(cls, path: Path) -> Store:
        path.parent.mkdir(parents=True, exist_ok=True)
        conn = await aiosqlite.connect(path, isolation_level=None)
        conn.row_factory = aiosqlite.Row
        await conn.execute("PRAGMA journal_mode=WAL")
        await conn.execute("PRAGMA synchronous=NORMAL")
        await conn.execute("PRAGMA foreign_keys=ON")
        await conn.execute("PRAGMA busy_timeout=5000")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (component TEXT PRIMARY KEY, version INTEGER NOT NULL)"
        )
        return cls(conn)

    async def close(self) -> None:
        async with self._lock:
            await self._conn.close()

    async def migrate(self, component: str, steps: Sequence[str]) -> int:
        """Apply the not-yet-applied ``steps`` (SQL scripts) of ``component``, each in a transaction."""
        row = await self.fetchone(
            "SELECT version FROM schema_versions WHERE component=?", (component,)
        )
        current = int(row["version"]) if row else 0
        for version, script in enumerate(steps[current:], start=current + 1):
            async with self.transaction() as tx:
                for statement in _split_sql(script):
                    await tx.execute(statement)
                await tx.execute(
                    "INSERT INTO schema_versions(component, version) VALUES (?, ?) "
                    "ON CONFLICT(component) DO UPDATE SET version=excluded.version",
                    (component, version),
                )
            log.info("migrated %s to schema version %d", component, version)
        return len(steps)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[Transaction]:
        async with self._lock:
            await self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield Transaction(self._conn)
            except BaseException:
                await self._conn.execute("ROLLBACK")
                raise
            else:
                await self._conn.execute("COMMIT")

    async def execute(self, sql: str, params: Params = ()) -> int:
        """Run one statement; returns lastrowid (or rowcount for UPDATE/DELETE via ``changes``)."""
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return cur.lastrowid or 0

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            row = await cur.fetchone()
            return dict(row) if row is not None else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        async with self._lock:
            cur = await self._conn.execute(sql, params)
            return [dict(r) for r in await cur.fetchall()]

    async def fetchval(self, sql: str, params: Params = ()) -> Any:
        row = await self.fetchone(sql, params)
        return next(iter(row.values())) if row else None


class Transaction:
    """Statements inside ``Store.transaction()``; all or nothing."""

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, params: Params = ()) -> int:
        cur = await self._conn.execute(sql, params)
        return cur.rowcount if cur.lastrowid in (None, 0) else cur.lastrowid

    async def executemany(self, sql: str, rows: Iterable[Params]) -> None:
        await self._conn.executemany(sql, rows)

    async def fetchone(self, sql: str, params: Params = ()) -> dict[str, Any] | None:
        cur = await self._conn.execute(sql, params)
        row = await cur.fetchone()
        return dict(row) if row is not None else None

    async def fetchall(self, sql: str, params: Params = ()) -> list[dict[str, Any]]:
        cur = await self._conn.execute(sql, params)
        return [dict(r) for r in await cur.fetchall()]


def _split_sql(script: str) -> list[str]:
    # Migrations are plain DDL/DML without semicolons inside literals.
    return [s.strip() for s in script.split(";") if s.strip()]
