"""Commands, passive handlers and reaction handlers, declared next to their code.

The permission table is the set of ``@command`` declarations: each names the
least role that may run it and the places it may be used. Arguments are
declared maubot-style with ``@argument`` (argparse underneath, shell-like
quoting via shlex), so a wrong call gets the usage line, never a traceback.

    @command("access grant", role=Role.admin, places=STAFF_ONLY, summary="grant room access")
    @argument("user")
    @argument("--until")
    async def grant(ctx: EventContext, args: Namespace) -> None: ...

Declaring registers nothing: each capability's ``setup(app)`` calls
``app.registry.include(module)`` when it is enabled, so a bot without RT has no ``!ticket``
(and ``!help`` does not list it). Every ``App`` has its own ``Registry``.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
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
    # Shown instead of "only for <role>" when the asker's role is too low (plain text).
    refusal: str | None = None

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

    def include(self, module: ModuleType, *, roles: Mapping[str, Role] | None = None) -> None:
        """Register everything ``module`` declares, in the order it declares it.

        ``roles`` sets a command's role from settings (``!ticket`` for customers when
        ``customers_may_escalate``), so the rule is still part of the declaration.
        """
        for func in list(vars(module).values()):
            if getattr(func, "__module__", None) == module.__name__:
                # (a handler imported from elsewhere is included by its own module)
                self.add(func, roles=roles)

    def add(self, func: Any, *, roles: Mapping[str, Role] | None = None) -> None:
        """Register what ``func``'s decorators declared (nothing if it has no declaration)."""
        for kind, decl in getattr(func, "_bc_declarations", ()):
            if kind == "command":
                self._add_command(func, decl, (roles or {}).get(decl["name"]))
            elif kind == "passive":
                self.passives.append(Passive(handler=func, **decl))
            else:
                self.reactions.append(ReactionHandler(handler=func, **decl))

    def _add_command(self, func: CommandHandler, decl: dict[str, Any], role: Role | None) -> None:
        name: str = decl["name"]
        parser = _Parser(prog=name, add_help=False, description=decl["summary"])
        for names, kwargs in _pending_args(func):
            parser.add_argument(*names, **kwargs)
        key = name.lower()
        if key in self.commands:
            raise ValueError(f"command {name!r} declared twice")
        self.commands[key] = Command(
            name=key,
            handler=func,
            role=decl["role"] if role is None else role,
            places=decl["places"],
            summary=decl["summary"],
            parser=parser,
            aliases=decl["aliases"],
            refusal=decl["refusal"],
        )


def _pending_args(func: Any) -> list[tuple[tuple[Any, ...], dict[str, Any]]]:
    return func.__dict__.setdefault("_bc_arguments", [])  # type: ignore[no-any-return]  # our own list


def _declarations(func: Any) -> list[tuple[str, dict[str, Any]]]:
    return func.__dict__.setdefault("_bc_declarations", [])  # type: ignore[no-any-return]  # our own list


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
    refusal: str | None = None,
) -> Callable[[CommandHandler], CommandHandler]:
    """Declare a command; it is registered only when its capability's setup() includes it."""

    def deco(func: CommandHandler) -> CommandHandler:
        decl = {
            "name": name,
            "summary": summary,
            "role": role,
            "places": frozenset(places),
            "aliases": tuple(aliases),
            "refusal": refusal,
        }
        _declarations(func).append(("command", decl))
        return func

    return deco


def passive(
    name: str,
    *,
    kinds: Iterable[Kind] = (Kind.message,),
    places: Iterable[Place] = ANYWHERE,
) -> Callable[[PassiveHandler], PassiveHandler]:
    """A handler for every event of ``kinds`` that is not a command (after protections)."""

    def deco(func: PassiveHandler) -> PassiveHandler:
        decl = {"name": name, "kinds": frozenset(kinds), "places": frozenset(places)}
        _declarations(func).append(("passive", decl))
        return func

    return deco


def reaction(
    name: str,
    *,
    keys: Iterable[str],
    role: Role = Role.customer,
    places: Iterable[Place] = ANYWHERE,
) -> Callable[[PassiveHandler], PassiveHandler]:
    """A handler for reactions with one of ``keys``; the role gate is the same as for commands."""

    def deco(func: PassiveHandler) -> PassiveHandler:
        keyset = frozenset({k for key in keys for k in (key, key.replace("\ufe0f", ""))})
        decl = {"name": name, "keys": keyset, "role": role, "places": frozenset(places)}
        _declarations(func).append(("reaction", decl))
        return func

    return deco


def tokenize(text: str) -> list[str]:
    """Shell-like split; raises UsageError on unbalanced quotes."""
    try:
        return shlex.split(text)
    except ValueError as exc:
        raise UsageError(f"could not read the arguments ({exc}); check your quotes") from exc
