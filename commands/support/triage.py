"""The triage board: one card per open customer thread in the staff room, edited in place.

A card is planned when a customer opens a thread and posted only after ``CARD_DELAY_S``
(the ``due_at`` column), so a thread an engineer answers within the first minute never gets
one. Claims, answers, escalation and resolution edit the card.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.html import esc, link
from bot.store import Store, Transaction
from bot.txn import caused_by
from commands.support.repository import CardRow

CARD_DELAY_S = 60.0
CLAIM_KEYS = ("👀",)


def card_html(card: CardRow, *, thread_url: str, when: str, ticket_url: str | None) -> str:
    """The card's text for its current state; every piece of user text is escaped."""
    icon = {"waiting": "🟡", "answered": "💬", "resolved": "✅", "skipped": "·"}[card.state]
    parts = [f"{icon} <b>{esc(card.summary[:120] or 'customer thread')}</b>"]
    parts.append(f"from {esc(card.customer)}, waiting since {esc(when)}")
    if card.claimed_by:
        parts.append(f"👀 claimed by {esc(card.claimed_by)}")
    if card.answered_by and card.state != "resolved":
        parts.append(f"answered by {esc(card.answered_by)}")
    if card.ticket_id:
        ref = f"RT#{card.ticket_id}"
        label = link(ticket_url, ref) if ticket_url else esc(ref)
        parts.append(f"🎫 {label}" + (f" ({esc(card.severity)})" if card.severity else ""))
    if card.state == "resolved":
        parts.append("resolved")
    parts.append(link(thread_url, "open the thread"))
    return " · ".join(parts[:1]) + "<br>" + " · ".join(parts[1:])


class Board:
    def __init__(
        self,
        store: Store,
        post: Callable[[str], Awaitable[str]],
        edit: Callable[[str, str], Awaitable[None]],
        render: Callable[[CardRow], str],
    ) -> None:
        self.store = store
        self._post = post
        self._edit = edit
        self._render = render

    async def get(self, room_id: str, thread_id: str) -> CardRow | None:
        data = await self.store.fetchone(
            "SELECT * FROM support_cards WHERE room_id=? AND thread_id=?", (room_id, thread_id)
        )
        return None if data is None else CardRow.model_validate(data)

    async def by_card(self, card_event: str) -> CardRow | None:
        data = await self.store.fetchone(
            "SELECT * FROM support_cards WHERE card_event=?", (card_event,)
        )
        return None if data is None else CardRow.model_validate(data)

    async def plan(
        self, room_id: str, thread_id: str, *, customer: str, summary: str, at: datetime
    ) -> None:
        async with self.store.transaction() as tx:
            await self.plan_in(tx, room_id, thread_id, customer=customer, summary=summary, at=at)

    async def plan_in(
        self,
        tx: Transaction,
        room_id: str,
        thread_id: str,
        *,
        customer: str,
        summary: str,
        at: datetime,
    ) -> None:
        await tx.execute(
            "INSERT OR IGNORE INTO support_cards(room_id, thread_id, due_at, summary, customer,"
            " started_at) VALUES (?,?,?,?,?,?)",
            (room_id, thread_id, at.timestamp() + CARD_DELAY_S, summary, customer, at.timestamp()),
        )

    async def post_due(self, now: datetime) -> int:
        """Post the cards whose minute is up; threads answered within it are skipped."""
        rows = await self.store.fetchall(
            "SELECT * FROM support_cards WHERE card_event IS NULL AND state != 'skipped'"
            " AND due_at <= ? ORDER BY due_at",
            (now.timestamp(),),
        )
        n = 0
        for data in rows:
            card = CardRow.model_validate(data)
            if card.state == "answered" and not card.ticket_id and not card.claimed_by:
                await self._set(card, state="skipped")
                continue
            # Stored after the post: a crash in between posts again with the same txn id.
            with caused_by(f"card:{card.room_id}:{card.thread_id}:{card.started_at}", replay=True):
                event_id = await self._post(self._render(card))
            await self.store.execute(
                "UPDATE support_cards SET card_event=? WHERE room_id=? AND thread_id=?",
                (event_id, card.room_id, card.thread_id),
            )
            n += 1
        return n

    async def _set(self, card: CardRow, **changes: object) -> CardRow:
        cols = ", ".join(f"{k}=?" for k in changes)
        await self.store.execute(
            f"UPDATE support_cards SET {cols} WHERE room_id=? AND thread_id=?",
            (*changes.values(), card.room_id, card.thread_id),
        )
        new = card.model_copy(update=changes)
        if new.card_event:
            await self._edit(new.card_event, self._render(new))
        return new

    async def update(self, room_id: str, thread_id: str, **changes: object) -> CardRow | None:
        card = await self.get(room_id, thread_id)
        if card is None or all(getattr(card, k) == v for k, v in changes.items()):
            return card
        return await self._set(card, **changes)
