"""Helpers for the access tests: injectable clock, DMs with the bot, people, organisations."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from typing import Any

from bot.app import App
from bot.events import Event
from commands.access.models import Org
from harness.matrix_helpers import Person, World
from harness.world import make_person

_names = itertools.count()


class Clock:
    """Real time plus an offset the test moves: expiry without sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def jump_to(self, moment: datetime) -> None:
        self.offset = moment - datetime.now(UTC)


def access_config(world: World, **access: Any) -> Any:
    return world.config(access={"check_poll_seconds": 0.2, **access})


async def newcomer(world: World, stem: str) -> Person:
    """A new account with e2e keys: DMs the bot opens are encrypted."""
    name = f"{stem}{next(_names)}x{id(world) % 10000}"
    e2e = world.data_dir.parent / f"e2e-{name}"
    e2e.mkdir(parents=True)
    person = await make_person(world.server, name, e2e_dir=e2e)
    world.others[person.user_id] = person
    return person


async def open_dm(person: Person, world: World) -> str:
    """The person opens a DM with the bot (as a Matrix client does) and waits for it to join."""
    resp = await person.client.room_create(is_direct=True, invite=[world.bot.user_id])
    room_id = resp.room_id  # type: ignore[union-attr]
    await person.wait_for(
        lambda e: (
            e.room_id == room_id
            and e.kind == "member"
            and e.state_key == world.bot.user_id
            and e.membership == "join"
        ),
        20,
    )
    return room_id


async def ask(person: Person, world: World, room: str, text: str) -> Event:
    sent = await person.send(room, text)
    return await person.wait_reply(sent, world.bot.user_id)


async def add_org(app: App, org_id: str, **fields: Any) -> Org:
    org = Org.model_validate({"id": org_id, "name": f"{org_id} AB", **fields})
    await app.services.access.upsert_org(org, "test")
    return org


def membership(world: World, user_id: str, state: str, *, by: str | None = None):  # type: ignore[no-untyped-def]
    """Predicate: a member event in the support room for ``user_id``."""

    def pred(e: Event) -> bool:
        return (
            e.room_id == world.support
            and e.kind == "member"
            and e.state_key == user_id
            and e.membership == state
            and (by is None or e.sender == by)
        )

    return pred


def staff_line(world: World, *needles: str):  # type: ignore[no-untyped-def]
    def pred(e: Event) -> bool:
        return (
            e.room_id == world.staff
            and e.sender == world.bot.user_id
            and e.kind == "message"
            and all(n in e.body for n in needles)
        )

    return pred


def dm_from_bot(world: World, *needles: str):  # type: ignore[no-untyped-def]
    def pred(e: Event) -> bool:
        return (
            e.room_id not in (world.support, world.staff)
            and e.sender == world.bot.user_id
            and e.kind == "message"
            and all(n in e.body for n in needles)
        )

    return pred
