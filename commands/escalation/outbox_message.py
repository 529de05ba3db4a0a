"""The outbox's correspond and comment items: a Matrix message (and its file) into the ticket."""

from __future__ import annotations

import json
from typing import Any

from bot.html import esc
from bot.ids import matrix_to, server_of
from bot.secrets import WITHHELD_FILE
from commands.escalation.part import Part
from commands.escalation.rt.rest2 import RTFile, RTUnavailable
from commands.escalation.transcript import FILE_MSGTYPES, fetch_media, safe_media, text_html


class MessageItem(Part):
    """Performs `correspond` and `comment` items (the outbox calls `run`)."""

    async def already_sent(self, ticket_id: int, event_id: str) -> int | None:
        """After an unknown outcome: did RT get this Matrix message already? (its event id
        is in every message the bot writes)."""
        for txn_id in await self.rt.recent_messages_by(ticket_id, self.esc.rt_user, limit=20):
            for part in await self.rt.transaction_content(txn_id):
                if event_id in part.content:
                    return txn_id
        return None

    async def run(self, item: dict[str, Any], row: dict[str, Any]) -> None:
        p = json.loads(item["payload"])
        ticket_id = row["ticket_id"]
        if ticket_id is None:
            raise RTUnavailable("ticket not created yet")  # keeps order: wait for the create
        # An earlier attempt may have reached RT: find the message by its event id first.
        txn = await self.esc.outbox.reconcile.find(
            item["id"], lambda: self.already_sent(ticket_id, p["event_id"])
        )
        if txn:
            self.esc.outbox.reconcile.forget(item["id"])
            await self.esc.outbox.finish(item["id"], "done", txn=txn)
            return
        files: list[RTFile] = []
        body = p["body"]
        if p.get("media") and p.get("msgtype") in FILE_MSGTYPES:
            media = await fetch_media(self.matrix, p["media"])
            fname = str(p.get("filename") or "file")
            if await safe_media(media):
                files.append(
                    RTFile(filename=fname, content_type=media.content_type, data=media.data)
                )
                body = f"[attached: {fname}]"
            else:
                body = WITHHELD_FILE
        ev_link = matrix_to(row["room_id"], p["event_id"], server_of(self.matrix.user_id))
        html = (
            f"<p><b>{esc(p['name'])}</b> ({esc(p['sender'])}) on Matrix:</p>"
            f"<blockquote>{text_html(body)}</blockquote>"
            f'<p><small><a href="{esc(ev_link)}">{esc(p["event_id"])}</a></small></p>'
        )
        send = self.rt.correspond if item["kind"] == "correspond" else self.rt.comment
        txn = await send(ticket_id, html=html, attachments=files)
        self.esc.outbox.reconcile.forget(item["id"])
        async with self.store.transaction() as tx:
            await tx.execute("INSERT OR IGNORE INTO rt_own_txns VALUES (?)", (txn,))
            await tx.execute(
                "UPDATE rt_outbox SET state='done', txn_id=?, done_at=? WHERE id=?",
                (txn, self.now(), item["id"]),
            )
        self.metrics.outbox.labels("done").inc()
