"""DMs stay DMs, on a real Synapse: group invites are declined, a DM that grows is left."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable
from pathlib import Path

import nio

from bot.app import App
from bot.dms import LEAVE_LINE
from bot.events import Event
from harness.matrix_helpers import Person, World, running_bot
from harness.synapse_server import Account
from harness.world import make_person
from tests.access_helpers import access_config, ask, newcomer, open_dm

_n = itertools.count()


def _bot_membership(world: World, room: str, membership: str) -> Callable[[Event], bool]:
    return lambda e: (
        e.room_id == room
        and e.kind == "member"
        and e.state_key == world.bot.user_id
        and e.membership == membership
    )


def _bot_lines(person: Person, world: World, room: str) -> list[str]:
    return [e.body for e in person.messages_from(world.bot.user_id, room) if not e.is_edit]


def _count(app: App, name: str, labels: dict[str, str] | None = None) -> float:
    return app.metrics.registry.get_sample_value(name, labels or {}) or 0.0


def _bystander(world: World, stem: str) -> Account:
    """An account with no client running: an invite to it stays pending."""
    return world.server.register(f"{stem}{next(_n)}x{id(world) % 10000}")


def _create(world: World, creator: Person, invite: list[str], **extra: object) -> str:
    body = {"preset": "trusted_private_chat", "invite": invite, **extra}
    resp = world.server.api(
        "POST", "/_matrix/client/v3/createRoom", creator.account.access_token, body
    )
    assert "room_id" in resp, resp
    room_id: str = resp["room_id"]
    return room_id


async def _invite(person: Person, room: str, user_id: str) -> None:
    resp = await person.client.room_invite(room, user_id)
    assert isinstance(resp, nio.RoomInviteResponse), resp


async def _handled(app: App, event_id: str) -> bool:
    """Whether the bot's intake records ``event_id`` as handled (within about 20 s)."""
    for _ in range(200):
        if await app.intake.ledger.seen(event_id):
            return True
        await asyncio.sleep(0.1)
    return False


async def test_group_invites_are_declined_without_joining(world: World) -> None:
    engineer, bot = world.engineer, world.bot.user_id
    async with running_bot(world.config()) as app:
        # One createRoom naming the bot and someone else: a group chat, as clients make one.
        group = _create(world, engineer, [bot, _bystander(world, "grp").user_id])
        await engineer.wait_for(_bot_membership(world, group, "leave"), 20)
        # A room marked direct, but someone else joined before the bot was invited: the
        # room summary shows it although the stripped state does not.
        other = _bystander(world, "early")
        joined = _create(world, engineer, [other.user_id], is_direct=True)
        resp = world.server.api(
            "POST", f"/_matrix/client/v3/rooms/{joined}/join", other.access_token, {}
        )
        assert "room_id" in resp, resp
        resp = world.server.api(
            "PUT",
            f"/_matrix/client/v3/rooms/{joined}/state/m.room.member/{bot}",
            engineer.account.access_token,
            {"membership": "invite", "is_direct": True},
        )
        assert "event_id" in resp, resp
        await engineer.wait_for(_bot_membership(world, joined, "leave"), 20)
        for room in (group, joined):
            assert not [e for e in engineer.events if _bot_membership(world, room, "join")(e)]
            assert _bot_lines(engineer, world, room) == []
        declined = {"outcome": "declined_not_dm"}
        assert _count(app, "backchannel_invites_total", declined) == 2
        # A DM from the same engineer is still accepted and answered.
        dm = _create(world, engineer, [bot], is_direct=True)
        await engineer.wait_for(_bot_membership(world, dm, "join"), 20)
        assert (await ask(engineer, world, dm, "!ping")).body.startswith("Pong")
        assert _count(app, "backchannel_invites_total", {"outcome": "joined_dm"}) == 1


async def test_dm_invite_naming_a_second_person_is_left_silently(world: World) -> None:
    """is_direct with two invitees: no stripped state shows the second; the bot looks on joining."""
    engineer, bot = world.engineer, world.bot.user_id
    async with running_bot(world.config()) as app:
        room = _create(world, engineer, [bot, _bystander(world, "pair").user_id], is_direct=True)
        await engineer.wait_for(_bot_membership(world, room, "leave"), 20)
        # The room's own events (the bystander's invite among them) come after the leave.
        assert _bot_lines(engineer, world, room) == []
        assert _count(app, "backchannel_dms_left_total") == 0
        assert app.services.matrix.dm_partner(room) is None


async def test_customer_dm_that_grows_gets_one_line_and_is_left(world: World) -> None:
    customer = world.customer
    async with running_bot(world.config()) as app:
        dm = await open_dm(customer, world)
        assert (await ask(customer, world, dm, "!ping")).body.startswith("Pong")
        await _invite(customer, dm, _bystander(world, "friend").user_id)
        await customer.wait_for(_bot_membership(world, dm, "leave"), 20)
        lines = _bot_lines(customer, world, dm)
        assert len(lines) == 2 and lines[0].startswith("Pong") and lines[1] == LEAVE_LINE
        assert _count(app, "backchannel_dms_left_total") == 1
        # The DM is forgotten: the bot's next DM to the customer is a new room...
        fresh = await app.services.matrix.dm_room(customer.user_id)
        assert fresh != dm
        # ...and a DM the customer opens again is answered.
        again = await open_dm(customer, world)
        assert again != dm
        assert (await ask(customer, world, again, "!ping")).body.startswith("Pong")
        assert _bot_lines(customer, world, dm) == lines


async def test_dm_only_command_after_the_growth_gets_no_answer(world: World) -> None:
    """Growth and command in one sync batch (the bot was down): ordered by the timeline."""
    config = access_config(world)
    person = await newcomer(world, "grower")
    async with running_bot(config):
        dm = await open_dm(person, world)
        assert (await ask(person, world, dm, "!ping")).body.startswith("Pong")
    friend = await make_person(world.server, f"joiner{next(_n)}x{id(world) % 10000}")
    world.others[friend.user_id] = friend
    await _invite(person, dm, friend.user_id)
    await person.wait_for(
        lambda e: e.room_id == dm and e.state_key == friend.user_id and e.membership == "join",
        20,
    )
    command = await person.send(dm, "!join acme")
    async with running_bot(config) as app:
        await person.wait_for(_bot_membership(world, dm, "leave"), 20)
        assert await _handled(app, command)
        lines = _bot_lines(person, world, dm)
        assert len(lines) == 2 and lines[0].startswith("Pong") and lines[1] == LEAVE_LINE
        assert _count(app, "backchannel_dms_left_total") == 1
        ran = {"command": "join", "outcome": "ok"}
        assert _count(app, "backchannel_commands_total", ran) == 0
        # A fresh DM works: the same command is answered there.
        again = await open_dm(person, world)
        answer = await ask(person, world, again, "!join acme")
        assert answer.room_id == again
        assert _count(app, "backchannel_commands_total", ran) == 1
        assert _bot_lines(person, world, dm) == lines


async def test_the_bots_own_dm_that_grows_is_replaced(world: World, tmp_path: Path) -> None:
    e2e = tmp_path / "e2e-own-dm"
    e2e.mkdir()
    stranger = await make_person(world.server, f"owndm{next(_n)}x{id(world) % 10000}", e2e_dir=e2e)
    world.others["own-dm"] = stranger
    bot = world.bot.user_id
    async with running_bot(world.config()) as app:
        matrix = app.services.matrix
        await matrix.send_dm(stranger.user_id, "hello", "hello")
        first = await stranger.wait_for(lambda e: e.sender == bot and e.body == "hello", 20)
        await _invite(stranger, first.room_id, _bystander(world, "third").user_id)
        await stranger.wait_for(_bot_membership(world, first.room_id, "leave"), 20)
        assert _bot_lines(stranger, world, first.room_id) == ["hello", LEAVE_LINE]
        await matrix.send_dm(stranger.user_id, "again", "again")
        second = await stranger.wait_for(lambda e: e.sender == bot and e.body == "again", 20)
        assert second.room_id != first.room_id
        assert matrix.dm_partner(second.room_id) == stranger.user_id
        assert _bot_lines(stranger, world, second.room_id) == ["again"]


async def test_dm_only_command_right_after_an_invite_gets_no_answer(world: World) -> None:
    """Live: the invite and the command back to back, most often in one sync batch."""
    config = access_config(world)
    person = await newcomer(world, "rusher")
    async with running_bot(config) as app:
        dm = await open_dm(person, world)
        await _invite(person, dm, _bystander(world, "late").user_id)
        await person.send(dm, "!join acme")
        await person.wait_for(_bot_membership(world, dm, "leave"), 20)
        # A fresh DM is answered; once that is done, every earlier event was submitted,
        # and draining waits for all of them (the command included, if the bot got it).
        again = await open_dm(person, world)
        assert (await ask(person, world, again, "!join acme")).room_id == again
        await app.intake.scheduler.drain()
        assert _bot_lines(person, world, dm) == [LEAVE_LINE]
        ran = {"command": "join", "outcome": "ok"}
        assert _count(app, "backchannel_commands_total", ran) == 1
