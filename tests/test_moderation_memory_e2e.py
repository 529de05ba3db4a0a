"""Moderation on a real Synapse: pings by display name, and what survives a restart (strikes,
`!redact @user N`)."""

from __future__ import annotations

import itertools
from typing import Any

import nio

from harness.matrix_helpers import World, running_bot
from harness.synapse_server import Account
from tests.test_moderation_e2e import cfg, moderation_lines, ping, redaction_of, staff_line

NAMES = [
    "Astrid Lindqvist",
    "Björn",
    "Chen Wei",
    "Dagny Holm",
    "Esa Virtanen",
    "Fatima",
    "Gustav Ek",
    "Hanna",
    "Ingrid Berg",
    "Jonas",
    "Kalle Anka",
    "Leila Moradi",
]
_n = itertools.count()


def add_member(world: World, display_name: str) -> Account:
    """A member with a display name, joined over the client API (no sync loop needed)."""
    server = world.server
    acct = server.register(f"m{next(_n)}x{id(world) % 100000}")
    server.api(
        "PUT",
        f"/_matrix/client/v3/profile/{acct.user_id}/displayname",
        acct.access_token,
        {"displayname": display_name},
    )
    server.api(
        "POST",
        f"/_matrix/client/v3/rooms/{world.support}/invite",
        world.admin.account.access_token,
        {"user_id": acct.user_id},
    )
    joined = server.api("POST", f"/_matrix/client/v3/join/{world.support}", acct.access_token, {})
    assert joined.get("room_id") == world.support, joined
    return acct


def pinged(world: World, acct: Account) -> set[str]:
    """Event ids Synapse's push rules highlighted for ``acct``: what Element shows as a ping
    (every message notifies; a mention also highlights)."""
    resp = world.server.api(
        "GET", "/_matrix/client/v3/notifications?only=highlight", acct.access_token
    )
    return {n["event"]["event_id"] for n in resp.get("notifications", [])}


async def send_content(world: World, content: dict[str, Any]) -> str:
    resp = await world.customer.client.room_send(world.support, "m.room.message", content)
    assert isinstance(resp, nio.RoomSendResponse), resp
    return resp.event_id


async def test_mass_ping_by_display_names_is_acted_on(world: World) -> None:
    c, e = world.customer, world.engineer
    members = [add_member(world, name) for name in NAMES[:11]]
    # max 11: only all twelve names count, so the member who joins while the bot runs (the
    # index updated from the member event) must be counted too
    config = cfg(world, mentions={"max_mentions": 11}, flood={"enabled": False})
    async with running_bot(config):
        members.append(add_member(world, NAMES[11]))
        await ping(c, world)  # the join is handled before the ping
        two = await c.send(world.support, "thanks Astrid Lindqvist and björn, that fixed it")
        # a modern client's message: with m.mentions the legacy name rules notify nobody
        modern = await send_content(
            world,
            {"msgtype": "m.text", "body": ", ".join(NAMES) + ": hi all", "m.mentions": {}},
        )
        mass = await c.send(world.support, ", ".join(NAMES) + ": is the S3 endpoint down?")
        await e.wait_for(redaction_of(mass), 15)
        line = await e.wait_for(staff_line(world, "mentions", "12 people mentioned", c.user_id))
        assert "strike 1" in line.body
        await ping(c, world)
        redacted = {ev.relates_to for ev in e.events if ev.kind == "redaction"}
        assert redacted == {mass}
        assert len(moderation_lines(e, world)) == 2  # the redaction and the warning
    # What the protection assumed is what Synapse did: names without m.mentions pinged people,
    # the same names with m.mentions pinged nobody.
    assert two in pinged(world, members[0]) and two in pinged(world, members[1])
    assert two not in pinged(world, members[2])
    assert not any(modern in pinged(world, m) for m in members)


async def test_a_flood_strike_survives_a_restart(world: World) -> None:
    c, e = world.customer, world.engineer
    flood = {"max_messages": 3, "window_seconds": 60, "ladder": ["warn", "mute"]}
    config = cfg(world, flood=flood)
    async with running_bot(config):
        for i in range(4):
            await c.send(world.support, f"is it down? {i}")
        await e.wait_for(staff_line(world, "flood", "warned", "strike 1", c.user_id), 15)
        await ping(e, world)
    async with running_bot(config) as app:
        await ping(e, world)
        for i in range(4):
            await c.send(world.support, f"hello?? {i}")
        await e.wait_for(staff_line(world, "flood", "muted", "strike 2", c.user_id), 15)
        rows = await app.services.store.fetchall(
            "SELECT action FROM moderation_audit WHERE target=? ORDER BY id", (c.user_id,)
        )
        assert [r["action"] for r in rows] == ["warn", "mute"]


async def test_redact_n_after_a_restart(world: World) -> None:
    c, e = world.customer, world.engineer
    config = cfg(world, flood={"enabled": False})
    async with running_bot(config):
        sent = [await c.send(world.support, f"message {i}") for i in range(6)]
        await ping(e, world)  # (a customer's !ping would be their last message)
    async with running_bot(config):
        await ping(e, world)
        ask = await e.send(world.support, f"!redact {c.user_id} 5")
        answer = await e.wait_reply(ask, world.bot.user_id)
        assert "have not seen" not in answer.body
        for event_id in sent[1:]:
            await e.wait_for(redaction_of(event_id), 15)
        await e.wait_for(staff_line(world, "redacted", c.user_id, "5 message(s)"))
        await ping(c, world)
    redactions = [ev.relates_to for ev in e.events if ev.kind == "redaction"]
    assert sorted(redactions) == sorted(sent[1:])  # each once, and never the first
