"""`!ticket close` as an outbox item: the comment and the status change happen once, whatever RT does.

The command only commits the intent (an outbox item keyed by the command's event, so a
re-handled command finds the one it queued) and waits briefly: when RT answers at once the
outbox posts "Closed RT#n" as the answer; otherwise the engineer is told once that the close
is queued, and the outbox confirms once it is done.

The closing comment is the write that could double. Its transaction id is kept on the item
as soon as RT returns it; a comment whose fate is unknown (timeout, a hung RT, a crash) is
looked for in RT by the command's event id, which the comment carries, and written again only
when the reconciler has settled that it is absent. The status change is a PUT of a value:
RT makes no new transaction when the ticket is already resolved, so a repeat is harmless.
"""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from bot.html import esc
from bot.secrets import WITHHELD, scan_text
from commands.escalation.part import Part

log = logging.getLogger(__name__)

QUEUED_WAIT_S = 1.0  # the engineer hears within 2 s (sync and send included): done, or queued
POLL_S = 0.1


class Closing(Part):
    async def queue(
        self, row: dict[str, Any], reason: str | None, by: str, event_id: str
    ) -> tuple[int, bool]:
        """Commit the close (once per command event, one pending per thread): the outbox
        item's id, and whether it was queued just now (False: an earlier one still waits)."""
        if reason and await scan_text(reason):  # never queued for RT (protection off)
            reason = WITHHELD
        payload = {"reason": reason, "by": by, "event_id": event_id}
        async with self.store.transaction() as tx:
            found = await tx.fetchone("SELECT id FROM rt_outbox WHERE source_event=?", (event_id,))
            if found is not None:
                return int(found["id"]), True  # handled before a restart: the same answer
            waiting = await tx.fetchone(
                "SELECT id FROM rt_outbox WHERE room_id=? AND thread_id=? AND kind='close'"
                " AND state='pending'",
                (row["room_id"], row["thread_id"]),
            )
            if waiting is not None:
                return int(waiting["id"]), False  # asked again while queued: not a second close
            item_id = await tx.execute(
                "INSERT INTO rt_outbox(room_id, thread_id, kind, source_event, payload, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (
                    row["room_id"],
                    row["thread_id"],
                    "close",
                    event_id,
                    json.dumps(payload),
                    self.now(),
                ),
            )
        self.esc.outbox.wake()
        return int(item_id), True

    async def wait(self, item_id: int, timeout: float = QUEUED_WAIT_S) -> str:
        """The item's state after at most ``timeout`` s (pending, done or dead)."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            state = await self.store.fetchval("SELECT state FROM rt_outbox WHERE id=?", (item_id,))
            if state != "pending" or asyncio.get_running_loop().time() >= deadline:
                return str(state)
            await asyncio.sleep(POLL_S)

    async def run(self, item: dict[str, Any], row: dict[str, Any]) -> None:
        """Carry the close out (the outbox calls it, inside the item's cause)."""
        p = json.loads(item["payload"])
        tid = int(row["ticket_id"])
        txn = item["txn_id"]
        if p.get("reason") and txn is None:
            reconcile = self.esc.outbox.reconcile
            txn = await reconcile.find(
                item["id"], lambda: self.esc.outbox.message.already_sent(tid, p["event_id"])
            )
            if txn is None:
                txn = await self.rt.comment(
                    tid,
                    text=f"Closed from Matrix by {p['by']}: {p['reason']}\n\n"
                    f"(Matrix event {p['event_id']})",
                )
            async with self.store.transaction() as tx:
                # Kept at once: a retry after a failed status change must not comment again.
                await tx.execute("INSERT OR IGNORE INTO rt_own_txns VALUES (?)", (txn,))
                await tx.execute("UPDATE rt_outbox SET txn_id=? WHERE id=?", (txn, item["id"]))
        await self.rt.update_ticket(tid, {"Status": "resolved"})
        self.esc.outbox.reconcile.forget(item["id"])
        await self.store.execute(
            "UPDATE rt_outbox SET state='done', done_at=? WHERE id=?", (self.now(), item["id"])
        )
        self.metrics.outbox.labels("done").inc()
        await self.esc.relay.set_status(row, "resolved")
        await self.thread_say(row, f"Closed {self.esc.ticket_html(tid)}.", reply_to=p["event_id"])

    async def refused(self, item: dict[str, Any], row: dict[str, Any], exc: Exception) -> None:
        p = json.loads(item["payload"])
        await self.thread_say(
            row,
            f"RT refused to close {self.esc.ticket_html(int(row['ticket_id']))}: "
            f"<code>{esc(exc)}</code>",
            reply_to=p["event_id"],
        )
