"""Commands, passive handlers and reaction handlers, declared next to their code.

The permission table is the set of ``@command`` declarations: each names the
least role that may run it and the places it may be used. Arguments are
declared maubot-style with ``@argument`` (argparse underneath, shell-like
quoting via shlex), so a wrong call gets the usage line, never a traceback.

    @command("access grant", role=Role.admin, places=STAFF_ONLY, summary="grant room access")
    @argument("user")
    @argument("--until")
    async def grant(ctx: EventContext, args: Namespace) -> None: ...
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from bot.context import EventContext
from bot.events import Kind
from bot.roles import ANYWHERE, Place, Role

CommandHandler = Callable[[EventContext, argparse.Namespace], Awaitable[None]]
PassiveHandler = Callable[[EventContext], Awaitable[None]]


class UsageError(Exception):
    """Wrong arguments: the user sees the message and the usage line."""


_UNRECOGNIZED = re.compile(r"unrecognized arguments: (.*)", re.S)
_QUOTED_VALUE = re.compile(
    r"""(invalid [\w ]*?(?:value|choice)): (?:'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""", re.S
)
_AMBIGUOUS = re.compile(r"ambiguous option: \S+", re.S)


def without_values(message: str) -> str:
    """argparse's message with the user's words taken out (they may be a pasted secret)."""
    m = _UNRECOGNIZED.search(message)
    if m:
        n = len(m.group(1).split())
        message = message[: m.start()] + f"{n} unexpected argument{'s' * (n != 1)}"
    message = _QUOTED_VALUE.sub(r"\1", message)
    return _AMBIGUOUS.sub("ambiguous option", message)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        # Never echo arguments back: "unrecognized arguments: -----BEGIN OPENSSH PRIVATE KEY..."
        raise UsageError(without_values(message))

    def exit(self, status: int = 0, message: str | None = None) -> None:  # type: ignore[override]
        raise UsageError(message or "")


@dataclass
class Command:
    name: str
    handler: CommandHandler
    role: Role
    places: frozenset[Place]
    summary: str
    parser: argparse.ArgumentParser
    aliases: tuple[str, ...] = ()

    def usage(self, prefix: str) -> str:
        text = self.parser.format_usage().removeprefix("usage: ").strip()
        return prefix + " ".join(text.split())

    def parse(self, tokens: list[str]) -> argparse.Namespace:
        return self.parser.parse_args(tokens)


@dataclass
class Passive:
    name: str
    handler: PassiveHandler
    kinds: frozenset[Kind]
    places: frozenset[Place]


@dataclass
class ReactionHandler:
    name: str
    keys: frozenset[str]
    handler: PassiveHandler
    role: Role
    places: frozenset[Place]


@dataclass
class Registry:
    commands: dict[str, Command] = field(default_factory=dict)
    passives: list[Passive] = field(default_factory=list)
    reactions: list[ReactionHandler] = field(default_factory=list)

    def find(self, tokens: list[str]) -> tuple[Command | None, list[str]]:
        """Longest match first: ``access grant`` before ``access``."""
        for width in (2, 1):
            if len(tokens) >= width:
                name = " ".join(tokens[:width]).lower()
                cmd = self.commands.get(name) or self._by_alias(name)
                if cmd:
                    return cmd, tokens[width:]
        return None, tokens

    def _by_alias(self, name: str) -> Command | None:
        return next((c for c in self.commands.values() if name in c.aliases), None)

    def visible(self, role: Role, place: Place | None = None) -> list[Command]:
        return sorted(
            (
                c
                for c in self.commands.values()
                if c.role <= role and (place is None or place in c.places)
            ),
            key=lambda c: c.name,
        )

    def reaction_handlers(self, key: str) -> list[ReactionHandler]:
        return [r for r in self.reactions if key in r.keys]


registry = Registry()


def _pending_args(func: Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return func.__dict__.setdefault("_bc_arguments", [])


def argument(*names: str, **kwargs: Any) -> Callable[[Any], Any]:
    """Declare one argument (argparse ``add_argument`` semantics)."""

    def deco(func: Any) -> Any:
        _pending_args(func).insert(0, (names, kwargs))
        return func

    return deco


def command(
    name: str,
    *,
    summary: str,
    role: Role = Role.customer,
    places: Iterable[Place] = ANYWHERE,
    aliases: Iterable[str] = (),
    into: Registry | None = None,
) -> Callable[[CommandHandler], CommandHandler]:
    def deco(func: CommandHandler) -> CommandHandler:
        parser = _Parser(prog=name, add_help=False, description=summary)
        for names, kwargs in _pending_args(func):
            parser.add_argument(*names, **kwargs)
        target = into or registry
        key = name.lower()
        if key in target.commands:
            raise ValueError(f"command {name!r} declared twice")
        target.commands[key] = Command(
            name=key,
            handler=func,
            role=role,
            places=frozenset(places),
            summary=summary,
            parser=parser,
            aliases=tuple(aliases),
        )
        return func

    return deco


def passive(
    name: str,
    *,
    kinds: Iterable[Kind] = (Kind.message,),
    places: Iterable[Place] = ANYWHERE,
    into: Registry | None = None,
) -> Callable[[PassiveHandler], PassiveHandler]:
    """A handler for every event of ``kinds`` that is not a command (after protections)."""

    def deco(func: PassiveHandler) -> PassiveHandler:
        (into or registry).passives.append(Passive(name, func, frozenset(kinds), frozenset(places)))
        return func

    return deco


def reaction(
    name: str,
    *,
    keys: Iterable[str],
    role: Role = Role.customer,
    places: Iterable[Place] = ANYWHERE,
    into: Registry | None = None,
) -> Callable[[PassiveHandler], PassiveHandler]:
    """A handler for reactions with one of ``keys``; the role gate is the same as for commands."""

    def deco(func: PassiveHandler) -> PassiveHandler:
        keyset = frozenset({k for key in keys for k in (key, key.replace("\ufe0f", ""))})
        (into or registry).reactions.append(
            ReactionHandler(name, keyset, func, role, frozenset(places))
        )
        return func

    return deco


def tokenize(text: str) -> list[str]:
    """Shell-like split; raises UsageError on unbalanced quotes."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"could not read the arguments ({exc}); check your quotes") from exc
