"""Statuspage: webhooks posted to the bot's endpoint, summary.json served from a local server.

Statuspage is a hosted service; the payloads here are the shapes Atlassian documents.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from bot.events import Event
from commands.support.statuspage import BadPayload, parse_webhook
from harness.matrix_helpers import World, running_bot
from harness.synapse_server import free_port
from tests import statuspage_payloads as sp

TOKEN = "hook-8d2f0c1e"


@pytest.mark.parametrize(
    ("raw", "status"),
    [
        (b"{not json", 400),
        (b"\xff\xfe", 400),
        (b"[1, 2]", 422),
        (b'{"hello": "world"}', 422),
        (json.dumps({"page": {"id": "x"}, "incident": {"id": "i"}}).encode(), 422),
        (
            json.dumps(
                {**sp.incident_webhook(), "incident": {**sp.incident(), "updated_at": "soon"}}
            ).encode(),
            422,
        ),
        (
            json.dumps(
                {**sp.incident_webhook(), "incident": {**sp.incident(), "name": "x" * 5000}}
            ).encode(),
            422,
        ),
        (json.dumps({**sp.component_webhook(), "component": None}).encode(), 422),
    ],
)
def test_bad_payloads_are_refused(raw: bytes, status: int) -> None:
    with pytest.raises(BadPayload) as err:
        parse_webhook(raw)
    assert err.value.status == status


def test_documented_payloads_parse() -> None:
    inc = parse_webhook(json.dumps(sp.incident_webhook()).encode())
    assert inc.incident.name == "S3 errors in sto2"  # type: ignore[union-attr]
    comp = parse_webhook(json.dumps(sp.component_webhook()).encode())
    assert comp.component.status == "major_outage"  # type: ignore[union-attr]


class FakePage:
    """A local stand-in for status.safespring.com serving /api/v2/summary.json."""

    def __init__(self) -> None:
        self.summary: Any = sp.summary([])
        self.hits = 0

    async def handler(self, _: web.Request) -> web.Response:
        self.hits += 1
        if isinstance(self.summary, bytes):
            return web.Response(body=self.summary, content_type="application/json")
        return web.json_response(self.summary)


@pytest.fixture
async def page() -> AsyncIterator[tuple[FakePage, str]]:
    fake = FakePage()
    app = web.Application()
    app.router.add_get("/api/v2/summary.json", fake.handler)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield fake, f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def incident_msgs(world: World, who: Any) -> list[Event]:
    return [
        e
        for e in who.messages_from(world.bot.user_id, world.support)
        if "incident" in e.body.lower() or "Resolved" in e.body
    ]


async def test_statuspage_webhook_and_polling(
    world: World, page: tuple[FakePage, str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    fake, page_url = page
    port = free_port()
    config = world.config(
        web={"enabled": True, "listen": f"127.0.0.1:{port}"},
        support={
            "enabled": True,
            "statuspage": {
                "enabled": True,
                "page_url": page_url,
                "webhook_token": TOKEN,
                "poll_seconds": 0.3,
            },
        },
    )
    c = world.customer
    hook = f"http://127.0.0.1:{port}/hooks/statuspage/{TOKEN}"
    async with running_bot(config), aiohttp.ClientSession() as http:
        # 1. the poll finds an incident: one message in the support room
        fake.summary = sp.summary([sp.incident()])
        first = await c.wait_for(
            lambda e: e.sender == world.bot.user_id and "S3 errors in sto2" in e.body, 20
        )
        assert "Service incident" in first.body and "stspg.io" in first.body
        # 2. a webhook with a newer update edits that message in place
        newer = sp.incident_webhook(
            status="identified", updated_at="2026-06-17T10:20:00+02:00", body="A disk shelf failed."
        )
        async with http.post(hook, json=newer) as resp:
            assert resp.status == 202
        edit = await c.wait_for(
            lambda e: e.is_edit and e.relates_to == first.event_id and "identified" in e.body, 10
        )
        assert "A disk shelf failed." in edit.body
        # 3. hostile and malformed posts: refused, logged, never posted
        bad = [
            (f"http://127.0.0.1:{port}/hooks/statuspage/wrong", json.dumps(newer).encode(), 404),
            (hook, b"{nope", 400),
            (hook, json.dumps({"incident": "drop table"}).encode(), 422),
            (hook, json.dumps({"meta": {}, "page": {"id": "x"}}).encode(), 422),
            (hook, b"x" * (300 * 1024), 413),
        ]
        for url, body, status in bad:
            async with http.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                assert r.status == status, (url, body[:40])
        # 4. a customer asking whether S3 is down gets the incident's link
        q = await c.send(world.support, "Is S3 down for everyone?")
        # (the FAQ may answer too; the incident hint comes in the same thread)
        hint = await c.wait_for(
            lambda e: (
                e.sender == world.bot.user_id and e.thread_root == q and "open incident" in e.body
            ),
            10,
        )
        assert "S3 errors in sto2" in hint.body
        # 5. !status
        ask = await c.send(world.support, "!status")
        status = await c.wait_reply(ask, world.bot.user_id)
        assert "Partial System Outage" in status.body and "S3 errors in sto2" in status.body
        # 6. the incident disappears from summary.json: resolved, edited in place
        fake.summary = sp.summary([], updated_at="2026-06-17T11:00:00+02:00")
        await c.wait_for(
            lambda e: e.is_edit and e.relates_to == first.event_id and "Resolved" in e.body, 10
        )
        # 7. a broken summary.json is logged and changes nothing
        fake.summary = b'{"status": 5}'
        hits = fake.hits
        for _ in range(100):  # let the poller run a couple of times
            if fake.hits >= hits + 2:
                break
            await asyncio.sleep(0.1)
        assert fake.hits >= hits + 2
        ping = await c.send(world.support, "!ping")
        await c.wait_reply(ping, world.bot.user_id)
        # one original message plus its edits; nothing from the bad payloads
        originals = [e for e in incident_msgs(world, c) if not e.is_edit and not e.thread_root]
        assert len(originals) == 1
    access = [r.getMessage() for r in caplog.records if r.name == "aiohttp.access"]
    assert any("/hooks/statuspage/***" in line for line in access)
    assert not any(TOKEN in line for line in access)
