"""Support: customer and staff messages, the status hint, out-of-hours replies."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from bot.events import Event
from bot.html import esc
from bot.matrix import MatrixError
from commands.support import out_of_hours
from commands.support.core import SupportCore
from commands.support.statuspage import asks_if_down, incident_link

log = logging.getLogger("commands.support.commands")  # the name it logged under before the split


class ThreadsMixin(SupportCore):
    """Threads as they start and get answered; the delayed out-of-hours reply."""

    # ---- customer and staff messages

    async def on_customer_message(self, ev: Event) -> None:
        store = self.services.store
        # Fast path: most messages are in threads we know (one indexed read, no transaction).
        if await store.fetchval(
            "SELECT 1 FROM support_threads WHERE room_id=? AND thread_id=?",
            (ev.room_id, ev.thread_id),
        ):
            await self._status_hint(ev)
            return
        now = self.clock()
        staffed = self.calendar.is_staffed(now)
        # A message from the bot's downtime started waiting when it was sent, not when seen.
        started = min(now, datetime.fromtimestamp(ev.ts / 1000, UTC)) if ev.backlog else now
        first = (ev.body or "").strip().splitlines()
        async with store.transaction() as tx:
            if await tx.fetchone(
                "SELECT 1 FROM support_threads WHERE room_id=? AND thread_id=?",
                (ev.room_id, ev.thread_id),
            ):
                return
            await tx.execute(
                "INSERT INTO support_threads(room_id, thread_id, customer, started_at,"
                " staffed_at_start) VALUES (?,?,?,?,?)",
                (ev.room_id, ev.thread_id, ev.sender, started.timestamp(), int(staffed)),
            )
            await self.timers.start_in(tx, ev.room_id, ev.thread_id, started)
            if self.settings.board:
                await self.board.plan_in(
                    tx,
                    ev.room_id,
                    ev.thread_id,
                    customer=ev.sender,
                    summary=first[0] if first else "",
                    at=started,
                )
        self._wake.set()
        await self._status_hint(ev)
        if out_of_hours.wants_reply(
            settings=self.settings,
            is_staff=False,
            new_thread=ev.thread_root is None,
            staffed=staffed,
            is_edit=ev.is_edit,
        ):
            self._spawn(self._out_of_hours(ev, now))

    async def _status_hint(self, ev: Event) -> None:
        """While an incident is open, a customer asking whether a service is down gets its link."""
        if self.status is None or not asks_if_down(ev.body, self.settings.statuspage.down_words):
            return
        incidents = await self.status.open_incidents()
        if not incidents:
            return
        store = self.services.store
        claimed = await store.fetchval(
            "UPDATE support_threads SET status_hint_event='pending' WHERE room_id=? AND"
            " thread_id=? AND status_hint_event IS NULL RETURNING 1",
            (ev.room_id, ev.thread_id),
        )
        if not claimed:
            return
        page = self.settings.statuspage.page_url
        links = "; ".join(f"{incident_link(r, page)} ({esc(r.status)})" for r in incidents)
        event_id = await self.services.matrix.reply(
            ev, f"There is an open incident on the status page: {links}."
        )
        await store.execute(
            "UPDATE support_threads SET status_hint_event=? WHERE room_id=? AND thread_id=?",
            (event_id, ev.room_id, ev.thread_id),
        )

    async def on_staff_response(self, room_id: str, thread_id: str, by: str, how: str) -> None:
        now = self.clock()
        await self.services.store.execute(
            "UPDATE support_threads SET first_response_at=?, first_response_by=?,"
            " first_response_how=? WHERE room_id=? AND thread_id=? AND first_response_at IS NULL",
            (now.timestamp(), by, how, room_id, thread_id),
        )
        await self.timers.stop(room_id, thread_id, now)
        card = await self.board.get(room_id, thread_id)
        if card and card.state == "waiting":
            await self.board.update(room_id, thread_id, state="answered", answered_by=by)

    async def thread_of(self, room_id: str, event_id: str) -> str | None:
        known = await self.services.store.fetchval(
            "SELECT thread_id FROM support_threads WHERE room_id=? AND thread_id=?",
            (room_id, event_id),
        )
        if known:
            return str(known)
        try:
            return (await self.services.matrix.get_event(room_id, event_id)).thread_id
        except MatrixError:
            return None

    # ---- out of hours

    def _spawn(self, coro: Any) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _out_of_hours(self, ev: Event, now: datetime) -> None:
        """Wait a moment (an FAQ answer may be on its way), then reply once if still needed."""
        store, matrix = self.services.store, self.services.matrix
        claimed = await store.fetchval(
            "UPDATE support_threads SET ooh_event='pending' WHERE room_id=? AND thread_id=?"
            " AND ooh_event IS NULL RETURNING 1",
            (ev.room_id, ev.thread_id),
        )
        if not claimed:
            return
        await asyncio.sleep(self.settings.out_of_hours_delay_s)
        try:
            events = await matrix.thread_events(ev.room_id, ev.thread_id)
        except MatrixError:
            events = []
        if out_of_hours.already_answered(
            [e.sender for e in events[1:]],
            bot=matrix.user_id,
            is_staff=self.services.roles.is_staff,
        ):
            await store.execute(
                "UPDATE support_threads SET ooh_event='skipped' WHERE room_id=? AND thread_id=?",
                (ev.room_id, ev.thread_id),
            )
            return
        html = out_of_hours.reply_html(self.settings, self.calendar, now)
        try:
            # Its own cause: a restart resumes it (resume_out_of_hours) and says it again
            # with the same transaction id, which the homeserver drops if it was sent.
            event_id = await matrix.reply(ev, html, cause=f"ooh:{ev.room_id}:{ev.thread_id}")
        except MatrixError:
            log.exception("out-of-hours reply failed")
            return
        await store.execute(
            "UPDATE support_threads SET ooh_event=? WHERE room_id=? AND thread_id=?",
            (event_id, ev.room_id, ev.thread_id),
        )
        self.services.metrics.commands.labels("support-out-of-hours", "answered").inc()

    async def resume_out_of_hours(self) -> int:
        """Replies a stop interrupted during their delay are sent now (if still closed)."""
        store, matrix = self.services.store, self.services.matrix
        rows = await store.fetchall(
            "SELECT room_id, thread_id FROM support_threads WHERE ooh_event='pending'"
        )
        now = self.clock()
        n = 0
        for row in rows:
            await store.execute(
                "UPDATE support_threads SET ooh_event=NULL WHERE room_id=? AND thread_id=?",
                (row["room_id"], row["thread_id"]),
            )
            if self.calendar.is_staffed(now):
                continue  # staff are here now: the thread needs a person, not the notice
            try:
                root = await matrix.get_event(row["room_id"], row["thread_id"])
            except MatrixError:
                continue
            self._spawn(self._out_of_hours(root, now))
            n += 1
        return n

    async def settle(self) -> None:
        """Wait for the delayed replies in flight (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
