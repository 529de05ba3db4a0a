"""Triage board, claims and satisfaction: a real Synapse, a real RT 5 for owner and survey."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.events import Event
from commands.escalation.rt.rest2 import RTClient
from commands.escalation.settings import RTSettings
from harness.matrix_helpers import World, running_bot
from harness.rt_server import RTInstance
from harness.world import make_person
from tests.access_helpers import Clock
from tests.test_support_e2e import at, pong, support_config
from tests.test_ticket_e2e import agent, rt_section, wait_rt_reply


@pytest.fixture
async def rtc(rt: RTInstance) -> AsyncIterator[RTClient]:
    async with RTClient(RTSettings.model_validate(rt_section(rt))) as c:
        yield c


def card_says(world: World, needle: str, *, edit_of: str | None = None) -> Any:
    def match(e: Event) -> bool:
        return (
            e.sender == world.bot.user_id
            and e.room_id == world.staff
            and needle in e.body
            and (edit_of is None or (e.is_edit and e.relates_to == edit_of))
        )

    return match


async def test_board_cards_claims_and_no_card_for_quick_answers(world: World) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 17, 10))
    async with running_bot(support_config(world), clock=clock) as app:
        svc = app.services.extras["support"]
        c, e = world.customer, world.engineer
        quick = await c.send(world.support, "Quick one: where is the API endpoint list?")
        await e.send(world.support, "docs.safespring.com/openstack", thread_root=quick)
        slow = await c.send(world.support, "Volume attach hangs on instance web01")
        await pong(world, e, world.support)
        clock.jump_to(at(2026, 6, 17, 10, 2))
        card = await e.wait_for(card_says(world, "Volume attach hangs"), 10)
        assert "waiting since" in card.body and "open the thread" in card.body
        await e.react(world.staff, card.event_id, "👀")
        await e.wait_for(card_says(world, "claimed by", edit_of=card.event_id), 10)
        ask = await e.send(world.support, "!unclaim", thread_root=slow)
        assert "Given back" in (await e.wait_reply(ask, world.bot.user_id)).body
        ask = await e.send(world.support, "!claim", thread_root=slow)
        assert "Claimed" in (await e.wait_reply(ask, world.bot.user_id)).body
        await e.send(world.support, "Looking at web01 now", thread_root=slow)
        await e.wait_for(card_says(world, "answered by", edit_of=card.event_id), 10)
        await svc.tick()
        await pong(world, e, world.staff)
        cards = [
            x
            for x in e.messages_from(world.bot.user_id, world.staff)
            if "waiting since" in x.body and not x.is_edit
        ]
        assert len(cards) == 1  # the quick thread never got one
        # a customer cannot claim
        ask = await c.send(world.support, "!claim", thread_root=slow)
        assert "only for engineers" in (await c.wait_reply(ask, world.bot.user_id)).body


async def test_claim_sets_rt_owner_correspondence_stops_sla_resolve_asks_once(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 17, 10))
    c, e = world.customer, world.engineer
    colleague = await make_person(world.server, f"colleague{id(world) % 10000}")
    outsider = await make_person(world.server, f"outsider{id(world) % 10000}")
    world.others.update(colleague=colleague, outsider=outsider)
    for p in (colleague, outsider):
        world.server.api(
            "POST",
            f"/_matrix/client/v3/rooms/{world.support}/invite",
            world.admin.account.access_token,
            {"user_id": p.user_id},
        )
        await p.client.join(world.support)
    config = world.config(
        rt=rt_section(rt),
        support={
            "enabled": True,
            "out_of_hours_delay_s": 0.3,
            "sla_check_seconds": 0.2,
            "rt_owners": {e.user_id: rt.agent_user},
        },
    )
    async with running_bot(config, clock=clock) as app:
        svc = app.services.extras["support"]
        app.services.escalation.directory.overrides = {
            c.user_id: ("owner@example.com", "org-a"),
            colleague.user_id: ("col@example.com", "org-a"),
            outsider.user_id: ("out@example.com", "org-b"),
        }
        root = await c.send(world.support, "Database VM is down, production affected")
        await e.send(world.support, "!ticket P1", thread_root=root)
        n = await wait_rt_reply(world, e, root)
        # one card per escalation, at once, with its RT#n; P1 counts around the clock
        card = await e.wait_for(card_says(world, f"RT#{n}"), 15)
        timer = await svc.timers.get(world.support, root)
        assert timer.severity == "P1" and timer.around_the_clock
        # the engineer's !ticket was a staff reply; use a fresh timer state to see RT stop it
        await app.services.store.execute(
            "UPDATE support_timers SET state='running' WHERE thread_id=?", (root,)
        )
        ask = await e.send(world.support, "!claim", thread_root=root)
        reply = await e.wait_reply(ask, world.bot.user_id)
        assert f"owner: {rt.agent_user}" in reply.body, reply.body
        assert (await rtc.get_ticket(n)).owner == rt.agent_user
        await e.wait_for(card_says(world, "claimed by", edit_of=card.event_id), 10)
        await agent(
            rt,
            "POST",
            f"/ticket/{n}/correspond",
            {"Content": "We are restoring the VM", "ContentType": "text/plain"},
        )
        await c.wait_for(lambda x: "We are restoring the VM" in x.body, 20)
        for _ in range(50):
            if (await svc.timers.get(world.support, root)).state == "stopped":
                break
            await asyncio.sleep(0.1)
        assert (await svc.timers.get(world.support, root)).state == "stopped"
        await agent(rt, "PUT", f"/ticket/{n}", {"Status": "resolved"})
        question = await c.wait_for(
            lambda x: x.sender == world.bot.user_id and "React 👍 or 👎" in x.body, 20
        )
        assert question.thread_root == root
        await outsider.react(world.support, question.event_id, "👎")  # another org: ignored
        await colleague.react(world.support, question.event_id, "👍")  # same org: counts
        await c.wait_for(lambda x: "Thanks for the feedback" in x.body, 10)
        row = await app.services.store.fetchone(
            "SELECT * FROM support_surveys WHERE ticket_id=?", (n,)
        )
        assert row["vote"] == 1 and row["voter"] == colleague.user_id
        # reopened and resolved again: not asked twice
        await agent(rt, "PUT", f"/ticket/{n}", {"Status": "open"})
        await agent(rt, "PUT", f"/ticket/{n}", {"Status": "resolved"})
        await e.wait_for(card_says(world, "resolved", edit_of=card.event_id), 10)
        await asyncio.sleep(1.5)  # two RT polls
        await pong(world, c, world.support)
        asked = [x for x in c.messages_from(world.bot.user_id) if "React 👍 or 👎" in x.body]
        assert len(asked) == 1
