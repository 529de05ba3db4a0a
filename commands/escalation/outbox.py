"""The durable outbox: Matrix -> RT writes, strictly in order, exactly once across crashes.

This module claims the pending items, runs each inside its cause and stores the outcome. Each
kind is performed elsewhere: `create` in outbox_create, `correspond`/`comment` in
outbox_message, `close` in closing; refusals and start-up problems are told by outbox_notices.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from bot.matrix import MatrixError
from bot.txn import caused_by
from commands.escalation.outbox_create import CreateItem
from commands.escalation.outbox_message import MessageItem
from commands.escalation.outbox_notices import OutboxNotices
from commands.escalation.part import Part
from commands.escalation.reconcile import NotSettled, Reconciler
from commands.escalation.repository import OUTBOX_KEEP_DAYS
from commands.escalation.rt.rest2 import RTError, RTUnavailable

if TYPE_CHECKING:
    from commands.escalation.service import Escalation

log = logging.getLogger(__name__)


class Outbox(Part):
    """Claims the pending items in order (one thread's items never overtake each other), runs
    each inside its cause and stores the outcome."""

    def __init__(self, esc: Escalation) -> None:
        super().__init__(esc)
        self._drain_lock = asyncio.Lock()
        self._outbox_wake = asyncio.Event()
        self.reconcile: Reconciler = Reconciler(esc.settings.reconcile_settle_seconds)
        # When an RT call last failed (wall time), None after a good one: a thread whose create
        # was queued before that failure is told "queued" at once.
        self.rt_failed_at: float | None = None
        self._retry_at: float | None = None  # monotonic: a settling item wants another look
        self._startup_task: asyncio.Task[None] | None = None
        self.create: CreateItem = CreateItem(esc)
        self.message: MessageItem = MessageItem(esc)
        self.notices: OutboxNotices = OutboxNotices(esc)

    def wake(self) -> None:
        """Run a drain soon (new intent committed)."""
        self._outbox_wake.set()

    async def pending_count(self) -> int:
        n = int(await self.store.fetchval("SELECT count(*) FROM rt_outbox WHERE state='pending'"))
        self.metrics.outbox_pending.set(n)
        return n

    async def drain(self) -> bool:
        """Run pending outbox items in order; False if RT was unavailable (stopped early)."""
        async with self._drain_lock:
            items = await self.store.fetchall(
                "SELECT * FROM rt_outbox WHERE state='pending' ORDER BY id"
            )
            waiting: set[tuple[str, str]] = set()  # threads whose earlier item must settle
            for item in items:
                if (item["room_id"], item["thread_id"]) in waiting:
                    continue  # keeps each thread's order; other threads go on
                row = await self.esc.mapping(item["room_id"], item["thread_id"])
                if row is None or row["state"] == "failed":
                    await self.finish(item["id"], "dead", "no ticket for this thread")
                    continue
                self.reconcile.first_sight(item["id"], item["attempts"])
                await self.store.execute(
                    "UPDATE rt_outbox SET attempts=attempts+1 WHERE id=?", (item["id"],)
                )
                # The item is the cause of its sends: a retry (or a restart) sends the same
                # transaction ids again, which Synapse drops as repeats (bot/txn.py). The
                # "failed" notice is another message: a cause of its own (the "queued"
                # notice has its own txn id, commands/escalation/queued.py).
                with caused_by(f"outbox:{item['id']}:{item['kind']}", replay=True):
                    try:
                        if item["kind"] == "create":
                            await self.create.run(item, row)
                        elif item["kind"] == "close":
                            await self.esc.closing.run(item, row)
                        else:
                            await self.message.run(item, row)
                        self.rt_failed_at = None
                    except NotSettled as exc:
                        self.rt_failed_at = None
                        waiting.add((item["room_id"], item["thread_id"]))
                        self._retry_at = min(self._retry_at or exc.retry_at, exc.retry_at)
                        await self._note_error(item["id"], str(exc))
                    except RTUnavailable as exc:
                        self.rt_failed_at = self.now()
                        self.esc.queued.wake()
                        self.reconcile.failed(item["id"], exc)
                        await self._note_error(item["id"], str(exc))
                        log.warning(
                            "RT unavailable, outbox paused (%d pending): %s", len(items), exc
                        )
                        return False
                    except RTError as exc:
                        self.reconcile.forget(item["id"])
                        with caused_by(f"outbox:{item['id']}:failed", replay=True):
                            await self.notices.refused(item, row, exc)
                    except MatrixError as exc:
                        # Unknown outcome / cannot build the message now: keep it, retry later.
                        await self._note_error(item["id"], f"{type(exc).__name__}: {exc}")
                        log.warning("outbox item %s postponed: %s", item["id"], exc)
                        return False
            await self.create.post_missing_replies()
            await self.pending_count()
            return True

    async def _note_error(self, item_id: int, error: str) -> None:
        await self.store.execute(
            "UPDATE rt_outbox SET last_error=? WHERE id=?", (error[:500], item_id)
        )

    async def finish(
        self, item_id: int, state: str, error: str | None = None, txn: int | None = None
    ) -> None:
        await self.store.execute(
            "UPDATE rt_outbox SET state=?, last_error=?, txn_id=?, done_at=? WHERE id=?",
            (state, error, txn, self.now(), item_id),
        )
        self.metrics.outbox.labels(state).inc()

    async def outbox_loop(self) -> None:
        # The start-up checks run beside the drain: an RT that is down or hung at start must
        # not hold up the first drain (nor the queued notices).
        self._startup_task = asyncio.create_task(
            self.notices.startup_checks(), name="rt-startup-checks"
        )
        try:
            await self._loop()
        finally:
            self._startup_task.cancel()

    async def _loop(self) -> None:
        while True:
            # Clear before looking: a wake-up set during the drain must not be lost.
            self._outbox_wake.clear()
            # Always drain: it also re-posts RT#n replies a homeserver hiccup swallowed.
            ok = await self.drain()
            await self.store.execute(
                "DELETE FROM rt_outbox WHERE state='done' AND done_at < ?",
                (self.now() - OUTBOX_KEEP_DAYS * 86400,),
            )
            timeout = self.settings.outbox_retry_seconds if not ok else 60.0
            if self._retry_at is not None:
                timeout = min(timeout, max(0.05, self._retry_at - time.monotonic()))
                self._retry_at = None
            try:
                await asyncio.wait_for(self._outbox_wake.wait(), timeout)
            except TimeoutError:
                pass
