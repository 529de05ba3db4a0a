"""RT -> Matrix: the poller (one TransactionSQL query per round), replies, files and status."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.html import esc
from bot.matrix import MatrixError
from bot.text import html_text
from bot.txn import caused_by
from commands.escalation.part import Part
from commands.escalation.repository import WEBHOOK_POLL_DELAY_S
from commands.escalation.rt.rest2 import (
    RTError,
    Transaction,
)
from commands.escalation.transcript import (
    text_html,
)

if TYPE_CHECKING:
    from commands.escalation.service import Escalation

log = logging.getLogger(__name__)


def relay_cause(txn: Transaction) -> str:
    """What the sends relaying one RT transaction are caused by (README: effects and causes)."""
    return f"relay:{txn.object_id}:{txn.id}"


class Relay(Part):
    def __init__(self, esc: Escalation) -> None:
        super().__init__(esc)
        self._poll_wake = asyncio.Event()
        self.last_poll_ok: float = 0.0

    # ---- RT -> Matrix

    async def poll_once(self) -> int:
        """One TransactionSQL query for the whole queue; returns how many txns were handled."""
        hw_s = await self.store.fetchval("SELECT value FROM rt_kv WHERE key='high_water'")
        if hw_s is None:
            hw = await self.rt.latest_transaction_id(self.settings.queue)
            await self._set_hw(hw)
            self.last_poll_ok = time.monotonic()
            return 0
        hw = int(hw_s)
        if self.esc.rt_user is None:
            self.esc.rt_user = await self.rt.whoami()
        txns = await self.rt.transactions_since(
            self.settings.queue, hw, exclude_creator=self.esc.rt_user
        )
        for txn in txns:
            own = await self.store.fetchval("SELECT 1 FROM rt_own_txns WHERE txn_id=?", (txn.id,))
            if not own:
                row = await self.esc.mapping_by_ticket(txn.object_id)
                if row is not None:
                    # The RT transaction is the cause of every send it leads to: the mark is
                    # saved after them, so a crash in between relays it again with the same
                    # transaction ids (Synapse drops the repeats; SentLog covers a new device).
                    with caused_by(relay_cause(txn), replay=True):
                        await self._relay(txn, row)
                    self.metrics.relayed.labels(txn.type).inc()
            await self._set_hw(txn.id)
        self.last_poll_ok = time.monotonic()
        self.metrics.last_poll.set(self.now())
        if txns:
            # The poll never asks for ids at or below the mark again: those ids are done.
            await self.store.execute("DELETE FROM rt_own_txns WHERE txn_id <= ?", (txns[-1].id,))
        return len(txns)

    async def _set_hw(self, value: int) -> None:
        await self.store.execute(
            "INSERT INTO rt_kv(key, value) VALUES ('high_water', ?) "
            "ON CONFLICT(key) DO UPDATE SET value=excluded.value",
            (str(value),),
        )

    async def _creator_name(self, creator: str) -> str:
        if "@" in creator:
            return creator
        try:
            info = await self.rt.user(creator)
            return str(info.get("RealName") or creator)
        except RTError:
            return creator

    async def _relay(self, txn: Transaction, row: dict[str, Any]) -> None:
        tid = int(row["ticket_id"])
        if txn.type == "Status":
            await self.set_status(row, txn.new_value)
            return
        if txn.type == "Correspond":
            target_room, thread = row["room_id"], row["thread_id"]
            await self.esc.emit("correspondence", row, by=txn.creator)
        elif txn.type == "Comment" and self.settings.comments_to_staff_room:
            target_room, thread = self.services.config.rooms.staff, None
        else:
            return  # comments are internal: never into the support room
        parts = await self.rt.transaction_content(txn.id)
        text = next(
            (p.content for p in parts if p.is_body and p.content_type == "text/plain"), None
        )
        if text is None:
            html_part = next((p.content for p in parts if p.is_body), "")
            text = html_text(html_part)
        text = text.strip()
        who = await self._creator_name(txn.creator)
        kind = "replied" if txn.type == "Correspond" else "commented (internal)"
        html = (
            f"💬 <b>{esc(who)}</b> {kind} on {self.esc.ticket_html(tid)}:<br>"
            f"<blockquote>{text_html(text)}</blockquote>"
        )
        if text:
            await self.matrix.send(target_room, html, thread_root=thread)
        for part in parts:
            if part.is_file:
                data = await self.rt.attachment_bytes(part.id)
                msgtype = "m.image" if part.content_type.startswith("image/") else "m.file"
                content: dict[str, Any] = {
                    "msgtype": msgtype,
                    "body": part.filename,
                    "info": {"mimetype": part.content_type, "size": len(data)},
                    "m.mentions": {},
                }
                if self.matrix.is_encrypted(target_room):
                    # The file as well as the message stays end-to-end encrypted.
                    cipher, keys = await asyncio.to_thread(self.matrix.encrypt_media, data)
                    mxc = await self.matrix.upload(
                        cipher, "application/octet-stream", part.filename
                    )
                    content["file"] = {"url": mxc, **keys}
                else:
                    content["url"] = await self.matrix.upload(
                        data, part.content_type, part.filename
                    )
                if thread:
                    content["m.relates_to"] = {
                        "rel_type": "m.thread",
                        "event_id": thread,
                        "is_falling_back": True,
                        "m.in_reply_to": {"event_id": thread},
                    }
                await self.matrix.send_raw(target_room, "m.room.message", content)

    async def set_status(self, row: dict[str, Any], status: str) -> None:
        """One status message per thread, edited in place."""
        html = self.esc.status_html(row, status)
        if row.get("status_event"):
            await self.matrix.edit(row["room_id"], row["status_event"], html)
            event_id = row["status_event"]
        else:
            event_id = await self.matrix.send(row["room_id"], html, thread_root=row["thread_id"])
        await self.store.execute(
            "UPDATE rt_threads SET status_event=?, rt_status=? WHERE room_id=? AND thread_id=?",
            (event_id, status, row["room_id"], row["thread_id"]),
        )
        row["status_event"], row["rt_status"] = event_id, status
        await self.esc.emit("status", row, status=status)

    async def poll_loop(self) -> None:
        while True:
            self._poll_wake.clear()
            try:
                await self.poll_once()
            except RTError as exc:
                log.warning("RT poll failed: %s", exc)
            except MatrixError as exc:
                log.warning("posting RT activity failed (will retry): %s", exc)
            try:
                await asyncio.wait_for(self._poll_wake.wait(), self.settings.poll_interval_seconds)
            except TimeoutError:
                pass

    def poll_soon(self) -> None:
        self._poll_wake.set()

    async def webhook(self, request: web.Request) -> web.Response:
        """Optional RT scrip hook: only a hint to poll soon; the data comes from the poll.

        RT calls it inside its own request, before its DB commit, so the answer goes out
        first and the poll runs a moment later (measured: fetching at once gets a 500).
        """
        loop = asyncio.get_running_loop()
        loop.call_later(WEBHOOK_POLL_DELAY_S, self._poll_wake.set)
        return web.Response(status=202, text="ok")
