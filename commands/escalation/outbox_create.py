"""The outbox's create item: one RT ticket per escalated thread, and its "RT#n" reply.

An earlier attempt may have reached RT (a crash, a timeout), so the ticket is first looked
for by the thread's custom field (the reconciler decides when "absent" is settled).
"""

from __future__ import annotations

import json
import logging
from typing import Any

from bot.html import esc
from bot.ids import matrix_to, server_of
from bot.txn import caused_by
from commands.escalation.part import Part
from commands.escalation.rt.rest2 import RTFile
from commands.escalation.transcript import build_transcript

log = logging.getLogger(__name__)


class CreateItem(Part):
    """Performs `create` items (the outbox calls `run` inside the item's cause)."""

    async def run(self, item: dict[str, Any], row: dict[str, Any]) -> None:
        p = json.loads(item["payload"])
        s = self.settings
        ticket_id: int | None = None
        # An earlier attempt may have reached RT (crash, timeout): find it, never repeat it.
        found = await self.esc.outbox.reconcile.find(item["id"], lambda: self._ticket_of(row))
        if found is not None:
            ticket_id = found
            log.info("reconciled thread %s with existing RT#%d", row["thread_id"], ticket_id)
        if ticket_id is None:
            allowed = self.esc._allowed_factory(p.get("customer"), p.get("org"))
            tr = await build_transcript(
                self.matrix,
                row["room_id"],
                row["thread_id"],
                allowed=allowed,
                cutoff_ts=p["cutoff_ts"],
                exclude={p["source_event"]},
            )
            fields = {
                s.matrix_room_field: row["room_id"],
                s.matrix_thread_field: row["thread_id"],
            }
            priority = s.severity_priority.for_severity(p["severity"])
            subject = f"[{p['severity']}] {p['subject']}"
            if s.transcript_as == "correspondence":
                ticket_id = await self.rt.create_ticket(
                    queue=s.queue,
                    subject=subject,
                    requestor=p["requestor"],
                    html=tr.html,
                    text=tr.text,
                    priority=priority,
                    custom_fields=fields,
                    attachments=tr.files,
                )
            else:
                thread = matrix_to(row["room_id"], row["thread_id"], server_of(self.matrix.user_id))
                ticket_id = await self.rt.create_ticket(
                    queue=s.queue,
                    subject=subject,
                    requestor=p["requestor"],
                    text=f"Escalated from Matrix: {thread}\n(The transcript is in a comment.)",
                    priority=priority,
                    custom_fields=fields,
                )
            if s.transcript_as == "comment":
                txn = await self.rt.comment(
                    ticket_id,
                    html=tr.html,
                    attachments=[
                        RTFile(
                            filename="transcript.txt",
                            content_type="text/plain",
                            data=tr.text.encode(),
                        ),
                        *tr.files,
                    ],
                )
                await self.store.execute("INSERT OR IGNORE INTO rt_own_txns VALUES (?)", (txn,))
        self.esc.outbox.reconcile.forget(item["id"])
        async with self.store.transaction() as tx:
            await tx.execute(
                "UPDATE rt_threads SET state='created', ticket_id=? WHERE room_id=? AND thread_id=?",
                (ticket_id, row["room_id"], row["thread_id"]),
            )
            await tx.execute(
                "UPDATE rt_outbox SET state='done', done_at=? WHERE id=?", (self.now(), item["id"])
            )
        self.metrics.outbox.labels("done").inc()
        await self.esc.emit("escalated", row, ticket_id=ticket_id)
        await self.post_missing_replies()

    async def _ticket_of(self, row: dict[str, Any]) -> int | None:
        """The oldest ticket RT has for the thread (its Matrix Thread custom field), if any."""
        s = self.settings
        found = await self.rt.find_by_custom_field(
            s.matrix_thread_field, row["thread_id"], queue=s.queue
        )
        return min(t.id for t in found) if found else None

    def created_html(self, row: dict[str, Any]) -> str:
        tid = int(row["ticket_id"])
        sev = row["severity"]
        prio = self.settings.severity_priority.for_severity(sev)
        html = (
            f"🎫 Escalated to {self.esc.ticket_html(tid)} (severity {esc(sev)}, RT priority {prio}).<br>"
            f"Subject: {esc(row['subject'])}<br>"
            "What happens next: an engineer picks the ticket up in RT; their replies appear "
            f"here in this thread and are also e-mailed to the requester. New messages in this thread "
            "are added to the ticket."
        )
        if sev == "P1":
            html += f"<br><b>P1:</b> {esc(self.settings.p1_notice)}"
        return html

    async def post_missing_replies(self) -> None:
        rows = await self.store.fetchall(
            "SELECT * FROM rt_threads WHERE state='created' AND reply_event IS NULL"
        )
        for row in rows:
            # Its own cause, whichever drain posts it (after the create, or a later one after
            # a crash or a refused send): a repeat carries the same transaction id.
            key = f"rt-created:{row['room_id']}:{row['thread_id']}:{row['ticket_id']}"
            with caused_by(key, replay=True):
                event_id = await self.thread_say(row, self.created_html(row))
            if event_id:
                await self.store.execute(
                    "UPDATE rt_threads SET reply_event=? WHERE room_id=? AND thread_id=?",
                    (event_id, row["room_id"], row["thread_id"]),
                )
