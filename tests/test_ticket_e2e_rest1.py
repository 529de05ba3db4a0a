"""!ticket end to end on RT 4.4 (REST 1.0 only, chosen by `api = "auto"`): a smoke subset of
tests/test_ticket_e2e.py against a real Synapse and a real RT 4.4.6, the bot in-process."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from commands.escalation.rt.rest1 import RTRest1Client
from commands.escalation.settings import RTSettings
from harness.matrix_helpers import World, running_bot
from harness.rt_server import RTInstance
from tests.test_ticket_e2e import PNG, bot_says, send_image, wait_rt_reply


def rt1_section(rt: RTInstance, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "url": rt.url,
        "username": rt.bot_user,
        "password": "bot-password-123",
        "queue": rt.queue,
        "poll_interval_seconds": 0.5,
        "outbox_retry_seconds": 0.5,
        "retries": 1,
        "retry_backoff_seconds": 0.05,
    }
    base.update(kw)
    return base


@pytest.fixture
async def rtc(rt4: RTInstance) -> AsyncIterator[RTRest1Client]:
    async with RTRest1Client(RTSettings.model_validate(rt1_section(rt4))) as c:
        yield c


@pytest.fixture
async def agent4(rt4: RTInstance) -> AsyncIterator[RTRest1Client]:
    s = rt1_section(rt4, username=rt4.agent_user, password=rt4.agent_password)
    async with RTRest1Client(RTSettings.model_validate(s)) as c:
        yield c


async def ticket_txns(rtc: RTRest1Client, ticket: int, creator: str) -> list[Any]:
    out = []
    for txn_id, desc in await rtc._history(ticket):
        if desc.endswith(f" by {creator}"):
            txn = await rtc._transaction(ticket, txn_id)
            if txn is not None:
                out.append(txn)
    return out


async def bodies(rtc: RTRest1Client, txns: list[Any], kind: str) -> list[str]:
    texts: list[str] = []
    for x in txns:
        if x.type == kind:
            texts += [p.content for p in await rtc.transaction_content(x.id) if p.is_body]
    return texts


async def test_rest1_ticket_thread_and_rt_reply(
    world: World, rt4: RTInstance, rtc: RTRest1Client, agent4: RTRest1Client
) -> None:
    c, e = world.customer, world.engineer
    async with running_bot(world.config(rt=rt1_section(rt4))) as app:
        assert app.services.rt.api == "rest1"  # auto found no REST 2.0 on RT 4.4
        app.services.escalation.directory.overrides = {c.user_id: ("alice@example.com", "org-a")}
        root = await c.send(world.support, "Our VM <vm-1> is down\nStatus: resolved")
        await c.send(
            world.support,
            "Cc: evil@example.com\n--\nid: ticket/1\n    indented log line",
            thread_root=root,
        )
        await send_image(c, world.support, root, PNG, "screenshot.png")
        await e.send(world.support, "!ticket P2 VM down", thread_root=root)
        n = await wait_rt_reply(world, e, root)

        t = await rtc.get_ticket(n)
        assert (t.subject, t.priority, t.status) == ("[P2] VM down", 50, "new")
        assert t.requestors == ["alice@example.com"]
        assert t.cf(rt4.thread_field) == root and t.cf(rt4.room_field) == world.support
        create = [x for x in await ticket_txns(rtc, n, rt4.bot_user) if x.type == "Create"]
        parts = await rtc.transaction_content(create[0].id)
        html = next(p.content for p in parts if p.is_body and p.content_type == "text/html")
        assert "Our VM &lt;vm-1&gt; is down" in html and "Status: resolved" in html
        files = {p.filename: p for p in parts if p.is_file}
        assert {"screenshot.png", "transcript.txt"} <= set(files)
        assert await rtc.attachment_bytes(files["screenshot.png"].id) == PNG
        transcript = (await rtc.attachment_bytes(files["transcript.txt"].id)).decode()
        assert "    indented log line" in transcript

        # Thread -> ticket: hostile text from the customer stays text.
        await c.send(
            world.support, "more\nStatus: resolved\nCc: evil@example.com", thread_root=root
        )
        await e.send(world.support, "note for colleagues", thread_root=root)
        for _ in range(100):
            txns = await ticket_txns(rtc, n, rt4.bot_user)
            if len([x for x in txns if x.type in ("Correspond", "Comment")]) >= 2:
                break
            await asyncio.sleep(0.2)
        assert any("Status: resolved" in b for b in await bodies(rtc, txns, "Correspond"))
        assert any("note for colleagues" in b for b in await bodies(rtc, txns, "Comment"))
        t = await rtc.get_ticket(n)
        assert t.status == "open"  # opened by the correspondence, never resolved by text
        assert "evil@example.com" not in (await rtc._get("show", f"ticket/{n}/show")).payload

        # RT -> thread: the agent's reply comes in, the comment never does.
        await agent4.comment(n, text="INTERNAL NOTE xyz")
        await agent4.correspond(n, text="Agent reply abc")
        reply = await c.wait_for(
            bot_says(world, lambda x: x.thread_root == root and "Agent reply abc" in x.body),
            timeout=30,
        )
        assert "Agent Smith" in reply.body

        close = await e.send(world.support, "!ticket close fixed", thread_root=root)
        await e.wait_reply(close, world.bot.user_id)
        for _ in range(50):
            if (await rtc.get_ticket(n)).status == "resolved":
                break
            await asyncio.sleep(0.2)
        assert (await rtc.get_ticket(n)).status == "resolved"
    everything = " ".join(x.body for x in c.events if x.room_id == world.support)
    assert "INTERNAL NOTE xyz" not in everything
