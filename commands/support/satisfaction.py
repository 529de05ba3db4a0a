"""Satisfaction: one 👍/👎 question in the thread when its ticket is resolved.

Only the customer's organisation counts (the thread's customer when the organisation is not
known); the latest vote of that organisation is the ticket's answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from bot.store import Store
from commands.support.repository import SurveyRow

UP, DOWN = "👍", "👎"


def vote_of(key: str) -> int | None:
    key = key.replace("\ufe0f", "")
    return 1 if key == UP else -1 if key == DOWN else None


def counts(row: SurveyRow, voter: str, voter_org: str | None) -> bool:
    if row.org:
        return voter_org == row.org
    return voter == row.customer


class Surveys:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def by_question(self, event_id: str) -> SurveyRow | None:
        data = await self.store.fetchone(
            "SELECT * FROM support_surveys WHERE question_event=?", (event_id,)
        )
        return None if data is None else SurveyRow.model_validate(data)

    async def ask(
        self,
        *,
        ticket_id: int,
        room_id: str,
        thread_id: str,
        org: str | None,
        customer: str | None,
        at: datetime,
        post: Callable[[], Awaitable[str]],
    ) -> str | None:
        """Once per ticket (a ticket resolved, reopened and resolved again is asked once).

        Recorded before it is posted; a record without its question (a crash in between) is
        posted again, with the same transaction id (``post`` derives it from the ticket).
        """
        async with self.store.transaction() as tx:
            asked = await tx.fetchone(
                "SELECT question_event FROM support_surveys WHERE ticket_id=?", (ticket_id,)
            )
            if asked is not None and asked["question_event"]:
                return None
            if asked is None:
                await tx.execute(
                    "INSERT INTO support_surveys(ticket_id, room_id, thread_id, org, customer,"
                    " asked_at) VALUES (?,?,?,?,?,?)",
                    (ticket_id, room_id, thread_id, org, customer, at.timestamp()),
                )
        event_id = await post()
        await self.store.execute(
            "UPDATE support_surveys SET question_event=? WHERE ticket_id=?", (event_id, ticket_id)
        )
        return event_id

    async def vote(self, row: SurveyRow, voter: str, vote: int, at: datetime) -> None:
        await self.store.execute(
            "UPDATE support_surveys SET vote=?, voter=?, voted_at=? WHERE ticket_id=?",
            (vote, voter, at.timestamp(), row.ticket_id),
        )
