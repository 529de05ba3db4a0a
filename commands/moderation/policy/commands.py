"""`!policy`: the policy lists followed, their rules, and the bans they hold; `!policy sync`."""

from __future__ import annotations

import sys
from argparse import Namespace
from collections import Counter
from typing import TYPE_CHECKING

from bot.context import EventContext
from bot.followed import followed_rooms
from bot.html import code, esc
from bot.registry import UsageError, argument, command
from bot.roles import ROOMS, Role
from commands.moderation.moderator import Moderator
from commands.moderation.policy.protection import PolicyLists
from commands.moderation.policy.store import PolicyStore

if TYPE_CHECKING:
    from bot.app import App
    from commands.moderation.settings import PolicyListSettings


async def setup_policy_lists(
    app: App, moderator: Moderator, settings: PolicyListSettings
) -> PolicyLists:
    """Build the protection, follow its rooms before the first sync, and start its job."""
    lists = PolicyLists(
        moderator, settings, PolicyStore(app.services.store), followed_rooms(app.services)
    )
    await lists.prepare()
    app.add_job("policy-lists", lists.run)
    app.registry.include(sys.modules[__name__])
    return lists


def _lists(ctx: EventContext) -> PolicyLists:
    mod = ctx.services.moderation
    found = mod.protections.get("policy_lists") if isinstance(mod, Moderator) else None
    if not isinstance(found, PolicyLists):
        raise UsageError("policy lists are not set up")
    return found


@command(
    "policy",
    role=Role.engineer,
    places=ROOMS,
    summary="the policy lists followed, their rule counts and bans; `sync` re-reads them now",
)
@argument("action", nargs="?", choices=["list", "sync"], default="list")
async def policy(ctx: EventContext, args: Namespace) -> None:
    lists = _lists(ctx)
    if args.action == "sync":
        await lists.resync()
    async with lists.lock:  # after any change in flight has been applied
        await ctx.reply(await status(lists))


async def status(lists: PolicyLists) -> str:
    sw = lists.moderator.switch(lists.name, lists.settings)
    state = "off" if not sw.enabled else ("shadow" if sw.shadow else "on")
    if not lists.room_ids:
        return f"Policy lists ({state}): none configured (<code>[moderation.policy_lists] rooms</code>)."
    lines = [f"Policy lists (<b>{state}</b>):"]
    for entry, rid in lists.room_ids.items():
        kinds = Counter(
            ("ban " if r.is_ban else "other ") + r.kind
            for r in lists.rules.values()
            if r.list_room == rid
        )
        counts = (
            f"{kinds['ban user']} user bans, {kinds['ban server']} server bans, "
            f"{sum(n for k, n in kinds.items() if k.startswith('other') or k == 'ban room')} "
            "other rules"
        )
        where = code(entry) + (f" ({code(rid)})" if rid and rid != entry else "")
        problem = lists.problems.get(entry)
        note = f" — <b>problem</b>: {esc(problem)}" if problem else ""
        if rid and rid not in lists.loaded and not problem:
            note = " — not read yet"
        lines.append(f"• {where}: {counts}{note}")
    bans = await lists.store.bans(lists.moderator.support)
    held = sum(1 for b in bans.values() if not b.shadow and b.lifted_by is None)
    lifted = sum(1 for b in bans.values() if b.lifted_by is not None)
    shadowed = sum(1 for b in bans.values() if b.shadow)
    tail = f"Bans held because of a rule: {held}; lifted by hand: {lifted}"
    if shadowed:
        tail += f"; shadow (would have banned): {shadowed}"
    refused = len({u for u, _ in lists.enforcer.refused})
    if refused:
        tail += f"; staff or the bot named by a rule, left alone: {refused}"
    lines.append(tail + ".")
    return "<br>".join(lines)
