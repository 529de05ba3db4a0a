"""`!ticket`: escalate a support thread into exactly one RT ticket, and keep them in step.

!ticket [P1|P2|P3] [subject...] [--requestor EMAIL]   in a thread (or as a reply)
!ticket status | !ticket close [reason] | !ticket link RT#n
🎫 reaction by staff = !ticket on that message's thread;  RT#n in a message = a summary
"""

from __future__ import annotations

import asyncio
import logging
import re
import sys
from argparse import Namespace
from collections.abc import Awaitable
from typing import TYPE_CHECKING, TypeVar

from bot.context import EventContext
from bot.events import Event, Kind
from bot.html import code, esc
from bot.matrix import MatrixError
from bot.registry import UsageError, argument, command, passive, reaction
from bot.roles import ROOMS, Place, Role
from commands.escalation.repository import RT_REF_RE
from commands.escalation.rt.errors import RTError, RTNotFound, RTUnavailable
from commands.escalation.service import Escalation
from commands.escalation.settings import RTSettings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

SEVERITY_RE = re.compile(r"^P[123]$", re.IGNORECASE)
TICKET_REACTIONS = ("🎫", "🎟️", "🎟")
MAX_EXPANSIONS = 3
EXPANSION_BUDGET_S = 3.0  # all RT#n lookups of one message together
# RT calls someone is waiting for; the client's own budget (timeouts x retries) is far longer.
INTERACTIVE_TIMEOUT_S = 10.0
T = TypeVar("T")
ENGINEERS_ESCALATE = (
    "only the support engineers can escalate to a ticket; they will do it if needed."
)


async def _rt(call: Awaitable[T]) -> T:
    """Bounded, so a hanging RT cannot hold up the bot's handling of other events."""
    try:
        return await asyncio.wait_for(call, INTERACTIVE_TIMEOUT_S)
    except TimeoutError as exc:
        raise RTUnavailable(f"RT did not answer within {INTERACTIVE_TIMEOUT_S:.0f} s") from exc


async def setup(app: App) -> None:
    settings = app.config.optional_section("rt", RTSettings)
    if settings is None or not settings.enabled:
        return
    from commands.escalation.repository import MIGRATIONS

    await app.services.store.migrate("rt", MIGRATIONS)
    from commands.escalation.rt.factory import connect

    probe = await connect(settings)  # "auto" probes RT once: REST 2.0, or REST 1.0 on RT 4.4
    (log.error if probe.problem else log.info)("RT: %s", probe.problem or probe.sentence)
    client = probe.client
    service = Escalation(app.services, settings, client)
    app.services.rt = client
    app.services.escalation = service
    app.add_job("rt-outbox", service.outbox_loop)
    app.add_job("rt-poller", service.poll_loop)
    app.add_job("rt-queued-notices", service.queued_loop)
    app.on_stop(client.close)
    app.web.router.add_post("/hooks/rt", service.webhook)
    # Who may !ticket is part of the declaration: engineers, and customers too when allowed.
    roles = {"ticket": Role.customer} if settings.customers_may_escalate else {}
    app.registry.include(sys.modules[__name__], roles=roles)


def _service(ctx: EventContext) -> Escalation:
    """This capability's service; its handlers are registered only once it exists."""
    svc = ctx.services.escalation
    assert isinstance(svc, Escalation)
    return svc


async def _thread_of(ctx: EventContext) -> str | None:
    """The thread a command is about: its own thread, or the thread of the message it replies to."""
    ev = ctx.event
    if ev.thread_root:
        return ev.thread_root
    if ev.reply_to:
        try:
            target = await ctx.matrix.get_event(ev.room_id, ev.reply_to)
        except MatrixError:
            return None
        return target.thread_id
    return None


async def _answer(ctx: EventContext, svc: Escalation, thread_id: str, html: str) -> str:
    return await ctx.matrix.send(
        ctx.event.room_id, html, thread_root=thread_id, reply_to=ctx.event.event_id
    )


async def run_escalation(
    ctx: EventContext,
    svc: Escalation,
    thread_id: str,
    *,
    severity: str | None,
    subject: str | None,
    requestor: str | None,
) -> None:
    prefix = ctx.config.bot.command_prefix
    res = await svc.escalate(
        ctx.event.room_id,
        thread_id,
        requested_by=ctx.event.sender,
        source_event=ctx.event.event_id,
        cutoff_ts=ctx.event.ts,
        severity=severity,  # type: ignore[arg-type]
        subject=subject,
        requestor=requestor,
    )
    if res.outcome == "exists" and res.row:
        tid = int(res.row["ticket_id"])
        await _answer(
            ctx, svc, thread_id, f"This thread already has a ticket: {svc.ticket_html(tid)}."
        )
    elif res.outcome == "pending":
        await _answer(
            ctx,
            svc,
            thread_id,
            "This thread's ticket is already queued; it is created as soon as RT answers.",
        )
    elif res.outcome == "need_requestor":
        why = f" ({esc(res.message)})" if res.message else ""
        await _answer(
            ctx,
            svc,
            thread_id,
            f"I don't know the customer's e-mail address{why}. Please give it: "
            f"{code(prefix + 'ticket [P1|P2|P3] [subject] --requestor alice@example.com')}",
        )
    # "accepted": the outbox task posts RT#n, "queued" or what is wrong, in the thread.


@command(
    "ticket",
    summary="escalate this thread to an RT ticket: !ticket [P1|P2|P3] [subject] [--requestor EMAIL]",
    role=Role.engineer,
    places=(Place.support,),
    refusal=ENGINEERS_ESCALATE,
)
@argument("words", nargs="*", help="[P1|P2|P3] [subject...]")
@argument("--requestor", default=None, help="the customer's e-mail address")
async def ticket(ctx: EventContext, args: Namespace) -> None:
    svc = _service(ctx)
    thread_id = await _thread_of(ctx)
    if thread_id is None:
        raise UsageError("use !ticket inside the thread to escalate (or as a reply to its message)")
    if not ctx.is_staff:  # declared for customers only with customers_may_escalate
        root = await ctx.matrix.get_event(ctx.event.room_id, thread_id)
        if root.sender != ctx.event.sender:
            await ctx.refuse(ENGINEERS_ESCALATE)
            return
    words = list(args.words)
    severity = None
    if words and SEVERITY_RE.match(words[0]):
        severity = words.pop(0).upper()
    subject = " ".join(words).strip() or None
    await run_escalation(
        ctx, svc, thread_id, severity=severity, subject=subject, requestor=args.requestor
    )


async def _mapped_row(ctx: EventContext, svc: Escalation) -> dict | None:  # type: ignore[type-arg]
    thread_id = await _thread_of(ctx)
    if thread_id is None:
        return None
    return await svc.mapping(ctx.event.room_id, thread_id)


@command(
    "ticket status",
    summary="show this thread's RT ticket and its status",
    role=Role.customer,
    places=(Place.support,),
)
async def ticket_status(ctx: EventContext, args: Namespace) -> None:
    svc = _service(ctx)
    row = await _mapped_row(ctx, svc)
    if row is None or row["state"] == "failed":
        await ctx.reply("This thread has no ticket.")
        return
    if row["ticket_id"] is None:
        await ctx.reply("This thread's ticket is queued and will be created when RT is back.")
        return
    tid = int(row["ticket_id"])
    try:
        t = await _rt(svc.rt.get_ticket(tid))
        status = t.status
    except RTError:
        status = row["rt_status"] or "unknown (RT not reachable)"
    await ctx.reply(f"{svc.status_html(row, status)} — severity {esc(row['severity'])}.")


@command(
    "ticket close",
    summary="resolve this thread's RT ticket",
    role=Role.engineer,
    places=(Place.support,),
)
@argument("reason", nargs="*")
async def ticket_close(ctx: EventContext, args: Namespace) -> None:
    svc = _service(ctx)
    row = await _mapped_row(ctx, svc)
    if row is None or row["ticket_id"] is None:
        await ctx.reply("This thread has no ticket to close.")
        return
    # Through the outbox, so a timeout or a hung RT never leads to a second comment; the
    # outbox answers "Closed" (or what RT refused) in the thread.
    state = await svc.close_ticket(
        row, " ".join(args.reason) or None, ctx.event.sender, ctx.event.event_id
    )
    ticket = svc.ticket_html(int(row["ticket_id"]))
    if state == "pending":
        await ctx.reply(
            f"RT is not answering right now: closing {ticket} is <b>queued</b> and happens "
            "as soon as RT is back; I will confirm here."
        )
    elif state == "again":
        await ctx.reply(f"Closing {ticket} is already queued; I will confirm here.")


@command(
    "ticket link",
    summary="attach an existing RT ticket to this thread: !ticket link RT#n",
    role=Role.engineer,
    places=(Place.support,),
)
@argument("ticket", help="RT#1234 or 1234")
async def ticket_link(ctx: EventContext, args: Namespace) -> None:
    svc = _service(ctx)
    m = re.fullmatch(r"(?:RT#)?(\d{1,9})", args.ticket.strip(), re.IGNORECASE)
    if not m:
        raise UsageError("that is not a ticket number like RT#1234")
    thread_id = await _thread_of(ctx)
    if thread_id is None:
        raise UsageError("use !ticket link inside the thread to link")
    existing = await svc.mapping(ctx.event.room_id, thread_id)
    if existing and existing["state"] != "failed":
        tid = existing["ticket_id"]
        await ctx.reply(
            f"This thread already has {svc.ticket_html(int(tid))}."
            if tid
            else "This thread's ticket is queued."
        )
        return
    tid = int(m.group(1))
    other = await svc.mapping_by_ticket(tid)
    if other:
        await ctx.reply(f"{svc.ticket_html(tid)} is already linked to another thread.")
        return
    try:
        await _rt(svc.link_ticket(ctx.event.room_id, thread_id, tid, ctx.event.sender))
    except RTNotFound:
        await ctx.reply(f"There is no ticket RT#{tid} (or the bot cannot see it).")
        return
    except RTError as exc:
        await ctx.reply(f"Could not link RT#{tid}: <code>{esc(exc)}</code>")
        return
    await _answer(
        ctx,
        svc,
        thread_id,
        f"Linked this thread to {svc.ticket_html(tid)}; replies in RT appear here.",
    )


@command(
    "ticket queue",
    summary="show the RT outbox: what waits for RT, what RT refused",
    role=Role.engineer,
    places=(Place.staff,),
)
async def ticket_queue(ctx: EventContext, args: Namespace) -> None:
    svc = _service(ctx)
    await ctx.reply(await svc.outbox_report())


@reaction("ticket reaction", keys=TICKET_REACTIONS, role=Role.engineer, places=(Place.support,))
async def ticket_reaction(ctx: EventContext) -> None:
    svc = _service(ctx)
    if ctx.event.relates_to is None:
        return
    try:
        target: Event = await ctx.matrix.get_event(ctx.event.room_id, ctx.event.relates_to)
    except MatrixError:
        return
    await run_escalation(ctx, svc, target.thread_id, severity=None, subject=None, requestor=None)


@passive("ticket sync", kinds=(Kind.message,), places=(Place.support,))
async def ticket_sync(ctx: EventContext) -> None:
    """Messages in an escalated thread go to its ticket (once each, in order)."""
    svc = _service(ctx)
    if ctx.event.thread_root is None:
        return
    await svc.on_thread_message(ctx.event)


@passive("ticket expansion", kinds=(Kind.message,), places=ROOMS)
async def ticket_expansion(ctx: EventContext) -> None:
    """`RT#1234` gets a one-line summary, only for staff and the owning organisation."""
    svc = _service(ctx)
    if ctx.event.is_edit:
        return
    seen: list[int] = []
    for m in RT_REF_RE.finditer(ctx.event.body):
        n = int(m.group(1))
        if n not in seen:
            seen.append(n)
    if not seen:
        return
    lines: list[str] = []

    async def expand_all() -> None:
        for n in seen[:MAX_EXPANSIONS]:
            if not await svc.may_see_ticket(ctx.event.sender, n):
                continue
            if ctx.place is Place.support and ctx.is_staff:
                # The support room is read by every organisation: staff mentioning a
                # ticket there get a summary only for this very thread's ticket.
                owned = await svc.mapping_by_ticket(n)
                if not owned or owned.get("thread_id") != ctx.event.thread_id:
                    continue
            try:
                line = await _rt(svc.expand(n))
            except RTError:
                line = None
            if line:
                lines.append(line)

    try:
        # Events are handled one at a time: a slow RT must not hold up the room.
        await asyncio.wait_for(expand_all(), EXPANSION_BUDGET_S)
    except TimeoutError:
        log.warning("RT#n expansion gave up after %.0fs", EXPANSION_BUDGET_S)
    if lines:
        await ctx.reply("<br>".join(lines))
