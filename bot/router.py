"""One path for every event: protections, then commands / passive handlers / reactions.

Protections run first so a message carrying a leaked credential is redacted
before anything else can answer, quote, or copy it into a ticket.
"""

from __future__ import annotations

import logging
import time

from rapidfuzz import process

from bot.context import EventContext, Services
from bot.events import Event, Kind
from bot.followed import followed_rooms
from bot.html import code, esc
from bot.registry import Command, Registry, UsageError, tokenize
from bot.roles import Place, Role

log = logging.getLogger(__name__)

_ROLE_NAMES = {Role.customer: "everyone", Role.engineer: "engineers", Role.admin: "admins"}
_PLACE_NAMES = {
    Place.support: "the support room",
    Place.staff: "the staff room",
    Place.dm: "a direct message with me",
    Place.other: "another room",
}


class Router:
    def __init__(self, services: Services, registry: Registry) -> None:
        self.services = services
        self.registry = registry

    def context(self, event: Event) -> EventContext:
        roles = self.services.roles
        return EventContext(
            event, roles.role_of(event.sender), roles.place_of(event.room_id), self.services
        )

    async def dispatch(self, event: Event) -> None:
        metrics = self.services.metrics
        metrics.events.labels(event.kind.value).inc()
        if event.sender == self.services.matrix.user_id:
            return
        if await followed_rooms(self.services).deliver(event):
            return  # a followed room (a policy list): its watcher alone reads it
        ctx = self.context(event)
        if ctx.place is Place.other:
            return
        started = time.perf_counter()
        try:
            await self._route(ctx)
        except Exception:
            metrics.errors.labels("handler").inc()
            raise  # the intake logs it and records the event as failed
        finally:
            metrics.handler_seconds.observe(time.perf_counter() - started)

    async def _route(self, ctx: EventContext) -> None:
        for protection in self.services.protections:
            if await protection.handle(ctx):
                return
        event = ctx.event
        prefix = self.services.config.bot.command_prefix
        if event.kind is Kind.message and not event.is_edit and event.body.startswith(prefix):
            await self.run_command(ctx, event.body[len(prefix) :])
            return
        if event.kind is Kind.reaction and event.key:
            await self._reaction(ctx, event.key)
        for handler in self.registry.passives:
            if event.kind in handler.kinds and ctx.place in handler.places:
                try:
                    await handler.handler(ctx)
                except Exception:
                    self.services.metrics.errors.labels(f"passive:{handler.name}").inc()
                    log.exception("passive handler %s failed on %s", handler.name, event.event_id)

    async def _reaction(self, ctx: EventContext, key: str) -> None:
        for handler in self.registry.reaction_handlers(key):
            if ctx.role >= handler.role and ctx.place in handler.places:
                await handler.handler(ctx)

    async def run_command(self, ctx: EventContext, text: str) -> None:
        metrics = self.services.metrics
        prefix = self.services.config.bot.command_prefix
        head = text.split(maxsplit=1)
        if not head or not head[0][:1].isalpha():
            return  # "!!!" or "! hello" is not a command
        try:
            tokens = tokenize(text)
        except UsageError as exc:
            cmd, _ = self.registry.find(text.split())
            usage = f"<br>Usage: {code(cmd.usage(prefix))}" if cmd else ""
            metrics.commands.labels(cmd.name if cmd else "?", "usage").inc()
            await ctx.reply(f"{esc(exc)}{usage}")
            return
        cmd, rest = self.registry.find(tokens)
        if cmd is None:
            metrics.commands.labels("unknown", "unknown").inc()
            await ctx.reply(self._unknown(tokens[0], ctx))
            return
        refusal = self._refusal(cmd, ctx)
        if refusal:
            metrics.commands.labels(cmd.name, "refused").inc()
            await ctx.refuse(refusal)
            return
        try:
            args = cmd.parse(rest)
        except UsageError as exc:
            metrics.commands.labels(cmd.name, "usage").inc()
            await ctx.reply(f"{esc(str(exc).strip())}<br>Usage: {code(cmd.usage(prefix))}")
            return
        try:
            await cmd.handler(ctx, args)
        except UsageError as exc:
            metrics.commands.labels(cmd.name, "usage").inc()
            await ctx.reply(f"{esc(exc)}<br>Usage: {code(cmd.usage(prefix))}")
        except Exception:
            metrics.commands.labels(cmd.name, "error").inc()
            log.exception("command %s failed", cmd.name)
            await ctx.reply(
                "Something went wrong while running that command; the team has been told."
            )
            raise
        else:
            metrics.commands.labels(cmd.name, "ok").inc()

    def _refusal(self, cmd: Command, ctx: EventContext) -> str | None:
        if ctx.role < cmd.role:
            if cmd.refusal:
                return cmd.refusal
            return f"{self.services.config.bot.command_prefix}{cmd.name} is only for {_ROLE_NAMES[cmd.role]}."
        if ctx.place not in cmd.places:
            where = " or ".join(_PLACE_NAMES[p] for p in sorted(cmd.places))
            return (
                f"{self.services.config.bot.command_prefix}{cmd.name} can only be used in {where}."
            )
        return None

    def _unknown(self, word: str, ctx: EventContext) -> str:
        prefix = self.services.config.bot.command_prefix
        names = {c.name.split()[0] for c in self.registry.visible(ctx.role)}
        match = process.extractOne(word.lower(), sorted(names), score_cutoff=60)
        hint = f" Did you mean {code(prefix + match[0])}?" if match else ""
        return f"I don't know the command {code(prefix + word)}.{hint} Try {code(prefix + 'help')}."
