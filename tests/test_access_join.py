"""Getting in, on a real Synapse: auto-admit, request cards, approve/deny, refusals, knocks."""

from __future__ import annotations

from harness.matrix_helpers import World, running_bot
from tests.access_helpers import (
    access_config,
    add_org,
    ask,
    dm_from_bot,
    membership,
    newcomer,
    open_dm,
    staff_line,
)


async def test_auto_admit_by_homeserver(world: World) -> None:
    async with running_bot(access_config(world)) as app:
        await add_org(app, "ACME", products="SUPPORT-standard", homeservers="localhost")
        person = await newcomer(world, "alice")
        dm = await open_dm(person, world)
        answer = await ask(person, world, dm, "!join acme")
        assert "Welcome" in answer.body
        for rule in (
            "No secrets",
            "English",
            "08:00–17:00",
            "+47 23 65 32 23",
            "+46 8 551 073 74",
            "!ticket",
        ):
            assert rule in answer.body, rule
        # Invited; the test client accepts, and the bot lets a granted person stay.
        await world.engineer.wait_for(membership(world, person.user_id, "join"), 20)
        await world.admin.wait_for(staff_line(world, "granted", person.user_id, "ACME"))
        ping = await person.send(world.support, "!ping")
        assert (await person.wait_reply(ping, world.bot.user_id)).body.startswith("Pong")
        member = await app.services.access.member(person.user_id)
        assert member and member.state == "granted" and member.expires_at is not None
        # Asking again changes nothing.
        again = await ask(person, world, dm, "!join ACME")
        assert "already have access" in again.body


async def test_request_approved_by_reaction_then_invited(world: World) -> None:
    async with running_bot(access_config(world)) as app:
        await add_org(
            app,
            "BETA",
            products="SUPPORT-premium",
            email_domains="beta.example",
            homeservers="matrix.beta.example",
        )
        person = await newcomer(world, "bob")
        dm = await open_dm(person, world)
        answer = await ask(person, world, dm, "!join Bob@Beta.example")
        assert "request #" in answer.body
        card = await world.admin.wait_for(staff_line(world, "Access request #", person.user_id))
        assert "bob@beta.example" in card.body and "localhost is not a homeserver" in card.body
        # An engineer's ✅ is not an admin decision: nothing happens.
        await world.engineer.react(world.staff, card.event_id, "✅")
        await world.admin.react(world.staff, card.event_id, "✅")
        await person.wait_for(dm_from_bot(world, "Welcome"), 20)
        await world.engineer.wait_for(membership(world, person.user_id, "join"), 20)
        await world.admin.wait_for(
            lambda e: e.is_edit and e.relates_to == card.event_id and "approved" in e.body
        )
        member = await app.services.access.member(person.user_id)
        assert member and member.state == "granted" and member.granted_by == world.admin.user_id
        # A second decision on the same card is refused and changes nothing.
        await world.admin.react(world.staff, card.event_id, "❌")
        await world.admin.wait_for(staff_line(world, "Nothing changed", "already approved"))
        member = await app.services.access.member(person.user_id)
        assert member and member.state == "granted"


async def test_deny_bad_input_and_customer_refused(world: World) -> None:
    config = access_config(world, join_rate_limit=4)
    async with running_bot(config) as app:
        await add_org(app, "BETA", products="SUPPORT-standard", email_domains="beta.example")
        await add_org(app, "GAMMA", products="SUPPORT-iaas.base", email_domains="gamma.example")
        person = await newcomer(world, "carol")
        dm = await open_dm(person, world)

        no_tier = await ask(person, world, dm, "!join GAMMA")
        assert "SUPPORT-standard" in no_tier.body and "support@safespring.com" in no_tier.body
        unknown = await ask(person, world, dm, "!join NOSUCH")
        assert "don't know the organisation" in unknown.body
        bad = await ask(person, world, dm, "!join carol@")
        assert "not an e-mail address" in bad.body
        assert await app.services.access.member(person.user_id) is None

        asked = await ask(person, world, dm, "!join BETA")
        assert "request #" in asked.body
        req = await app.services.access.pending_request(person.user_id)
        assert req is not None
        # A customer trying an admin command is refused, and nothing changes.
        refusal = await ask(person, world, dm, f"!access approve {req.id}")
        assert "only for admins" in refusal.body
        assert (await app.services.access.request(req.id)).state == "pending"  # type: ignore[union-attr]
        deny = await world.admin.send(world.staff, f"!access deny {req.id} not a Beta employee")
        assert "denied" in (await world.admin.wait_reply(deny, world.bot.user_id)).body
        told = await person.wait_for(dm_from_bot(world, "did not approve", "not a Beta employee"))
        assert told.room_id == dm
        again = await world.admin.send(world.staff, f"!access approve {req.id}")
        reply = await world.admin.wait_reply(again, world.bot.user_id)
        assert "already denied" in reply.body and "Nothing was changed" in reply.body
        member = await app.services.access.member(person.user_id)
        assert member and member.state == "denied"
        await world.admin.wait_for(staff_line(world, "denied", person.user_id))

        # Flood: the limit (4) is spent; the next !join gets one "wait" answer, then silence.
        flood = await ask(person, world, dm, "!join BETA")
        assert "please wait" in flood.body
        assert await app.services.access.pending_request(person.user_id) is None


async def test_knock_flow_and_join_rule_kept(world: World) -> None:
    async with running_bot(access_config(world)) as app:
        await add_org(app, "ACME", products="SUPPORT-standard", homeservers="localhost")
        await add_org(app, "BETA", products="SUPPORT-standard", email_domains="beta.example")
        token = world.admin.account.access_token
        state = f"/_matrix/client/v3/rooms/{world.support}/state/m.room.join_rules/"
        world.server.api("PUT", state, token, {"join_rule": "knock"})

        # Someone opens the room: the bot puts the last good rule (knock) back and says so.
        world.server.api("PUT", state, token, {"join_rule": "public"})
        await world.admin.wait_for(staff_line(world, "join rule", "public", "restored it to knock"))
        assert world.server.api("GET", state, token)["join_rule"] == "knock"

        # A knock from a homeserver ACME owns: admitted at once.
        knocker = await newcomer(world, "kim")
        resp = world.server.api(
            "POST",
            f"/_matrix/client/v3/knock/{world.support}",
            knocker.account.access_token,
            {"reason": "hello"},
        )
        assert "room_id" in resp, resp
        await world.engineer.wait_for(membership(world, knocker.user_id, "join"), 20)
        await knocker.wait_for(dm_from_bot(world, "Welcome"), 20)

        # A knock naming BETA (not its homeserver): a card; ❌ rejects the knock and tells them.
        other = await newcomer(world, "kai")
        world.server.api(
            "POST",
            f"/_matrix/client/v3/knock/{world.support}",
            other.account.access_token,
            {"reason": "I work at BETA"},
        )
        card = await world.admin.wait_for(
            staff_line(world, "Access request #", other.user_id, "(knock)")
        )
        await world.admin.react(world.staff, card.event_id, "❌")
        await other.wait_for(dm_from_bot(world, "did not approve"), 20)
        await world.engineer.wait_for(
            membership(world, other.user_id, "leave", by=world.bot.user_id)
        )
        member = await app.services.access.member(other.user_id)
        assert member and member.state == "denied"
