"""Access to the support room: !join, knocks, admin decisions, !access and !orgs, the checks.

The service (commands/access/service.py) holds the rules and effects; this module is the
Matrix surface: parsing, role/place gates (via the registry), replies.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from argparse import Namespace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from pydantic import ValidationError

from bot.context import EventContext
from bot.events import Kind
from bot.html import bullet_list, code, esc, user_pill
from bot.registry import UsageError, argument, command, passive, reaction
from bot.roles import STAFF_ONLY, Place, Role
from commands.access.models import (
    ORG_ID,
    MemberState,
    Org,
    last_day,
    parse_until,
    valid_email,
    valid_mxid,
)
from commands.access.service import MIGRATIONS, AccessService, Refusal, next_daily, split_target
from commands.access.settings import AccessSettings

if TYPE_CHECKING:
    from bot.app import App

log = logging.getLogger(__name__)

LIST_LIMIT = 50
DM_ONLY = frozenset({Place.dm})
# Who has already been told "slow down" in the current window: a flood gets one answer, not many.
_told_limited: dict[str, float] = {}


async def setup(app: App) -> None:
    await app.services.store.migrate("access", MIGRATIONS)
    service = AccessService(
        app.services.store,
        app.config.section("access", AccessSettings),
        app.clock,
        services=app.services,
        prefix=app.config.bot.command_prefix,
    )
    app.services.access = service
    app.on_stop(service.close)
    app.add_job("access-checks", lambda: run_checks(service, app))
    app.registry.include(sys.modules[__name__])


async def run_checks(service: AccessService, app: App) -> None:
    """A check at start, then: the daily full check, a full check when the registry changed
    (an import by the CLI, !orgs), and a cheap expiry check on every poll in between."""
    settings = app.config.section("access", AccessSettings)
    try:
        await service.check_join_rule()
        await service.check("start")
    except Exception:
        log.exception("access start check failed")
    generation = await service.generation()
    due = next_daily(app.clock(), *settings.check_hour_minute)
    while True:
        await asyncio.sleep(settings.check_poll_seconds)
        try:
            now = app.clock()
            current = await service.generation()
            if now >= due:
                due = next_daily(now, *settings.check_hour_minute)
                await service.check("daily")
            elif current != generation:
                await service.check("registry changed")
            else:
                await service.check("expiry", expiry_only=True)
            generation = current
        except Exception:
            app.metrics.errors.labels("job:access-checks").inc()
            log.exception("access check failed; retrying at the next poll")


def _service(ctx: EventContext) -> AccessService:
    """This capability's service; its handlers are registered only once it exists."""
    service = ctx.services.access
    assert isinstance(service, AccessService)
    return service


# ---- getting in -----------------------------------------------------------------------------


@command("join", places=DM_ONLY, summary="ask for access to the support room")
@argument("who", help="your organisation id (ORG-ID) or your work e-mail address")
async def join(ctx: EventContext, args: Namespace) -> None:
    service = _service(ctx)
    sender = ctx.event.sender
    now = service.clock().timestamp()
    wait = service.limiter.hit(sender, now)
    if wait:
        if _told_limited.get(sender, 0) < now:
            _told_limited[sender] = now + wait
            await ctx.reply(
                f"You have asked {service.settings.join_rate_limit} times in a short while; "
                f"please wait {max(1, round(wait / 60))} minute(s) before asking again."
            )
        return
    target = args.who.strip()
    if target.startswith("@"):
        raise UsageError("write your organisation id or your work e-mail address, not a Matrix id")
    org_id, email = split_target(target)
    if email is not None and not valid_email(email):
        raise UsageError("that is not an e-mail address like you@example.com")
    if org_id is not None and not ORG_ID.match(org_id):
        raise UsageError("that is not an organisation id (letters, digits and '-')")
    result = await service.ask(
        sender, org_id=org_id, email=email, via="join", dm_room=ctx.event.room_id
    )
    await ctx.reply(result.html)


@passive("access doorkeeper", kinds=(Kind.member,), places=(Place.support,))
async def on_member(ctx: EventContext) -> None:
    event = ctx.event
    user_id = event.state_key or ""
    if event.membership == "join" and event.prev_membership != "join":
        if event.backlog:
            return  # joined while the bot was down: the start check's sweep decides
        await _service(ctx).on_join(user_id)
    elif event.membership == "knock" and event.sender == user_id:
        await _service(ctx).on_knock(user_id, str(event.content.get("reason") or ""))


@passive("access join rule", kinds=(Kind.state,), places=(Place.support,))
async def on_state(ctx: EventContext) -> None:
    if ctx.event.type == "m.room.join_rules":
        rule = str(ctx.event.content.get("join_rule", ""))
        await _service(ctx).on_join_rule(rule, ctx.event.sender)


@reaction("access decide", keys=("✅", "❌"), role=Role.admin, places=STAFF_ONLY)
async def decide_by_reaction(ctx: EventContext) -> None:
    service = _service(ctx)
    card = ctx.event.relates_to or ""
    req = await service.request_by_card(card)
    if req is None:
        return  # a ✅ on something else: another feature's business
    approve = (ctx.event.key or "").replace("\ufe0f", "") == "✅"
    try:
        if approve:
            msg = await service.approve(req.id, ctx.event.sender)
        else:
            msg = await service.deny(req.id, ctx.event.sender, None)
    except Refusal as exc:
        msg = f"Nothing changed: {exc}."
    await ctx.matrix.send(ctx.event.room_id, esc(msg), thread_root=card)


# ---- admin commands -------------------------------------------------------------------------


def _user_arg(text: str) -> str:
    if not valid_mxid(text):
        raise UsageError("that is not a Matrix id like @name:example.com")
    return text


async def _run(ctx: EventContext, action: object) -> None:
    try:
        msg = await action  # type: ignore[misc]
    except Refusal as exc:
        await ctx.refuse(f"{exc}. Nothing was changed.")
        return
    await ctx.reply(esc(msg))


@command(
    "access grant", role=Role.admin, places=STAFF_ONLY, summary="let a person into the support room"
)
@argument("user", help="@name:server")
@argument("org", help="organisation id")
@argument("--until", default=None, help="last day (YYYY-MM-DD); default from [access]")
async def access_grant(ctx: EventContext, args: Namespace) -> None:
    user_id = _user_arg(args.user)
    try:
        until = parse_until(args.until) if args.until else None
    except ValueError as exc:
        raise UsageError(str(exc)) from exc
    await _run(ctx, _service(ctx).grant(user_id, args.org, until, ctx.event.sender))


@command(
    "access revoke",
    role=Role.admin,
    places=STAFF_ONLY,
    summary="take a person's access away (kicks them)",
)
@argument("user", help="@name:server")
@argument("reason", nargs="*", help="told to the person")
async def access_revoke(ctx: EventContext, args: Namespace) -> None:
    user_id = _user_arg(args.user)
    reason = " ".join(args.reason) or None
    await _run(ctx, _service(ctx).revoke(user_id, ctx.event.sender, reason))


@command("access approve", role=Role.admin, places=STAFF_ONLY, summary="approve an access request")
@argument("id", type=int, help="request number")
async def access_approve(ctx: EventContext, args: Namespace) -> None:
    await _run(ctx, _service(ctx).approve(args.id, ctx.event.sender))


@command("access deny", role=Role.admin, places=STAFF_ONLY, summary="deny an access request")
@argument("id", type=int, help="request number")
@argument("reason", nargs="*", help="told to the person")
async def access_deny(ctx: EventContext, args: Namespace) -> None:
    await _run(ctx, _service(ctx).deny(args.id, ctx.event.sender, " ".join(args.reason) or None))


def _member_line(m: object) -> str:
    from commands.access.models import Member

    assert isinstance(m, Member)
    until = f" until {last_day(m.expires_at).isoformat()}" if m.expires_at else ""
    return f"{user_pill(m.user_id)} ({esc(m.org_id)}): {esc(m.state.value)}{esc(until)}"


@command(
    "access list",
    role=Role.engineer,
    places=STAFF_ONLY,
    summary="who has access (optionally one organisation)",
)
@argument("org", nargs="?", default=None)
async def access_list(ctx: EventContext, args: Namespace) -> None:
    service = _service(ctx)
    members = await service.members(args.org)
    if args.org and not members and not await service.org(args.org):
        await ctx.refuse(f"there is no organisation {args.org.upper()}")
        return
    shown = [m for m in members if m.state in (MemberState.granted, MemberState.requested)]
    if not shown:
        await ctx.reply(
            "Nobody has access or is waiting"
            + (f" in {esc(args.org.upper())}." if args.org else ".")
        )
        return
    more = f"<br>… and {len(shown) - LIST_LIMIT} more." if len(shown) > LIST_LIMIT else ""
    await ctx.reply(
        f"{len(shown)} granted or waiting:"
        f"{bullet_list([_member_line(m) for m in shown[:LIST_LIMIT]])}{more}"
    )


@command(
    "access show",
    role=Role.engineer,
    places=STAFF_ONLY,
    summary="one person's access and its history",
)
@argument("user", help="@name:server")
async def access_show(ctx: EventContext, args: Namespace) -> None:
    user_id = _user_arg(args.user)
    service = _service(ctx)
    member = await service.member(user_id)
    history = await service.audit_log(user_id, limit=8)
    if member is None and not history:
        await ctx.reply(f"{user_pill(user_id)} is not in the registry.")
        return
    head = _member_line(member) if member else f"{user_pill(user_id)}: no current record"
    if member and member.granted_by:
        head += f", granted by {esc(member.granted_by)}"
    if member and member.reason:
        head += f" ({esc(member.reason)})"
    lines = [
        f"{datetime.fromtimestamp(a.ts, UTC):%Y-%m-%d %H:%M} {esc(a.action)} by {esc(a.actor)}"
        + (f": {esc(a.detail)}" if a.detail else "")
        for a in history
    ]
    await ctx.reply(f"{head}{bullet_list(lines) if lines else ''}")


@command("access check", role=Role.admin, places=STAFF_ONLY, summary="run the access check now")
async def access_check(ctx: EventContext, args: Namespace) -> None:
    report = await _service(ctx).check(f"asked by {ctx.event.sender}")
    await ctx.reply(
        f"Checked {report.members_checked} grant(s): {len(report.changes)} ended, "
        f"{len(report.removed)} people without a grant removed ({report.seconds:.2f} s)."
    )


# ---- organisations --------------------------------------------------------------------------


def _org_summary(org: Org) -> str:
    end = f", contract until {org.contract_end.isoformat()}" if org.contract_end else ""
    return f"<b>{esc(org.id)}</b> {esc(org.name)}: {esc(', '.join(org.products) or 'no products')}{end}"


@command(
    "orgs list",
    role=Role.engineer,
    places=STAFF_ONLY,
    summary="organisations in the access registry",
)
async def orgs_list(ctx: EventContext, args: Namespace) -> None:
    orgs = await _service(ctx).orgs()
    if not orgs:
        await ctx.reply(
            "The registry is empty (and nobody is kept out until it is not). "
            f"Add one with {code('!orgs add')} or import: {code('backchannel orgs import FILE')}."
        )
        return
    more = f"<br>… and {len(orgs) - LIST_LIMIT} more." if len(orgs) > LIST_LIMIT else ""
    await ctx.reply(
        f"{len(orgs)} organisation(s):{bullet_list([_org_summary(o) for o in orgs[:LIST_LIMIT]])}{more}"
    )


@command("orgs show", role=Role.engineer, places=STAFF_ONLY, summary="one organisation")
@argument("org")
async def orgs_show(ctx: EventContext, args: Namespace) -> None:
    service = _service(ctx)
    org = await service.org(args.org)
    if org is None:
        await ctx.refuse(f"there is no organisation {args.org.upper()}")
        return
    members = await service.members(org.id)
    granted = sum(1 for m in members if m.state is MemberState.granted)
    lack = org.lacks(service.settings.entitled_products, service.clock().date())
    status = "may use the room" if not lack else f"may NOT use the room ({lack.replace('_', ' ')})"
    details = [
        f"products: {esc(', '.join(org.products) or 'none')}",
        f"contract end: {esc(org.contract_end.isoformat() if org.contract_end else 'none')}",
        f"e-mail domains: {esc(', '.join(org.email_domains) or 'none')}",
        f"homeservers (auto-admit): {esc(', '.join(org.homeservers) or 'none')}",
        f"contacts: {esc(', '.join(org.contacts) or 'none')}",
        f"members with access: {granted}",
    ]
    await ctx.reply(f"<b>{esc(org.id)}</b> {esc(org.name)}, {status}{bullet_list(details)}")


@command("orgs add", role=Role.admin, places=STAFF_ONLY, summary="add or replace an organisation")
@argument("org", help="short id, e.g. ACME")
@argument("name", help='display name (quote it: "Acme AB")')
@argument("--products", default="", help="e.g. SUPPORT-standard,SUPPORT-iaas.base")
@argument("--domains", default="", help="e-mail domains, comma separated")
@argument("--homeservers", default="", help="homeservers it owns (auto-admit), comma separated")
@argument("--contract-end", default="", help="YYYY-MM-DD")
@argument("--contacts", default="", help="e-mails or Matrix ids, comma separated")
async def orgs_add(ctx: EventContext, args: Namespace) -> None:
    try:
        org = Org.model_validate(
            {
                "id": args.org,
                "name": args.name,
                "products": args.products,
                "email_domains": args.domains,
                "homeservers": args.homeservers,
                "contract_end": args.contract_end,
                "contacts": args.contacts,
            }
        )
    except ValidationError as exc:
        problems = "; ".join(
            f"{err['loc'][0] if err['loc'] else 'value'}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise UsageError(problems) from exc
    new = await _service(ctx).upsert_org(org, ctx.event.sender)
    verb = "Added" if new else "Replaced"
    await ctx.reply(f"{verb} {_org_summary(org)}. Members are re-checked within a minute.")
    await ctx.services.tell_staff(
        f"🔐 access org {'added' if new else 'updated'} {esc(org.id)} by {esc(ctx.event.sender)}"
    )


@command(
    "orgs remove",
    role=Role.admin,
    places=STAFF_ONLY,
    summary="remove an organisation (its members lose access)",
)
@argument("org")
async def orgs_remove(ctx: EventContext, args: Namespace) -> None:
    service = _service(ctx)
    try:
        granted = await service.remove_org(args.org, ctx.event.sender)
    except Refusal as exc:
        await ctx.refuse(f"{exc}. Nothing was changed.")
        return
    await ctx.reply(
        f"Removed {esc(args.org.upper())}; its {granted} member(s) with access lose it at the next check."
    )
    await ctx.services.tell_staff(
        f"🔐 access org removed {esc(args.org.upper())} by {esc(ctx.event.sender)}"
    )
