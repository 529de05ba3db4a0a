"""Moderation: the automatic protections, moderator commands, and ↩️-undo of audited actions.

!kick @user [reason]   !ban @user [reason]   !unban @user   !mute @user [duration] [reason]
!unmute @user   !redact @user [N]   !protections [list | on|off|shadow NAME|all]
Engineers and admins, in the support or the staff room; the support room is always the target.
"""

from __future__ import annotations

import re
import sys
from argparse import Namespace
from typing import TYPE_CHECKING

from bot.context import EventContext
from bot.html import code, esc, user_pill
from bot.ids import MXID, PILL
from bot.registry import UsageError, argument, command, reaction
from bot.roles import ROOMS, STAFF_ONLY, Role
from commands.moderation.moderator import (
    MIGRATIONS,
    UNDO_KEY,
    Moderator,
    NotAnAction,
    Outcome,
    Refused,
)
from commands.moderation.policy.commands import setup_policy_lists
from commands.moderation.protections.common import BaseProtection, formatted
from commands.moderation.protections.credentials import CredentialProtection
from commands.moderation.protections.flood import FloodProtection
from commands.moderation.protections.mentions import MentionProtection
from commands.moderation.protections.spam import SpamProtection
from commands.moderation.settings import ModerationSettings

if TYPE_CHECKING:
    from bot.app import App
    from bot.events import Event

DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhd]?)$", re.I)
UNIT = {"s": 1, "m": 60, "": 60, "h": 3600, "d": 86400}


class Observer:
    """First in the chain, never consumes: join times and message ids for the others."""

    name = "observer"

    def __init__(self, moderator: Moderator) -> None:
        self.moderator = moderator

    async def handle(self, ctx: EventContext) -> bool:
        if ctx.event.room_id == self.moderator.support:
            await self.moderator.observe(ctx.event)
        return False


def build_protections(moderator: Moderator, settings: ModerationSettings) -> list[BaseProtection]:
    """Credentials first (redact before anything else sees it); flood counts everything."""
    return [
        CredentialProtection(moderator, settings.credentials),
        FloodProtection(moderator, settings.flood),
        MentionProtection(moderator, settings.mentions),
        SpamProtection(moderator, settings.spam),
    ]


async def setup(app: App) -> None:
    settings = app.config.section("moderation", ModerationSettings)
    services = app.services
    await services.store.migrate("moderation", MIGRATIONS)
    moderator = Moderator(services, settings)
    await moderator.load()
    app.add_job("moderation-redactions", moderator.redactions.run)
    protections = build_protections(moderator, settings)
    protections.append(await setup_policy_lists(app, moderator, settings.policy_lists))
    moderator.protections = {p.name: p for p in protections}
    services.moderation = moderator
    # In front of any other feature's protections: a leaked secret is redacted before anything
    # else can quote it.
    services.protections[:0] = [Observer(moderator), *protections]
    app.add_job("moderation-mutes", moderator.mute_loop)
    app.registry.include(sys.modules[__name__])


# ---- helpers -----------------------------------------------------------------------------------


def _moderator(ctx: EventContext) -> Moderator:
    mod = ctx.services.moderation
    if not isinstance(mod, Moderator):
        raise UsageError("moderation is not set up")
    return mod


def target_of(ctx: EventContext, given: str) -> str:
    """The MXID a moderator meant: typed, or a pill (clients put the display name in the body)."""
    if MXID.match(given):
        return given
    pills = PILL.findall(formatted(ctx.event))
    if pills:
        pill: str = pills[0]
        return pill
    raise UsageError("that is not a Matrix user id (@name:server)")


def parse_duration(text: str) -> float:
    m = DURATION.match(text.strip())
    if not m:
        raise UsageError("that is not a duration (e.g. 30s, 10m, 2h, 1d)")
    seconds = float(m.group(1)) * UNIT[m.group(2).lower()]
    if not 0 < seconds <= 30 * 86400:
        raise UsageError("a mute lasts between 1 second and 30 days")
    return seconds


async def _run(ctx: EventContext, action: str, target: str, reason: str, **kw: object) -> None:
    mod = _moderator(ctx)
    try:
        outcome: Outcome = await mod.act(
            action,  # type: ignore[arg-type]
            target=target,
            actor=ctx.event.sender,
            reason=reason,
            **kw,  # type: ignore[arg-type]
        )
    except Refused as exc:
        await ctx.refuse(str(exc))
        return
    if outcome.ok:
        await ctx.reply(f"Done (#{outcome.audit_id}): {outcome.line}")
    else:
        await ctx.reply(f"That failed (#{outcome.audit_id}): {esc(outcome.error or '')}")


def _reason(args: Namespace) -> str:
    return " ".join(args.reason).strip()


# ---- commands ----------------------------------------------------------------------------------


@command("kick", role=Role.engineer, places=ROOMS, summary="remove someone from the support room")
@argument("user", help="@name:server")
@argument("reason", nargs="*")
async def kick(ctx: EventContext, args: Namespace) -> None:
    await _run(ctx, "kick", target_of(ctx, args.user), _reason(args))


@command("ban", role=Role.engineer, places=ROOMS, summary="ban someone from the support room")
@argument("user", help="@name:server")
@argument("reason", nargs="*")
async def ban(ctx: EventContext, args: Namespace) -> None:
    await _run(ctx, "ban", target_of(ctx, args.user), _reason(args))


@command("unban", role=Role.engineer, places=ROOMS, summary="lift a ban")
@argument("user", help="@name:server")
async def unban(ctx: EventContext, args: Namespace) -> None:
    await _run(ctx, "unban", target_of(ctx, args.user), "")


@command("mute", role=Role.engineer, places=ROOMS, summary="stop someone posting for a while")
@argument("user", help="@name:server")
@argument("duration", nargs="?", default=None, help="30s, 10m, 2h, 1d (default from config)")
@argument("reason", nargs="*")
async def mute(ctx: EventContext, args: Namespace) -> None:
    mod = _moderator(ctx)
    reason = _reason(args)
    seconds = mod.settings.default_mute_minutes * 60
    if args.duration is not None:
        if DURATION.match(args.duration.strip()):
            seconds = parse_duration(args.duration)
        else:  # no duration given: the word belongs to the reason
            reason = " ".join([args.duration, reason]).strip()
    await _run(ctx, "mute", target_of(ctx, args.user), reason, seconds=seconds)


@command("unmute", role=Role.engineer, places=ROOMS, summary="let a muted person post again")
@argument("user", help="@name:server")
async def unmute(ctx: EventContext, args: Namespace) -> None:
    await _run(ctx, "unmute", target_of(ctx, args.user), "")


@command("redact", role=Role.engineer, places=ROOMS, summary="remove someone's last N messages")
@argument("user", help="@name:server")
@argument("n", nargs="?", type=int, default=1)
async def redact(ctx: EventContext, args: Namespace) -> None:
    mod = _moderator(ctx)
    target = target_of(ctx, args.user)
    if not 1 <= args.n <= mod.settings.max_redact:
        raise UsageError(f"N must be between 1 and {mod.settings.max_redact}")
    ids = mod.recent.last(mod.support, target, args.n)
    if not ids:
        await ctx.reply(f"I have not seen messages from {code(target)} since I started.")
        return
    reason = f"{len(ids)} message(s) removed by a moderator"
    await _run(ctx, "redact", target, reason, event_id=ids[-1], event_ids=ids)


@command(
    "protections",
    role=Role.engineer,
    places=ROOMS,
    summary="list the protections, or switch one on, off or to shadow mode",
)
@argument("mode", nargs="?", choices=["list", "on", "off", "shadow"], default="list")
@argument("name", nargs="?", default=None, help="a protection name, or all")
async def protections(ctx: EventContext, args: Namespace) -> None:
    mod = _moderator(ctx)
    names = sorted(mod.protections)
    if args.mode == "list":
        rows = []
        for n in names:
            p = mod.protections[n]
            sw = mod.switch(n, p.settings)
            state = "off" if not sw.enabled else ("shadow" if sw.shadow else "on")
            rows.append(f"{code(n)}: <b>{state}</b>")
        master = "" if mod.settings.enabled else " (moderation is disabled in the config)"
        await ctx.reply("Protections" + master + ": " + ", ".join(rows))
        return
    if args.name is None:
        raise UsageError(f"which protection? one of {', '.join(names)}, or all")
    chosen = names if args.name == "all" else [args.name]
    unknown = [n for n in chosen if n not in mod.protections]
    if unknown:
        raise UsageError(f"no such protection; there are {', '.join(names)}")
    for n in chosen:
        await mod.set_switch(n, args.mode != "off", args.mode == "shadow", ctx.event.sender)
    what = ", ".join(code(n) for n in chosen)
    line = f"🛡️ {user_pill(ctx.event.sender)} switched {what} <b>{esc(args.mode)}</b>"
    await ctx.services.tell_staff(line)
    await ctx.reply(f"{what}: now <b>{esc(args.mode)}</b>.")


@reaction("moderation undo", keys=(UNDO_KEY,), role=Role.engineer, places=STAFF_ONLY)
async def undo(ctx: EventContext) -> None:
    ev: Event = ctx.event
    mod = ctx.services.moderation
    if not isinstance(mod, Moderator) or not ev.relates_to:
        return
    try:
        await mod.undo(ev.relates_to, ev.sender)
    except NotAnAction:
        return
    except Refused as exc:
        await ctx.services.tell_staff(f"↩️ cannot undo: {esc(str(exc))}")
