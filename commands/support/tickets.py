"""Support: ticket events from escalation, surveys, triage cards for tickets, claims."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from bot.html import esc, link
from bot.interfaces import TicketEvent
from commands.support.threads import ThreadsMixin

log = logging.getLogger("commands.support.commands")  # the name it logged under before the split


class TicketsMixin(ThreadsMixin):
    """Escalations retarget timers and get cards; resolutions ask surveys; claims set owners."""

    # ---- ticket events (from escalation, through bot.interfaces)

    async def tier_of(self, org_id: str | None) -> str:
        access = self.services.access
        if not org_id or access is None or not hasattr(access, "org"):
            return "standard"
        try:
            org = await access.org(org_id)
        except Exception:
            log.exception("tier lookup for %s failed", org_id)
            return "standard"
        products = [str(p).lower() for p in getattr(org, "products", None) or []]
        return "premium" if any("premium" in p for p in products) else "standard"

    async def on_ticket(self, event: TicketEvent) -> None:
        if event.kind == "escalated" and event.severity:
            await self.timers.retarget(
                event.room_id,
                event.thread_id,
                severity=event.severity,
                tier=await self.tier_of(event.org),
                ticket_id=event.ticket_id,
                now=self.clock(),
            )
            if event.ticket_id:
                await self.services.store.execute(
                    "INSERT OR IGNORE INTO support_escalations(ticket_id, room_id, thread_id,"
                    " severity, org, at) VALUES (?,?,?,?,?,?)",
                    (
                        event.ticket_id,
                        event.room_id,
                        event.thread_id,
                        event.severity,
                        event.org,
                        self.clock().timestamp(),
                    ),
                )
            if self.settings.board:
                await self._card_for_ticket(event)
            self._wake.set()
        elif event.kind == "correspondence" and is_staff_correspondence(event):
            await self.on_staff_response(event.room_id, event.thread_id, event.by or "RT", "rt")
        elif event.kind == "status" and event.status == "resolved":
            await self.board.update(event.room_id, event.thread_id, state="resolved")
            if self.settings.survey and event.ticket_id:
                await self._ask_survey(event)

    async def _ask_survey(self, event: TicketEvent) -> None:
        ticket = int(event.ticket_id or 0)
        url = self.ticket_url(ticket)
        label = link(url, f"RT#{ticket}") if url else f"RT#{ticket}"
        html = self.settings.texts.survey.format(ticket=label)

        async def post() -> str:
            return await self.services.matrix.send(
                event.room_id, html, thread_root=event.thread_id, cause=f"survey:{ticket}"
            )

        await self.surveys.ask(
            ticket_id=ticket,
            room_id=event.room_id,
            thread_id=event.thread_id,
            org=event.org,
            customer=event.customer,
            at=self.clock(),
            post=post,
        )

    async def org_of(self, user_id: str) -> str | None:
        if self.services.escalation is None:
            return None
        return await self.services.escalation.directory.org_of(user_id)

    async def _card_for_ticket(self, event: TicketEvent) -> None:
        """Every escalation gets a card, at once (even a thread answered within the minute)."""
        now = self.clock()
        await self.board.plan(
            event.room_id, event.thread_id, customer=event.customer or "", summary="", at=now
        )
        card = await self.board.get(event.room_id, event.thread_id)
        if card is None:
            return
        changes: dict[str, Any] = {"ticket_id": event.ticket_id, "severity": event.severity}
        if card.card_event is None:
            changes["due_at"] = min(card.due_at, now.timestamp())
            if card.state == "skipped":
                changes["state"] = "answered"
        await self.board.update(event.room_id, event.thread_id, **changes)

    # ---- claims

    def rt_owner(self, user_id: str) -> str:
        return self.settings.rt_owners.get(user_id) or user_id.split(":", 1)[0].lstrip("@")

    async def claim(self, room_id: str, thread_id: str, user_id: str | None) -> str:
        """Claim (user_id) or give back (None); on a ticket also set its RT owner. Returns a note."""
        card = await self.board.get(room_id, thread_id)
        if card is None:
            return "This thread is not on the triage board."
        await self.board.update(room_id, thread_id, claimed_by=user_id)
        rt = self.services.rt
        ticket_id = card.ticket_id
        if ticket_id is None and self.services.escalation is not None:
            mapping = await self.services.escalation.mapping(room_id, thread_id)
            ticket_id = mapping.get("ticket_id") if mapping else None
        if not ticket_id or rt is None:
            return ""
        owner = self.rt_owner(user_id) if user_id else "Nobody"
        try:
            await asyncio.wait_for(rt.update_ticket(int(ticket_id), {"Owner": owner}), 10)
        except Exception as exc:
            log.warning("setting the RT owner of %s failed: %s", ticket_id, exc)
            return f" RT did not take the owner {esc(owner)}: {esc(str(exc))}"
        return f" RT#{int(ticket_id)} owner: {esc(owner)}."


def is_staff_correspondence(event: TicketEvent) -> bool:
    """RT correspondence from an agent, not the customer answering by mail.

    RT names users it creates from incoming mail by their address; agents have user names.
    """
    by = (event.by or "").strip().lower()
    if not by:
        return True
    return "@" not in by and by != (event.requestor or "").lower()
