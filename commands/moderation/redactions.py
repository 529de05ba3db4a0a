"""Redactions through one queue: stored first, sent in order by one worker, retried, never dropped.

Homeservers rate-limit redactions (Synapse: `rc_admin_redaction`, else the sender's
`rc_message`), so `!redact @user 50` or a raid's clean-up meets `429 M_LIMIT_EXCEEDED`. Every
redaction is a `moderation_redactions` row before it is sent; the worker sends the oldest
pending row, waits `retry_after_ms` (or backs off) when refused for now, and only gives up on
errors that no retry can fix (the event or the power is missing). A crash or restart loses
nothing: pending rows are sent when the worker starts again. Each row keeps its transaction
id, so a retry of a redaction that reached the server is answered with the first one (once).

The operator's fix is to lift the bot's limit (README, "Redactions and the homeserver's rate
limit"); this queue is the safety net when that was not done.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge

from bot.matrix import MatrixError
from bot.store import Store

if TYPE_CHECKING:
    from bot.matrix import MatrixGateway

log = logging.getLogger(__name__)

# Errors a retry cannot fix: the event is gone or malformed, or the bot lacks the power.
PERMANENT = frozenset(
    {"M_FORBIDDEN", "M_NOT_FOUND", "M_BAD_JSON", "M_NOT_JSON", "M_INVALID_PARAM", "M_TOO_LARGE"}
)
MAX_BACKOFF = 300.0
KEEP_SETTLED = 86400.0  # settled rows stay a day: a second request for the same event is a no-op


@dataclass
class BatchState:
    done: int = 0
    failed: int = 0
    pending: int = 0
    errors: tuple[str, ...] = ()


class RedactionQueue:
    def __init__(
        self,
        store: Store,
        matrix: MatrixGateway,
        clock: Callable[[], float],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self.store = store
        self.matrix = matrix
        self.clock = clock
        self.running = False
        # Told when the last queued redaction of an audited action settles (staff line).
        self.on_batch_done: Callable[[int, BatchState], Awaitable[None]] | None = None
        self._wake = asyncio.Event()
        self._tick = asyncio.Event()  # replaced on every settled row: waiters re-check
        self.sent = Counter(
            "backchannel_moderation_redactions_total",
            "Redaction requests by outcome (done, retry = refused for now, failed = never)",
            ["outcome"],
            registry=registry,
        )
        self._pending = 0  # counted from the table when the worker starts
        self.depth = Gauge(
            "backchannel_moderation_redactions_pending",
            "Redactions queued and not yet accepted by the homeserver",
            registry=registry,
        )
        self.depth.set_function(lambda: self._pending)

    async def submit(self, room_id: str, event_ids: Sequence[str], reason: str) -> list[int]:
        """Queue redactions in this order; an event already queued or redacted is not queued again
        (one asked for again after it failed is queued again: maybe the power is back)."""
        ids: list[int] = []
        now = self.clock()
        async with self.store.transaction() as tx:
            for event_id in event_ids:
                # fetchall: a RETURNING statement must run to its end before the commit
                returned = await tx.fetchall(
                    "INSERT INTO moderation_redactions(room_id, event_id, reason, txn_id, queued_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT(room_id, event_id) DO UPDATE SET"
                    " state='pending', attempts=0, not_before=0, error=NULL, audit_id=NULL"
                    " WHERE state='failed' RETURNING id",
                    (room_id, event_id, reason, f"bc-redact-{uuid.uuid4().hex}", now),
                )
                if returned:  # new, or failed and queued again
                    ids.append(int(returned[0]["id"]))
                    self._pending += 1
                    continue
                old = await tx.fetchone(
                    "SELECT id FROM moderation_redactions WHERE room_id=? AND event_id=?",
                    (room_id, event_id),
                )
                if old is not None:
                    ids.append(int(old["id"]))
        self._wake.set()
        return ids

    async def state(self, ids: Sequence[int]) -> BatchState:
        if not ids:
            return BatchState()
        marks = ",".join("?" * len(ids))
        rows = await self.store.fetchall(
            f"SELECT state, error FROM moderation_redactions WHERE id IN ({marks})", tuple(ids)
        )
        out = BatchState()
        errors: list[str] = []
        for r in rows:
            if r["state"] == "done":
                out.done += 1
            elif r["state"] == "failed":
                out.failed += 1
                errors.append(r["error"] or "failed")
            else:
                out.pending += 1
        out.errors = tuple(dict.fromkeys(errors))
        return out

    async def wait(self, ids: Sequence[int], timeout: float) -> BatchState:
        """The batch's state once every row settled, or when ``timeout`` seconds have passed."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + (timeout if self.running else 0)
        while True:
            tick = self._tick
            st = await self.state(ids)
            remaining = deadline - loop.time()
            if not st.pending or remaining <= 0:
                return st
            try:
                await asyncio.wait_for(tick.wait(), remaining)
            except TimeoutError:
                pass

    async def adopt(self, ids: Sequence[int], audit_id: int) -> None:
        """Link a batch to its audit row: when its last pending row settles, staff hear of it."""
        if not ids:
            return
        marks = ",".join("?" * len(ids))
        await self.store.execute(
            f"UPDATE moderation_redactions SET audit_id=? WHERE id IN ({marks})",
            (audit_id, *ids),
        )

    async def pending(self) -> int:
        return int(
            await self.store.fetchval(
                "SELECT COUNT(*) FROM moderation_redactions WHERE state='pending'"
            )
            or 0
        )

    # ---- the worker ------------------------------------------------------------------------

    async def run(self) -> None:
        """The one worker (an app job): oldest pending row first; a refused head waits, in order."""
        self.running = True
        try:
            await self._prune()
            self._pending = await self.pending()
            while True:
                self._wake.clear()
                row = await self.store.fetchone(
                    "SELECT * FROM moderation_redactions WHERE state='pending' ORDER BY id LIMIT 1"
                )
                if row is None:
                    await self._wake.wait()
                    continue
                delay = float(row["not_before"]) - self.clock()
                if delay > 0:
                    await asyncio.sleep(delay)
                    continue
                await self._send(row)
        finally:
            self.running = False

    async def _send(self, row: dict[str, object]) -> None:
        rid = int(str(row["id"]))
        attempts = int(str(row["attempts"])) + 1
        try:
            await self.matrix.redact(
                str(row["room_id"]),
                str(row["event_id"]),
                str(row["reason"]) or None,
                txn_id=str(row["txn_id"]),
            )
        except MatrixError as exc:
            if exc.status in PERMANENT:
                log.warning("redaction of %s failed for good: %s", row["event_id"], exc)
                await self._settle(rid, "failed", attempts, str(exc))
                return
            wait = (exc.retry_after_ms or 0) / 1000 or min(MAX_BACKOFF, 0.5 * 2**attempts)
            await self._retry(rid, attempts, wait, str(exc))
        except Exception as exc:  # the homeserver is unreachable: wait and try again
            log.warning("redaction of %s: %s; retrying", row["event_id"], exc)
            await self._retry(rid, attempts, min(MAX_BACKOFF, 0.5 * 2**attempts), repr(exc))
        else:
            await self._settle(rid, "done", attempts, None)

    async def _retry(self, rid: int, attempts: int, wait: float, error: str) -> None:
        self.sent.labels("retry").inc()
        log.info("redaction #%d refused for now (%s); again in %.1f s", rid, error, wait)
        await self.store.execute(
            "UPDATE moderation_redactions SET attempts=?, not_before=?, error=? WHERE id=?",
            (attempts, self.clock() + wait, error, rid),
        )

    async def _settle(self, rid: int, state: str, attempts: int, error: str | None) -> None:
        self.sent.labels(state).inc()
        returned = await self.store.fetchall(
            "UPDATE moderation_redactions SET state=?, attempts=?, error=?, done_at=? WHERE id=?"
            " RETURNING audit_id",
            (state, attempts, error, self.clock(), rid),
        )
        audit_id = returned[0]["audit_id"] if returned else None
        self._pending = max(0, self._pending - 1)
        tick, self._tick = self._tick, asyncio.Event()
        tick.set()
        if audit_id is None or self.on_batch_done is None:
            return
        rows = await self.store.fetchall(
            "SELECT id FROM moderation_redactions WHERE audit_id=?", (audit_id,)
        )
        st = await self.state([int(r["id"]) for r in rows])
        if st.pending == 0:
            try:
                await self.on_batch_done(int(audit_id), st)
            except Exception:  # telling staff must not stop the queue
                log.exception("could not report the end of redactions of #%s", audit_id)

    async def _prune(self) -> None:
        await self.store.execute(
            "DELETE FROM moderation_redactions WHERE state != 'pending' AND done_at < ?",
            (self.clock() - KEEP_SETTLED,),
        )
