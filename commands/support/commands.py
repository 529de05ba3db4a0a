"""The chat surface of support operations: passive handlers, reactions, commands, setup(app).

Everything else in this package is Matrix-free logic; this module wires it to events.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from argparse import Namespace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from bot.context import EventContext, Services
from bot.events import Event, Kind
from bot.html import esc, link
from bot.ids import matrix_to, server_of
from bot.interfaces import TicketEvent, ticket_events
from bot.matrix import MatrixError
from bot.registry import argument, command, passive, reaction
from bot.roles import ANYWHERE, STAFF_ONLY, Place, Role
from commands.support import out_of_hours
from commands.support.calendar import SupportCalendar
from commands.support.report import ReportMetrics, figures, report_html
from commands.support.repository import MIGRATIONS, CardRow, TimerRow
from commands.support.satisfaction import DOWN, UP, Surveys, counts, vote_of
from commands.support.settings import SupportSettings
from commands.support.sla import SLAPolicy, SLATimers, dt
from commands.support.statuspage import (
    StatusService,
    asks_if_down,
    hide_token_in_access_log,
    incident_link,
)
from commands.support.triage import CLAIM_KEYS, Board, card_html

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


class Support:
    """One per App: calendar, SLA timers, out-of-hours replies, board, surveys, status, report."""

    def __init__(self, services: Services, settings: SupportSettings) -> None:
        self.services = services
        self.settings = settings
        self.calendar = SupportCalendar(settings)
        self.policy = SLAPolicy(settings, self.calendar)
        self.timers = SLATimers(services.store, self.policy)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self.board = Board(services.store, self._post_staff, self._edit_staff, self._card_html)
        self.surveys = Surveys(services.store)
        self.report_metrics = ReportMetrics(services.metrics.registry)
        self.status: StatusService | None = None
        if settings.statuspage.enabled:
            self.status = StatusService(
                settings.statuspage, services.store, self._post_support, self._edit_support
            )

    async def _post_staff(self, html: str) -> str:
        return await self.services.matrix.send(self.services.config.rooms.staff, html)

    async def _edit_staff(self, event_id: str, html: str) -> None:
        await self.services.matrix.edit(self.services.config.rooms.staff, event_id, html)

    def ticket_url(self, ticket_id: int | None) -> str | None:
        esc_settings = getattr(self.services.escalation, "settings", None)
        if ticket_id is None or esc_settings is None:
            return None
        return str(esc_settings.ticket_link(ticket_id))

    def _card_html(self, card: CardRow) -> str:
        return card_html(
            card,
            thread_url=self.thread_link(card.room_id, card.thread_id),
            when=self.calendar.describe(dt(card.started_at)),
            ticket_url=self.ticket_url(card.ticket_id),
        )

    async def _post_support(self, html: str) -> str:
        return await self.services.matrix.send(self.services.config.rooms.support, html)

    async def _edit_support(self, event_id: str, html: str) -> None:
        await self.services.matrix.edit(self.services.config.rooms.support, event_id, html)

    @property
    def clock(self):  # type: ignore[no-untyped-def]
        return self.services.clock

    def thread_link(self, room_id: str, thread_id: str) -> str:
        return matrix_to(room_id, thread_id, server_of(self.services.matrix.user_id))

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
            event_id = await matrix.reply(ev, html)
        except MatrixError:
            log.exception("out-of-hours reply failed")
            return
        await store.execute(
            "UPDATE support_threads SET ooh_event=? WHERE room_id=? AND thread_id=?",
            (event_id, ev.room_id, ev.thread_id),
        )
        self.services.metrics.commands.labels("support-out-of-hours", "answered").inc()

    # ---- SLA alerts

    def _what(self, timer: TimerRow) -> str:
        where = link(self.thread_link(timer.room_id, timer.thread_id), "a customer thread")
        if timer.kind == "ticket":
            return f"{where} (RT#{timer.ticket_id}, {esc(timer.severity or '')}, {esc(timer.tier or 'standard')})"
        return where

    def _alert_html(self, timer: TimerRow, alert: str, now: datetime) -> str:
        t = self.settings.texts
        since = esc(self.calendar.describe(dt(timer.started_at)))
        if alert == "breach":
            return t.sla_breach.format(what=self._what(timer), since=since)
        left_s = max(
            0.0,
            timer.target_s - self.policy.counted(dt(timer.started_at), now, timer.around_the_clock),
        )
        left = esc(f"{left_s / 60:.0f} min")
        return t.sla_warning.format(left=left, what=self._what(timer), since=since)

    async def check_sla(self) -> int:
        """One pass: post what fell due; many at once (after downtime) become one summary."""
        now = self.clock()
        fired = await self.timers.fire_due(now)
        if not fired:
            return 0
        if len(fired) > self.settings.sla_catchup_max_lines:
            breaches = [t for t, a in fired if a == "breach"]
            warns = [t for t, a in fired if a == "warn"]
            items = "".join(f"<li>{self._what(t)}</li>" for t in breaches[:10])
            more = f"<li>… and {len(breaches) - 10} more</li>" if len(breaches) > 10 else ""
            await self.services.tell_staff(
                f"🚨 {len(breaches)} first-response target(s) missed and {len(warns)} close to "
                f"due (summary after a pause):<ul>{items}{more}</ul>"
            )
        else:
            for timer, alert in fired:
                await self.services.tell_staff(self._alert_html(timer, alert, now))
        for _timer, alert in fired:
            self.services.metrics.commands.labels(f"support-sla-{alert}", "posted").inc()
        return len(fired)

    async def tick(self) -> None:
        await self.board.post_due(self.clock())
        await self.check_sla()

    async def report(self, period: str) -> str:
        f = await figures(self.services.store, self.calendar, self.clock(), period)  # type: ignore[arg-type]
        self.report_metrics.update(f)
        return report_html(f, self.calendar)

    async def metrics_loop(self) -> None:
        """Keep the report gauges fresh for Prometheus (a minute is plenty for these figures)."""
        while True:
            for period in ("week", "month"):
                try:
                    f = await figures(self.services.store, self.calendar, self.clock(), period)  # type: ignore[arg-type]
                    self.report_metrics.update(f)
                except Exception:
                    log.exception("support report metrics failed")
            await asyncio.sleep(60)

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

    async def sla_loop(self) -> None:
        await self.resume_out_of_hours()
        while True:
            self._wake.clear()
            try:
                await self.tick()
            except Exception:
                log.exception("SLA check failed")
                self.services.metrics.errors.labels("support:sla").inc()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.settings.sla_check_seconds)

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
            return await self.services.matrix.send(event.room_id, html, thread_root=event.thread_id)

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
        directory = getattr(self.services.escalation, "directory", None)
        if directory is None:
            return None
        org: str | None = await directory.org_of(user_id)
        return org

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
            ticket_id = mapping and mapping.get("ticket_id")
        if not ticket_id or rt is None:
            return ""
        owner = self.rt_owner(user_id) if user_id else "Nobody"
        try:
            await asyncio.wait_for(rt.update_ticket(int(ticket_id), {"Owner": owner}), 10)
        except Exception as exc:
            log.warning("setting the RT owner of %s failed: %s", ticket_id, exc)
            return f" RT did not take the owner {esc(owner)}: {esc(str(exc))}"
        return f" RT#{int(ticket_id)} owner: {esc(owner)}."

    async def settle(self) -> None:
        """Wait for the delayed replies in flight (tests, and a clean stop)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


def is_staff_correspondence(event: TicketEvent) -> bool:
    """RT correspondence from an agent, not the customer answering by mail.

    RT names users it creates from incoming mail by their address; agents have user names.
    """
    by = (event.by or "").strip().lower()
    if not by:
        return True
    return "@" not in by and by != (event.requestor or "").lower()


def service(ctx: EventContext) -> Support | None:
    return ctx.services.extras.get("support")


@passive("support message", kinds=(Kind.message,), places=(Place.support,))
async def support_message(ctx: EventContext) -> None:
    svc = service(ctx)
    ev = ctx.event
    if svc is None or ev.is_edit:
        return
    if ctx.is_staff:
        if ev.thread_root:
            await svc.on_staff_response(ev.room_id, ev.thread_root, ev.sender, "reply")
        return
    await svc.on_customer_message(ev)


@passive("support reaction", kinds=(Kind.reaction,), places=(Place.support,))
async def support_reaction(ctx: EventContext) -> None:
    svc = service(ctx)
    ev = ctx.event
    if svc is None or not ctx.is_staff or not ev.relates_to:
        return
    thread = await svc.thread_of(ev.room_id, ev.relates_to)
    if thread:
        await svc.on_staff_response(ev.room_id, thread, ev.sender, "reaction")


async def _claim_here(ctx: EventContext, claim: bool) -> None:
    svc = service(ctx)
    ev = ctx.event
    if svc is None:
        await ctx.refuse("support operations are off")
        return
    thread = ev.thread_root or (
        await svc.thread_of(ev.room_id, ev.reply_to) if ev.reply_to else None
    )
    if not thread:
        await ctx.refuse("use this in the thread you mean")
        return
    note = await svc.claim(ev.room_id, thread, ev.sender if claim else None)
    if note.startswith("This thread"):
        await ctx.refuse(note)
        return
    await ctx.reply(("👀 Claimed." if claim else "Given back.") + note)


@command(
    "claim",
    summary="take this thread (and its ticket)",
    role=Role.engineer,
    places=(Place.support,),
)
async def claim_command(ctx: EventContext, args: Namespace) -> None:
    await _claim_here(ctx, True)


@command("unclaim", summary="give this thread back", role=Role.engineer, places=(Place.support,))
async def unclaim_command(ctx: EventContext, args: Namespace) -> None:
    await _claim_here(ctx, False)


@reaction("support claim", keys=CLAIM_KEYS, role=Role.engineer, places=(Place.staff,))
async def claim_reaction(ctx: EventContext) -> None:
    svc = service(ctx)
    ev = ctx.event
    if svc is None or not ev.relates_to:
        return
    card = await svc.board.by_card(ev.relates_to)
    if card is None:
        return
    note = await svc.claim(card.room_id, card.thread_id, ev.sender)
    if note.strip():
        await ctx.services.tell_staff(note.strip())


@reaction("support survey", keys=(UP, DOWN), role=Role.customer, places=(Place.support,))
async def survey_reaction(ctx: EventContext) -> None:
    svc = service(ctx)
    ev = ctx.event
    vote = vote_of(ev.key or "")
    if svc is None or not ev.relates_to or vote is None:
        return
    row = await svc.surveys.by_question(ev.relates_to)
    if row is None or not counts(row, ev.sender, await svc.org_of(ev.sender)):
        return
    first = row.vote is None
    await svc.surveys.vote(row, ev.sender, vote, svc.clock())
    ctx.services.metrics.commands.labels("support-survey", "up" if vote > 0 else "down").inc()
    if first:
        await ctx.matrix.send(
            ev.room_id, esc(svc.settings.texts.survey_thanks), thread_root=row.thread_id
        )


@command(
    "report",
    summary="support figures for the last week or month",
    role=Role.engineer,
    places=STAFF_ONLY,
)
@argument("period", nargs="?", default="week", choices=("week", "month"))
async def report_command(ctx: EventContext, args: Namespace) -> None:
    svc = service(ctx)
    if svc is None:
        await ctx.refuse("support operations are off")
        return
    await ctx.reply(await svc.report(args.period))


@command("status", summary="service status and open incidents", places=ANYWHERE)
async def status_command(ctx: EventContext, args: Namespace) -> None:
    svc = service(ctx)
    if svc is None or svc.status is None:
        page = ctx.config.section("support", SupportSettings).statuspage.page_url
        await ctx.reply(f"Service status is on {link(page, page.removeprefix('https://'))}.")
        return
    await ctx.reply(await svc.status.status_html())


async def setup(app: App) -> None:
    settings = app.config.section("support", SupportSettings)
    if not settings.enabled:
        return
    await app.services.store.migrate("support", MIGRATIONS)
    svc = Support(app.services, settings)
    app.services.extras["support"] = svc
    ticket_events(app.services).subscribe(svc.on_ticket)
    app.add_job("support-sla", svc.sla_loop)
    app.add_job("support-metrics", svc.metrics_loop)
    app.on_stop(svc.close)
    if svc.status is not None:
        sp = settings.statuspage
        if sp.webhook_token is not None:
            hide_token_in_access_log(sp.webhook_token.get_secret_value())
            app.web.router.add_post("/hooks/statuspage/{token}", svc.status.webhook)
        if sp.poll_seconds > 0:
            app.add_job("support-statuspage", svc.status.poll_loop)
    app.registry.include(sys.modules[__name__])
