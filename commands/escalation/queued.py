""" "Your ticket is queued": every thread whose escalation waits for RT is told, once, within 2 s.

This runs beside the outbox, never inside it: the outbox may sit in a hung RT call for the
whole client timeout, or be stopped at the first of many waiting items, and neither may keep
a thread uninformed. A thread is told as soon as an RT call fails after its create was queued
(and none has worked since), or once the create has waited `queued_notice_seconds` (counted
from this process's start for items from before it, so a restart while RT works says nothing). The notice is recorded before it is sent and
sent with a transaction id derived from the outbox item: a crash in between resends it with
the same id, which the homeserver drops if the first send arrived.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from typing import TYPE_CHECKING, Any

from bot.matrix import MatrixError
from commands.escalation.part import Part

if TYPE_CHECKING:
    from commands.escalation.service import Escalation

log = logging.getLogger(__name__)

QUEUED_HTML = (
    "RT is not answering; your ticket is <b>queued</b> and will be created as soon as it is "
    "back. Messages in this thread are kept for it too."
)
CLAIM = "sending:"  # rt_threads.queued_event while the notice is on its way
IDLE_S = 60.0  # nothing waiting: sleep until woken (escalate, or the outbox seeing RT fail)
RETRY_S = 1.0  # the homeserver refused the notice: try again (same transaction id)

_DUE_SQL = """
SELECT t.room_id, t.thread_id, t.queued_event, o.id AS item_id, o.created_at AS queued_at
FROM rt_threads t JOIN rt_outbox o
  ON o.room_id = t.room_id AND o.thread_id = t.thread_id AND o.kind = 'create'
 AND o.state = 'pending'
WHERE t.state = 'pending' AND (t.queued_event IS NULL OR t.queued_event LIKE 'sending:%')
ORDER BY o.id
"""


def notice_txn_id(room_id: str, thread_id: str, item_id: int) -> str:
    """Stable across restarts, distinct per outbox item (a re-escalation gets its own)."""
    digest = hashlib.sha256(f"{room_id}\n{thread_id}\n{item_id}".encode()).hexdigest()
    return f"backchannel.queued.{digest[:32]}"


class QueuedNotices(Part):
    def __init__(self, esc: Escalation) -> None:
        super().__init__(esc)
        self._wake = asyncio.Event()
        self._started: float | None = None

    def wake(self) -> None:
        self._wake.set()

    async def loop(self) -> None:
        self._started = self.now()
        while True:
            self._wake.clear()
            delay = await self.tell_due()
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except TimeoutError:
                pass

    async def tell_due(self) -> float:
        """Tell every thread that is due; the seconds until the next one will be."""
        started = self._started if self._started is not None else self.now()
        wait = IDLE_S
        for row in await self.store.fetchall(_DUE_SQL):
            due = max(float(row["queued_at"]), started) + self.settings.queued_notice_seconds
            now = self.now()
            # RT failed after this create was queued and has not answered since: at once.
            # Otherwise only after the wait, so a ticket RT is about to create (e.g. right
            # after RT came back, before the outbox noticed) is not called "queued".
            failed_at = self.esc.outbox.rt_failed_at
            failed = failed_at is not None and failed_at >= float(row["queued_at"])
            if row["queued_event"] or failed or now >= due:
                if not await self._tell(row):
                    wait = min(wait, RETRY_S)
            else:
                wait = min(wait, due - now)
        return max(0.02, wait)

    async def _tell(self, row: dict[str, Any]) -> bool:
        txn = notice_txn_id(row["room_id"], row["thread_id"], int(row["item_id"]))
        where = (row["room_id"], row["thread_id"])
        # Recorded first: from here on this thread is never told by a new send, only by a
        # resend of this one with the same transaction id.
        await self.store.execute(
            "UPDATE rt_threads SET queued_event=? WHERE room_id=? AND thread_id=?"
            " AND state='pending'",
            (CLAIM + txn, *where),
        )
        claimed = await self.store.fetchval(
            "SELECT queued_event FROM rt_threads WHERE room_id=? AND thread_id=?", where
        )
        if claimed != CLAIM + txn:
            return True  # the ticket was created meanwhile: nothing to tell
        try:
            event_id = await self.matrix.send(
                row["room_id"], QUEUED_HTML, thread_root=row["thread_id"], txn_id=txn
            )
        except MatrixError:
            log.exception("could not tell thread %s that its ticket is queued", row["thread_id"])
            return False
        await self.store.execute(
            "UPDATE rt_threads SET queued_event=? WHERE room_id=? AND thread_id=?",
            (event_id, *where),
        )
        self.metrics.escalations.labels("queued_notice").inc()
        return True
