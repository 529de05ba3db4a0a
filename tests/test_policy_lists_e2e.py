"""Policy lists on a real Synapse: rules of a list room become support-room bans and follow it.

An engineer keeps a list room (MSC2313 `m.policy.rule.*` state events); the bot follows it
from the config. Users are all on one test server ("localhost"), so the server rule's case
also shows that staff and the bot are never banned.
"""

from __future__ import annotations

import asyncio
from typing import Any
from urllib.parse import quote

from bot.events import Event
from harness.matrix_helpers import Person, World, running_bot
from harness.world import create_room
from tests.test_moderation_e2e import newcomer, staff_line

REASON = "spam on several servers (list entry 17)"


def cfg(world: World, lists: list[str], **policy: Any) -> Any:
    return world.config(
        matrix={"encryption": False},
        moderation={"policy_lists": {"rooms": lists, **policy}},
    )


def make_list(world: World, *, invite_bot: bool = True) -> str:
    """A private list room of the engineer's (named, so nobody takes it for a DM)."""
    invite = [world.bot.user_id] if invite_bot else []
    return create_room(world.server, world.engineer.account.access_token, "Ban list", invite, {})


def set_rule(world: World, room: str, etype: str, key: str, content: dict[str, Any]) -> str:
    path = f"/_matrix/client/v3/rooms/{quote(room)}/state/{etype}/{quote(key, safe='')}"
    resp = world.server.api("PUT", path, world.engineer.account.access_token, content)
    assert "event_id" in resp, resp
    return str(resp["event_id"])


def ban_user(world: World, room: str, user: str, reason: str = REASON) -> None:
    set_rule(
        world,
        room,
        "m.policy.rule.user",
        f"rule:{user}",
        {"entity": user, "recommendation": "m.ban", "reason": reason},
    )


def membership(world: World, user: str, what: str, by: str | None = None):  # type: ignore[no-untyped-def]
    def pred(e: Event) -> bool:
        return (
            e.room_id == world.support
            and e.kind == "member"
            and e.state_key == user
            and e.membership == what
            and (by is None or e.sender == by)
        )

    return pred


def unbanned(world: World, user: str):  # type: ignore[no-untyped-def]
    def pred(e: Event) -> bool:
        return membership(world, user, "leave", world.bot.user_id)(e) and (
            e.prev_membership == "ban"
        )

    return pred


def invite(world: World, user: str) -> None:
    world.server.api(
        "POST",
        f"/_matrix/client/v3/rooms/{quote(world.support)}/invite",
        world.engineer.account.access_token,
        {"user_id": user},
    )


async def policy_status(world: World, expect: str | None = None) -> str:
    """`!policy`; with ``expect``, asked again (a few times) until the answer shows it: a rule
    event in the list room and the command in the staff room are two rooms, handled side by
    side, so the answer may come before the rule is applied."""
    for _ in range(5 if expect else 1):
        ask = await world.engineer.send(world.staff, "!policy")
        body = (await world.engineer.wait_reply(ask, world.bot.user_id, timeout=30)).body
        if expect is None or expect in body:
            break
        await asyncio.sleep(1)
    return body


def events(person: Person, pred: Any) -> list[Event]:
    return [e for e in person.events if pred(e)]


async def test_rules_ban_with_reason_follow_changes_and_spare_hand_bans(world: World) -> None:
    e, c = world.engineer, world.customer
    room = make_list(world)
    ban_user(world, room, c.user_id)
    set_rule(
        world, room, "m.policy.rule.room", "rule:r", {"entity": "#x:y", "recommendation": "m.ban"}
    )
    late = await newcomer(world, "lateuser")
    manual = await newcomer(world, "handbanned")
    async with running_bot(cfg(world, [room])) as app:
        # on start: the listed customer is banned, with the rule's reason
        ban = await e.wait_for(membership(world, c.user_id, "ban", world.bot.user_id), 30)
        assert ban.content.get("reason") == REASON
        await e.wait_for(staff_line(world, "policy_lists", "banned", c.user_id, REASON))
        assert not events(e, membership(world, late.user_id, "ban"))

        # a rule added later (a glob, in Mjolnir's legacy type) bans at once
        set_rule(
            world,
            room,
            "org.matrix.mjolnir.rule.user",
            "rule:late",
            {"entity": "@lateuser*:localhost", "recommendation": "org.matrix.mjolnir.ban"},
        )
        late_ban = await e.wait_for(membership(world, late.user_id, "ban", world.bot.user_id), 20)
        assert late_ban.content.get("reason") == "listed on a policy list"  # the rule has none

        # a ban by hand, then a rule for the same person, then the rule removed
        resp = world.server.api(
            "POST",
            f"/_matrix/client/v3/rooms/{quote(world.support)}/ban",
            e.account.access_token,
            {"user_id": manual.user_id, "reason": "by hand"},
        )
        assert resp == {}, resp
        ban_user(world, room, manual.user_id)
        status = await policy_status(world, "3 user bans")
        assert "3 user bans, 0 server bans, 1 other rules" in status, status
        assert "Bans held because of a rule: 2" in status, status
        set_rule(world, room, "m.policy.rule.user", f"rule:{manual.user_id}", {})

        # removing a rule unbans the people it banned, and only them
        set_rule(world, room, "org.matrix.mjolnir.rule.user", "rule:late", {})
        await e.wait_for(unbanned(world, late.user_id), 20)
        await e.wait_for(staff_line(world, "policy_lists", "unbanned", late.user_id))
        status = await policy_status(world)
        assert "1 user bans" in status and "Bans held because of a rule: 1" in status, status
        assert not events(e, membership(world, manual.user_id, "leave"))
        assert not events(e, unbanned(world, c.user_id))
        rows = await app.services.store.fetchall(
            "SELECT action, target FROM moderation_audit WHERE protection='policy_lists' ORDER BY id"
        )
        assert [(r["action"], r["target"]) for r in rows] == [
            ("ban", c.user_id),
            ("ban", late.user_id),
            ("unban", late.user_id),
        ]

        # the one unbanned can come back; someone let back in by a moderator stays in
        invite(world, late.user_id)
        assert (await late.client.join(world.support)).room_id == world.support  # type: ignore[union-attr]
        ask = await e.send(world.staff, f"!unban {c.user_id}")
        await e.wait_reply(ask, world.bot.user_id)
        await e.wait_for(membership(world, c.user_id, "leave"), 20)
        invite(world, c.user_id)
        await e.wait_for(membership(world, c.user_id, "invite"), 20)
        status = await policy_status(world)
        assert "lifted by hand: 1" in status, status
        assert len(events(e, membership(world, c.user_id, "ban"))) == 1
        assert len(events(e, membership(world, late.user_id, "ban"))) == 1


async def test_server_rule_spares_staff_and_a_list_joined_on_invite(world: World) -> None:
    e, c = world.engineer, world.customer
    room = make_list(world, invite_bot=False)  # private, and the bot is not invited yet
    rule_event = set_rule(
        world,
        room,
        "m.policy.rule.server",
        "rule:local",
        {"entity": "LOCAL?OST", "recommendation": "m.ban", "reason": "whole server"},
    )
    async with running_bot(cfg(world, [room])) as app:
        status = await policy_status(world)
        assert "problem" in status and "cannot join" in status, status
        world.server.api(
            "POST",
            f"/_matrix/client/v3/rooms/{quote(room)}/invite",
            e.account.access_token,
            {"user_id": world.bot.user_id},
        )
        ban = await e.wait_for(membership(world, c.user_id, "ban", world.bot.user_id), 30)
        assert ban.content.get("reason") == "whole server"
        status = await policy_status(world)
        assert "0 user bans, 1 server bans" in status, status
        # engineer, admin and the bot are on that server too: named, never banned
        assert "staff or the bot named by a rule, left alone: 3" in status, status
        assert not events(e, membership(world, e.user_id, "ban"))
        assert not events(e, membership(world, world.admin.user_id, "ban"))
        assert app.services.matrix.knows_room(room)
        # nothing else runs in a list room: a command there gets no answer
        await e.send(room, "!ping")
        await policy_status(world)
        said = [x for x in e.events if x.room_id == room and x.sender == world.bot.user_id]
        assert [x.kind for x in said] == ["member"]  # its join, and not a word
        # a redacted rule event is a removed rule (the redaction strips its entity)
        world.server.api(
            "PUT",
            f"/_matrix/client/v3/rooms/{quote(room)}/redact/{quote(rule_event)}/txn1",
            e.account.access_token,
            {"reason": "entered by mistake"},
        )
        await e.wait_for(unbanned(world, c.user_id), 20)
        status = await policy_status(world)
        assert "0 user bans, 0 server bans, 0 other rules" in status, status


async def test_shadow_mode_bans_nobody_says_so_once_then_switched_on_bans(world: World) -> None:
    e, c = world.engineer, world.customer
    room = make_list(world)
    ban_user(world, room, c.user_id)
    async with running_bot(cfg(world, [room], shadow=True)):
        await e.wait_for(staff_line(world, "would have banned", c.user_id, REASON), 30)
        other = await newcomer(world, "shadowed")
        ban_user(world, room, other.user_id)
        await e.wait_for(staff_line(world, "would have banned", other.user_id), 20)
        ask = await e.send(world.staff, "!policy sync")
        status = (await e.wait_reply(ask, world.bot.user_id, timeout=30)).body
        assert "shadow (would have banned): 2" in status, status
        ask = await e.send(world.staff, "!protections")
        listing = (await e.wait_reply(ask, world.bot.user_id)).body
        assert "policy_lists: shadow" in listing, listing
        await policy_status(world)
        assert not events(e, membership(world, c.user_id, "ban"))
        assert not events(e, membership(world, other.user_id, "ban"))
        assert len(events(e, staff_line(world, "would have banned", c.user_id))) == 1
        # switched on at runtime: the bans it only reported so far are made
        ask = await e.send(world.staff, "!protections on policy_lists")
        await e.wait_reply(ask, world.bot.user_id)
        for user in (c.user_id, other.user_id):
            await e.wait_for(membership(world, user, "ban", world.bot.user_id), 20)
        status = await policy_status(world)
        assert "Bans held because of a rule: 2" in status and "shadow" not in status, status


async def test_a_change_made_while_the_bot_was_down_is_applied_at_start(world: World) -> None:
    e, c = world.engineer, world.customer
    room = make_list(world)
    ban_user(world, room, c.user_id)
    config = cfg(world, [room])
    async with running_bot(config):
        await e.wait_for(membership(world, c.user_id, "ban", world.bot.user_id), 30)
        await policy_status(world)
    # while it is down: the customer's rule goes, a new one names someone who joins meanwhile
    set_rule(world, room, "m.policy.rule.user", f"rule:{c.user_id}", {})
    down = await newcomer(world, "whiledown")
    ban_user(world, room, down.user_id, "joined while the bot was down")
    async with running_bot(config):
        await e.wait_for(unbanned(world, c.user_id), 30)
        ban = await e.wait_for(membership(world, down.user_id, "ban", world.bot.user_id), 30)
        assert ban.content.get("reason") == "joined while the bot was down"
        status = await policy_status(world)
        assert "1 user bans" in status and "Bans held because of a rule: 1" in status, status
        # a rule changed away from a ban lifts its bans too
        set_rule(
            world,
            room,
            "m.policy.rule.user",
            f"rule:{down.user_id}",
            {"entity": down.user_id, "recommendation": "org.example.watch", "reason": "watch"},
        )
        await e.wait_for(unbanned(world, down.user_id), 20)
        status = await policy_status(world)
        assert "0 user bans, 0 server bans, 1 other rules" in status, status
    assert len(events(e, unbanned(world, c.user_id))) == 1


async def test_an_over_broad_rule_bans_nobody_and_staff_hear_once(world: World) -> None:
    """`*:localhost` names every customer at once: above max_new_bans nobody is banned."""
    e, c = world.engineer, world.customer
    room = make_list(world)
    async with running_bot(cfg(world, [room], max_new_bans=1)):
        await newcomer(world, "broad")
        await policy_status(world)
        set_rule(
            world,
            room,
            "m.policy.rule.user",
            "rule:everyone",
            {"entity": "*:localhost", "recommendation": "m.ban", "reason": "oops"},
        )
        await e.wait_for(staff_line(world, "would ban 2 members at once", "nobody"), 30)
        await policy_status(world)
        await e.send(world.staff, "!policy sync")
        await policy_status(world)
        assert not events(e, membership(world, c.user_id, "ban"))
        assert len(events(e, staff_line(world, "would ban 2 members at once"))) == 1
        # a narrower rule instead: within the limit, applied
        set_rule(world, room, "m.policy.rule.user", "rule:everyone", {})
        ban_user(world, room, c.user_id)
        await e.wait_for(membership(world, c.user_id, "ban", world.bot.user_id), 30)
