"""First-response SLA timers: start, stop, warn once at a share of the target, breach once.

A timer per customer thread lives in ``support_timers``. Its warn and due moments are
computed once, at start (or when an escalation changes its target), in counted time:
staffed time from the calendar, or wall-clock time for severities counted around the clock.
The checker then only compares stored moments with the clock, so 10,000 open timers cost
one indexed query per pass, and a restart needs no state but the table.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from bot.store import Store, Transaction
from commands.support.calendar import SupportCalendar
from commands.support.repository import TimerRow
from commands.support.settings import SupportSettings

Alert = Literal["warn", "breach"]
FIRE_BATCH = 500


def ts(at: datetime) -> float:
    return at.timestamp()


def dt(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, UTC)


@dataclass(frozen=True)
class Plan:
    target_s: float
    around_the_clock: bool
    warn_at: datetime
    due_at: datetime


class SLAPolicy:
    """Pure: what target a thread or ticket gets, and when it warns and falls due."""

    def __init__(self, settings: SupportSettings, calendar: SupportCalendar) -> None:
        self.settings = settings
        self.calendar = calendar

    def target(self, severity: str | None, tier: str | None) -> tuple[float, bool]:
        sla = self.settings.sla
        if severity is None:
            return sla.thread_minutes * 60, False
        return sla.ticket_minutes(severity, tier) * 60, severity in sla.around_the_clock

    def plan(self, start: datetime, severity: str | None = None, tier: str | None = None) -> Plan:
        target_s, atc = self.target(severity, tier)
        warn_s = target_s * self.settings.sla_warn_share
        if atc:
            return Plan(
                target_s,
                True,
                start + timedelta(seconds=warn_s),
                start + timedelta(seconds=target_s),
            )
        return Plan(
            target_s,
            False,
            self.calendar.add_staffed(start, warn_s),
            self.calendar.add_staffed(start, target_s),
        )

    def counted(self, a: datetime, b: datetime, around_the_clock: bool) -> float:
        if around_the_clock:
            return max(0.0, (b - a).total_seconds())
        return self.calendar.staffed_seconds_between(a, b)


class SLATimers:
    def __init__(self, store: Store, policy: SLAPolicy) -> None:
        self.store = store
        self.policy = policy

    async def get(self, room_id: str, thread_id: str) -> TimerRow | None:
        data = await self.store.fetchone(
            "SELECT * FROM support_timers WHERE room_id=? AND thread_id=?", (room_id, thread_id)
        )
        return None if data is None else TimerRow.model_validate(data)

    async def start(self, room_id: str, thread_id: str, at: datetime) -> bool:
        """A customer's first message in a thread; False if the thread already has a timer."""
        async with self.store.transaction() as tx:
            return await self.start_in(tx, room_id, thread_id, at)

    async def start_in(self, tx: Transaction, room_id: str, thread_id: str, at: datetime) -> bool:
        """``start`` inside the caller's transaction (one commit for a new thread's rows)."""
        if await tx.fetchone(
            "SELECT 1 FROM support_timers WHERE room_id=? AND thread_id=?", (room_id, thread_id)
        ):
            return False
        p = self.policy.plan(at)
        await tx.execute(
            "INSERT INTO support_timers(room_id, thread_id, kind, target_s,"
            " around_the_clock, started_at, warn_at, due_at) VALUES (?,?,?,?,?,?,?,?)",
            (
                room_id,
                thread_id,
                "thread",
                p.target_s,
                int(p.around_the_clock),
                ts(at),
                ts(p.warn_at),
                ts(p.due_at),
            ),
        )
        return True

    async def retarget(
        self,
        room_id: str,
        thread_id: str,
        *,
        severity: str,
        tier: str | None,
        ticket_id: int | None,
        now: datetime,
    ) -> TimerRow | None:
        """An escalation: the ticket's severity and tier set the target, counted from the start."""
        timer = await self.get(room_id, thread_id)
        if timer is None:
            start = now
            await self.start(room_id, thread_id, start)
            timer = await self.get(room_id, thread_id)
            assert timer is not None
        if timer.state != "running":
            await self.store.execute(
                "UPDATE support_timers SET kind='ticket', severity=?, tier=?, ticket_id=?"
                " WHERE room_id=? AND thread_id=?",
                (severity, tier, ticket_id, room_id, thread_id),
            )
            return await self.get(room_id, thread_id)
        p = self.policy.plan(dt(timer.started_at), severity, tier)
        # Alerts already sent stay sent unless the new target moves them into the future.
        warned = timer.warned and p.warn_at <= now
        breached = timer.breached and p.due_at <= now
        await self.store.execute(
            "UPDATE support_timers SET kind='ticket', severity=?, tier=?, ticket_id=?, target_s=?,"
            " around_the_clock=?, warn_at=?, due_at=?, warned=?, breached=?"
            " WHERE room_id=? AND thread_id=?",
            (
                severity,
                tier,
                ticket_id,
                p.target_s,
                int(p.around_the_clock),
                ts(p.warn_at),
                ts(p.due_at),
                int(warned),
                int(breached),
                room_id,
                thread_id,
            ),
        )
        return await self.get(room_id, thread_id)

    async def stop(self, room_id: str, thread_id: str, at: datetime) -> TimerRow | None:
        """The first staff response; returns the stopped timer, None if none was running."""
        async with self.store.transaction() as tx:
            data = await tx.fetchone(
                "SELECT * FROM support_timers WHERE room_id=? AND thread_id=? AND state='running'",
                (room_id, thread_id),
            )
            if data is None:
                return None
            timer = TimerRow.model_validate(data)
            counted = self.policy.counted(dt(timer.started_at), at, timer.around_the_clock)
            await tx.execute(
                "UPDATE support_timers SET state='stopped', stopped_at=?, response_s=?"
                " WHERE room_id=? AND thread_id=?",
                (ts(at), counted, room_id, thread_id),
            )
        return timer.model_copy(
            update={"state": "stopped", "stopped_at": ts(at), "response_s": counted}
        )

    async def fire_due(self, now: datetime) -> list[tuple[TimerRow, Alert]]:
        """Mark and return every alert due by ``now``: each timer warns once and breaches once.

        A timer past both moments (e.g. after downtime) gets only the breach.
        """
        t = ts(now)
        # Batches of one UPDATE..RETURNING each: after downtime there may be thousands due,
        # and the store's lock is released between batches so events keep flowing.
        out: list[tuple[TimerRow, Alert]] = []
        while True:
            rows = await self.store.fetchall(
                "UPDATE support_timers SET warned=1,"
                " breached=CASE WHEN due_at<=? THEN 1 ELSE breached END"
                " WHERE rowid IN (SELECT rowid FROM support_timers WHERE state='running' AND"
                " ((warned=0 AND warn_at<=?) OR (breached=0 AND due_at<=?)) LIMIT ?)"
                " RETURNING *",
                (t, t, t, FIRE_BATCH),
            )
            for data in rows:
                timer = TimerRow.model_validate(data)
                out.append((timer, "breach" if timer.due_at <= t else "warn"))
            if len(rows) < FIRE_BATCH:
                break
        out.sort(key=lambda pair: pair[0].due_at)
        return out

    async def open_count(self) -> int:
        return int(
            await self.store.fetchval("SELECT count(*) FROM support_timers WHERE state='running'")
        )
