"""Thread -> ticket after escalation: new thread messages become outbox items; RT#n summaries."""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from bot.events import Event
from bot.html import esc
from commands.escalation.part import Part
from commands.escalation.repository import STATUS_LABEL
from commands.escalation.rt.rest2 import (
    RTNotFound,
    RTPermissionError,
)
from commands.escalation.transcript import (
    display_name,
    has_media,
    safe_body,
)

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)


class ThreadSync(Part):
    # ---- thread messages after escalation

    async def on_thread_message(self, event: Event) -> bool:
        """Queue a message of an escalated thread for the ticket; True if it was taken."""
        if event.is_edit:
            return False
        row = await self.esc.mapping(event.room_id, event.thread_id)
        if row is None or row["state"] == "failed" or event.event_id == event.thread_id:
            return False
        staff = self.services.roles.is_staff(event.sender)
        body = event.body
        if staff:
            marker = self.settings.staff_comment_marker
            if body.lower().startswith(marker.lower()):
                kind, body = "correspond", body[len(marker) :].lstrip()
            else:
                kind = "comment"
        else:
            allowed = self.esc._allowed_factory(row["customer"], row["org"])
            if not await allowed(event.sender):
                return False
            kind = "correspond"
        # A credential is never queued for RT, even with the credentials protection off: the
        # text is replaced, and a file's caption and name go with it (the file is checked when
        # the outbox fetches it).
        safe = await safe_body(body)
        media = event.content if has_media(event.content) else None
        filename = event.content.get("filename") or event.body
        if safe != body:
            filename = "file"
            if media is not None:
                media = {k: v for k, v in media.items() if k in ("url", "file", "info", "msgtype")}
        payload = {
            "event_id": event.event_id,
            "sender": event.sender,
            "name": display_name(self.matrix, event.room_id, event.sender),
            "body": safe,
            "msgtype": event.msgtype,
            "media": media,
            "filename": filename,
            "ts": event.ts,
        }
        try:
            await self.store.execute(
                "INSERT INTO rt_outbox(room_id, thread_id, kind, source_event, payload, created_at)"
                " VALUES (?,?,?,?,?,?)",
                (
                    event.room_id,
                    event.thread_id,
                    kind,
                    event.event_id,
                    json.dumps(payload),
                    self.now(),
                ),
            )
        except Exception as exc:  # UNIQUE(source_event): already queued, once is enough
            if "UNIQUE" not in str(exc):
                raise
            return True
        self.esc.outbox.wake()
        return True

    async def may_see_ticket(self, user_id: str, ticket_id: int) -> bool:
        """RT#n expansion: staff, or a member of the organisation that owns the ticket."""
        if self.services.roles.is_staff(user_id):
            return True
        row = await self.esc.mapping_by_ticket(ticket_id)
        if row is None:
            return False
        if row["customer"] == user_id:
            return True
        org = await self.directory.org_of(user_id)
        return org is not None and org == row["org"]

    async def expand(self, ticket_id: int) -> str | None:
        try:
            t = await self.rt.get_ticket(ticket_id)
        except (RTNotFound, RTPermissionError):
            return None
        return (
            f"{self.esc.ticket_html(ticket_id)}: {esc(t.subject)} — "
            f"<b>{esc(STATUS_LABEL.get(t.status, t.status))}</b>"
        )
