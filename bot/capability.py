"""How a capability plugs into the core: found through entry points, never imported by name.

A capability package (``commands/<name>/__init__.py``) exposes ``capability = Capability(...)``
and lists it under ``[project.entry-points."backchannel.capabilities"]`` in pyproject.toml.
The core reads its settings model (mounted at ``[<settings_key>]`` in the TOML config), calls
``setup(app)`` at start, and asks it for ``check-config --online`` problems. CLI subcommands
come the same way from the ``backchannel.cli`` group (``add_parsers(subparsers)``).
"""

from __future__ import annotations

import argparse
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import cache
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

if TYPE_CHECKING:
    from bot.app import App

CAPABILITIES_GROUP = "backchannel.capabilities"
CLI_GROUP = "backchannel.cli"
SECRETS_GROUP = "backchannel.secrets"


@dataclass(frozen=True)
class Capability:
    name: str
    setup: Callable[[App], Awaitable[None]]
    # Lower runs first: it decides the order of passive handlers and of settings tables.
    order: int = 100
    settings_key: str | None = None
    settings_model: type[BaseModel] | None = None
    # False: the table is optional and absent means None (e.g. [rt]); True: defaults apply.
    settings_default: bool = True
    # ``check-config --online``: problems with what this capability's settings name.
    online_check: Callable[[Any], Awaitable[list[str]]] | None = None


@cache
def capabilities() -> tuple[Capability, ...]:
    """Every installed capability, in ``order``; a broken entry point is an error, not a skip."""
    found: list[Capability] = []
    for ep in entry_points(group=CAPABILITIES_GROUP):
        cap = ep.load()
        if not isinstance(cap, Capability):
            raise TypeError(f"entry point {ep.name} = {ep.value} is not a Capability")
        found.append(cap)
    return tuple(sorted(found, key=lambda c: (c.order, c.name)))


def add_cli_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Let every installed capability add its subcommands (``backchannel access ...``)."""
    for ep in sorted(entry_points(group=CLI_GROUP), key=lambda e: e.name):
        ep.load()(sub)


@cache
def secret_detector() -> Any | None:
    """The credential detector module a capability provides (``backchannel.secrets`` entry
    point: ``text_kinds``, ``file_kinds``, ``redact_text``), or None when none is installed."""
    for ep in entry_points(group=SECRETS_GROUP):
        return ep.load()
    return None
