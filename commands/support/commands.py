"""The chat surface of support operations: passive handlers, reactions, commands, setup(app).

Everything else in this package is Matrix-free logic; this module wires it to events.
"""

from __future__ import annotations

import logging
import sys
from argparse import Namespace
from typing import TYPE_CHECKING

from bot.context import EventContext
from bot.events import Kind
from bot.html import esc, link
from bot.interfaces import ticket_events
from bot.registry import argument, command, passive, reaction
from bot.roles import ANYWHERE, STAFF_ONLY, Place, Role
from commands.support.repository import MIGRATIONS
from commands.support.satisfaction import DOWN, UP, counts, vote_of
from commands.support.service import Support
from commands.support.settings import SupportSettings
from commands.support.statuspage import hide_token_in_access_log
from commands.support.tickets import is_staff_correspondence
from commands.support.triage import CLAIM_KEYS

__all__ = ["Support", "is_staff_correspondence", "service", "setup"]

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)


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
