"""Rows of one statement written together (group commit).

Every statement through aiosqlite is a trip to its thread and back, and under
load that trip, not SQLite, is the cost. Here a row that arrives while a write
is under way joins the next write: N writers at the same moment cost one or two
trips instead of N, and ``write`` still returns only once its own row is
committed, so "recorded before it is sent" keeps holding for a caller that
awaits it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.store import Params, Store

log = logging.getLogger(__name__)


class BatchedWrites:
    def __init__(
        self, store: Store, sql: str, *, on_error: Callable[[Exception], None] | None = None
    ) -> None:
        self.store = store
        self.sql = sql
        self.on_error = on_error
        self._rows: list[Params] = []
        self._next: asyncio.Future[None] | None = None  # resolved once _rows are committed
        self._task: asyncio.Task[None] | None = None

    async def write(self, params: Params) -> None:
        """Return once this row is committed (raise if its write failed)."""
        # Shielded: the future is shared by every row of the write, so one caller
        # being cancelled must not cancel it for the others.
        await asyncio.shield(self._enqueue(params))

    def write_later(self, params: Params) -> None:
        """Queue the row; ``flush`` waits for it. A failure is logged and counted."""
        self._enqueue(params)

    async def flush(self) -> None:
        """Wait until every row queued so far is written (or its write failed)."""
        while (task := self._task) is not None:
            await asyncio.shield(task)

    def _enqueue(self, params: Params) -> asyncio.Future[None]:
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            self._next.add_done_callback(_retrieve)
        self._rows.append(params)
        future = self._next
        if self._task is None:
            self._task = asyncio.create_task(self._drain(), name="batched-writes")
        return future

    async def _drain(self) -> None:
        future: asyncio.Future[None] | None = None
        try:
            while self._rows:
                rows, future = self._rows, self._next
                self._rows, self._next = [], None
                assert future is not None
                try:
                    if len(rows) == 1:
                        await self.store.execute(self.sql, rows[0])  # one trip, no BEGIN/COMMIT
                    else:
                        await self.store.executemany(self.sql, rows)  # one transaction
                except Exception as exc:
                    log.exception("could not write %d row(s): %s", len(rows), self.sql[:60])
                    if self.on_error is not None:
                        self.on_error(exc)
                    future.set_exception(exc)
                else:
                    future.set_result(None)
        except BaseException:
            # Cancelled at shutdown: whoever still waits must not wait forever.
            for fut in (future, self._next):
                if fut is not None and not fut.done():
                    fut.set_exception(RuntimeError("store closing"))
            self._rows, self._next = [], None
            raise
        finally:
            self._task = None


def _retrieve(future: asyncio.Future[None]) -> None:
    # A failed write is logged above; nobody may be waiting (write_later) to see it.
    if not future.cancelled():
        future.exception()
