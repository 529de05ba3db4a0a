"""commands.escalation.rt.rest2 against a real RT 5 (the session-scoped `rt` fixture from tests/rt_fixtures.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from pydantic import ValidationError

import commands.escalation.rt.rest2 as rtmod
from commands.escalation.rt.rest2 import (
    RTAuthError,
    RTClient,
    RTFile,
    RTNotFound,
    RTPermissionError,
    RTRejected,
    RTUnavailable,
    ticketsql_quote,
)
from commands.escalation.settings import RTSettings
from harness.rt_server import RTInstance, free_port

# A 1x1 PNG: real image bytes including values >= 0x80.
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b7"
    "46d10000000049454e44ae426082"
)


def settings_for(rt: RTInstance, **kw: Any) -> RTSettings:
    base: dict[str, Any] = {
        "url": rt.url,
        "token": rt.token,
        "queue": rt.queue,
        "retries": 2,
        "retry_backoff_seconds": 0.01,
    }
    base.update(kw)
    return RTSettings.model_validate(base)


@pytest.fixture
async def client(rt: RTInstance) -> AsyncIterator[RTClient]:
    async with RTClient(settings_for(rt)) as c:
        yield c


def uniq(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def agent_post(rt: RTInstance, path: str, payload: dict[str, Any]) -> int:
    """What a staff member does in RT's UI: a write as the `agent` user."""
    async with (
        aiohttp.ClientSession() as s,
        s.post(
            f"{rt.rest_url}{path}",
            json=payload,
            headers={"Authorization": aiohttp.encode_basic_auth(*rt.agent_auth)},
        ) as r,
    ):
        assert r.status == 201, await r.text()
        return int(r.headers["Location"].rsplit("/", 1)[1])


async def count_requests(client: RTClient) -> list[str]:
    """Hook aiohttp tracing into the client's session; returns the live list of sent requests."""
    sent: list[str] = []

    async def on_start(_s: Any, _ctx: Any, params: aiohttp.TraceRequestStartParams) -> None:
        sent.append(f"{params.method} {params.url.path}")

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    client._session = aiohttp.ClientSession(trace_configs=[trace])
    client._own_session = True
    return sent


async def test_version_and_ping(client: RTClient) -> None:
    assert (await client.version()).startswith("5.")
    assert await client.ping()


async def test_create_with_html_attachment_and_custom_fields(
    rt: RTInstance, client: RTClient
) -> None:
    room = f"!{uniq('room')}:example.org"
    tid = await client.create_ticket(
        queue=rt.queue,
        subject="Printer <b>on</b> fire",
        requestor="alice@example.com",
        html="<p>Help, the <b>printer</b> is on fire</p>",
        text="Help, the printer is on fire",
        priority=90,
        custom_fields={rt.room_field: room, rt.thread_field: "$thread:example.org"},
        attachments=[RTFile(filename="shot.png", content_type="image/png", data=PNG)],
    )
    t = await client.get_ticket(tid)
    assert t.id == tid
    assert t.subject == "Printer <b>on</b> fire"
    assert t.priority == 90
    assert t.status == "new"
    assert t.requestors == ["alice@example.com"]
    assert t.creator == rt.bot_user
    assert t.cf(rt.room_field) == room
    assert t.cf(rt.thread_field) == "$thread:example.org"

    txns = await client.transactions_since(rt.queue, 0, types=("Create",))
    create = [x for x in txns if x.object_id == tid]
    assert len(create) == 1
    parts = await client.transaction_content(create[0].id)
    bodies = [p for p in parts if p.is_body]
    assert any("<b>printer</b>" in p.content for p in bodies if p.content_type == "text/html")
    files = {p.filename: p for p in parts if p.is_file}
    assert set(files) == {"transcript.txt", "shot.png"}
    assert files["transcript.txt"].content == "Help, the printer is on fire"
    assert await client.attachment_bytes(files["shot.png"].id) == PNG
    # RT's AutoReply went to the requestor (captured, never mailed).
    assert "alice@example.com" in rt.mail_file.read_text()


async def test_correspond_comment_and_polling_excludes_own(
    rt: RTInstance, client: RTClient
) -> None:
    tid = await client.create_ticket(queue=rt.queue, subject=uniq("poll"), text="body")
    hw = max((x.id for x in await client.transactions_since(rt.queue, 0)), default=0)
    hw = max(hw, tid)  # nothing older matters
    own_reply = await client.correspond(tid, html="<p>We are on it</p>")
    own_note = await client.comment(tid, text="internal from bot")
    assert own_note > own_reply > 0
    agent_reply = await agent_post(
        rt, f"/ticket/{tid}/correspond", {"Content": "agent says hi", "ContentType": "text/plain"}
    )
    agent_note = await agent_post(
        rt, f"/ticket/{tid}/comment", {"Content": "agent internal", "ContentType": "text/plain"}
    )

    new = [
        x for x in await client.transactions_since(rt.queue, hw, rt.bot_user) if x.object_id == tid
    ]
    ids = [x.id for x in new]
    assert ids == sorted(ids)
    assert own_reply not in ids and own_note not in ids
    by_id = {x.id: x for x in new}
    assert by_id[agent_reply].type == "Correspond" and by_id[agent_reply].creator == rt.agent_user
    assert by_id[agent_note].type == "Comment"
    # The bot's first reply opened the ticket: RT_System's Status txn is not the bot's.
    assert any(x.type == "Status" and x.new_value == "open" for x in new)

    parts = await client.transaction_content(agent_reply)
    assert [p.content.strip() for p in parts if p.is_body] == ["agent says hi"]

    top = max(ids)
    after = await client.transactions_since(rt.queue, top, rt.bot_user)
    assert [x for x in after if x.object_id == tid] == []


async def test_status_update_and_invalid_status_detected(rt: RTInstance, client: RTClient) -> None:
    tid = await client.create_ticket(queue=rt.queue, subject=uniq("status"), text="x")
    msgs = await client.update_ticket(tid, {"Status": "resolved"})
    assert any("resolved" in m for m in msgs)
    assert (await client.get_ticket(tid)).status == "resolved"
    # RT answers 200 with the failure only in the message list.
    with pytest.raises(RTRejected, match="isn't a valid status"):
        await client.update_ticket(tid, {"Status": "bogus"})
    assert (await client.get_ticket(tid)).status == "resolved"
    # Asking for the current state is harmless, not an error.
    await client.update_ticket(tid, {"Status": "resolved"})


@pytest.mark.parametrize(
    "evil",
    [
        "x' OR id > 0 OR Subject = 'y",
        "x\\' OR id > 0 OR Subject = \\'y",
        "x\\",
        "'; Status = 'resolved' --",
        "ünïcødé ' OR 1=1 )",
    ],
)
async def test_ticketsql_injection_is_inert(rt: RTInstance, client: RTClient, evil: str) -> None:
    subject = f"{uniq('inj')} {evil}"
    tid = await client.create_ticket(
        queue=rt.queue, subject=subject, text="x", custom_fields={rt.room_field: evil}
    )
    assert (await client.get_ticket(tid)).subject == subject
    hits = await client.search_tickets(f"Subject = {ticketsql_quote(subject)}")
    assert [h.id for h in hits] == [tid]
    # The value matches itself exactly and nothing else.
    by_cf = await client.find_by_custom_field(rt.room_field, evil, queue=rt.queue)
    assert tid in [h.id for h in by_cf]
    assert all(h.id >= tid - 100 for h in by_cf)  # no "id > 0" blow-up to every ticket
    assert await client.find_by_custom_field(rt.room_field, evil + "-nope") == []


def test_ticketsql_quote() -> None:
    assert ticketsql_quote("a'b") == "'a\\'b'"
    assert ticketsql_quote("a\\") == "'a\\\\'"
    assert ticketsql_quote("a\x00b") == "'ab'"
    assert ticketsql_quote(5) == "'5'"


async def test_custom_field_lookup_and_pagination(
    rt: RTInstance, client: RTClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    thread = f"${uniq('thr')}:example.org"
    ids = [
        await client.create_ticket(
            queue=rt.queue, subject=f"page {i}", text="x", custom_fields={rt.thread_field: thread}
        )
        for i in range(5)
    ]
    # Small pages: non-superusers get total/pages null, so paging must stop on a short page.
    monkeypatch.setattr(rtmod, "PER_PAGE", 2)
    found = await client.find_by_custom_field(rt.thread_field, thread, queue=rt.queue)
    assert [t.id for t in found] == ids
    txns = await client.transactions_since(rt.queue, min(ids) - 1, types=("Create",))
    assert [x.object_id for x in txns if x.object_id in ids] == ids


async def test_4xx_not_retried_5xx_retried(rt: RTInstance, client: RTClient) -> None:
    tid = await client.create_ticket(queue=rt.queue, subject=uniq("retry"), text="x")
    txn = [x for x in await client.transactions_since(rt.queue, tid - 1, types=("Create",))]
    create_txn = next(x.id for x in txn if x.object_id == tid)
    sent = await count_requests(client)
    with pytest.raises(RTPermissionError):  # RT: 400 "Permission Denied" for a missing ticket
        await client.comment(99_999_999, text="nobody home")
    assert len(sent) == 1
    with pytest.raises(RTNotFound):
        await client.get_ticket(99_999_999)
    assert len(sent) == 2
    with pytest.raises(RTRejected):  # bad TicketSQL -> 400
        await client.search_tickets("Subject = = 'x'")
    assert len(sent) == 3
    sent.clear()
    # A real RT 500 (its fields=Parent bug): an idempotent GET is retried, then given up.
    with pytest.raises(RTUnavailable):
        await client._get(f"/transaction/{create_txn}/attachments", {"fields": "Parent"})
    assert len(sent) == 1 + client.settings.retries


async def test_bad_token_is_auth_error(rt: RTInstance) -> None:
    async with RTClient(settings_for(rt, token="1-27-00000000000000000000000000000000")) as c:
        with pytest.raises(RTAuthError, match="token"):
            await c.version()
        problems = await c.check_online()
    assert len(problems) == 1 and "[rt] token" in problems[0]


async def test_missing_queue_clear_error(rt: RTInstance, client: RTClient) -> None:
    with pytest.raises(RTPermissionError, match="NoSuchQueue"):
        await client.create_ticket(queue="NoSuchQueue", subject="x", text="x")
    problems = await client.check_online("NoSuchQueue")
    assert len(problems) == 1 and "[rt] queue" in problems[0] and "NoSuchQueue" in problems[0]
    # General exists but the bot has no rights there.
    problems = await client.check_online("General")
    assert problems and all("[rt]" in p for p in problems)


async def test_check_online(rt: RTInstance, client: RTClient) -> None:
    assert await client.check_online() == []
    async with RTClient(settings_for(rt, matrix_thread_field="No Such Field")) as c:
        problems = await c.check_online()
    assert len(problems) == 1 and "matrix_thread_field" in problems[0]


async def test_unreachable_is_unavailable(rt: RTInstance) -> None:
    async with RTClient(settings_for(rt, url=f"http://127.0.0.1:{free_port()}")) as c:
        with pytest.raises(RTUnavailable):
            await c.create_ticket(queue=rt.queue, subject="x", text="x")
        assert not await c.ping()
        problems = await c.check_online()
    assert len(problems) == 1 and "[rt] url" in problems[0]


def test_settings_token_exactly_one(tmp_path: Any) -> None:
    with pytest.raises(ValidationError, match="exactly one"):
        RTSettings(url="http://rt.example")
    tf = tmp_path / "tok"
    tf.write_text("1-2-abc\n")
    with pytest.raises(ValidationError, match="exactly one"):
        RTSettings.model_validate({"url": "http://rt.example", "token": "x", "token_file": str(tf)})
    s = RTSettings.model_validate({"url": "http://rt.example/", "token_file": str(tf)})
    assert s.read_token() == "1-2-abc"
    assert s.rest_url == "http://rt.example/REST/2.0"
    assert s.ticket_link(7) == "http://rt.example/Ticket/Display.html?id=7"
    with pytest.raises(ValidationError):
        RTSettings.model_validate({"url": "http://rt.example", "token": "x", "typo": 1})
    assert not RTSettings().enabled


async def test_module_check_online(rt: RTInstance, tmp_path: Any) -> None:
    """The entry point bot/online_checks.py calls for `check-config --online`."""
    assert await rtmod.check_online(settings_for(rt)) == []
    missing = tmp_path / "nope"
    problems = await rtmod.check_online(settings_for(rt, token=None, token_file=str(missing)))
    assert len(problems) == 1 and "token_file" in problems[0]
