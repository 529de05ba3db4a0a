"""!help, !ping, !version: what the bot can do for the asker, and whether it is alive."""

from __future__ import annotations

import time
from argparse import Namespace
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

from bot.context import EventContext
from bot.html import bullet_list, code, esc
from commands.registry import argument, command

if TYPE_CHECKING:
    from bot.app import App

ROLE_LABEL = {0: "everyone", 1: "engineers", 2: "admins"}


def bot_version() -> str:
    try:
        return version("backchannel")
    except PackageNotFoundError:
        return "0+unknown"


async def setup(app: App) -> None:
    """Nothing to build: these commands only need the core services."""


@command("help", summary="list the commands you may use, or show how to use one")
@argument("topic", nargs="*", help="a command name, e.g. ticket")
async def help_command(ctx: EventContext, args: Namespace) -> None:
    registry = ctx.services.extras["registry"]
    prefix = ctx.config.bot.command_prefix
    if args.topic:
        cmd, rest = registry.find([t.lstrip(prefix) for t in args.topic])
        if cmd is None or rest or cmd.role > ctx.role:
            await ctx.reply(
                f"No command {code(prefix + ' '.join(args.topic))} that you can use. "
                f"Try {code(prefix + 'help')}."
            )
            return
        where = ", ".join(sorted(p.value for p in cmd.places))
        await ctx.reply(
            f"{code(cmd.usage(prefix))}<br>{esc(cmd.summary)}<br>"
            f"<i>For {ROLE_LABEL[int(cmd.role)]}; in: {esc(where)}.</i>"
        )
        return
    items = [
        f"{code(prefix + c.name)}: {esc(c.summary)}" for c in registry.visible(ctx.role, ctx.place)
    ]
    await ctx.reply(
        f"Commands you can use here:{bullet_list(items)}"
        f"{code(prefix + 'help COMMAND')} shows how to use one."
    )


@command("ping", summary="check that the bot is alive, with timing")
async def ping(ctx: EventContext, args: Namespace) -> None:
    # Server timestamp to now: the homeserver's and the bot's share of the round trip.
    lag_ms = max(0.0, time.time() * 1000 - ctx.event.ts)
    await ctx.reply(f"Pong! Your message reached me {lag_ms:.0f} ms after the server stamped it.")


@command("version", summary="show the bot's version")
async def version_command(ctx: EventContext, args: Namespace) -> None:
    await ctx.reply(f"backchannel {esc(bot_version())}")
