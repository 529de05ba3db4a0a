"""The RT client interface against real servers, one run per backend:
REST 2.0 on RT 5.0.3, REST 1.0 on RT 4.4.6, and REST 1.0 on RT 5.0.3 (same REST 1.0 code).

The RT servers are the session fixtures `rt` (RT 5) and `rt4` (RT 4.4); tickets are cheap, so
tests share them and use unique subjects / thread ids.
"""

from __future__ import annotations

import asyncio
import email
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Any

import pytest

from commands.escalation.rt.factory import connect
from commands.escalation.rt.interface import (
    RTAuthError,
    RTClient,
    RTFile,
    RTNotFound,
    RTPermissionError,
    RTRejected,
)
from commands.escalation.rt.rest1 import STAMP_SETTLED_S, RTRest1Client
from commands.escalation.rt.rest1_form import compose_form, parse_form
from commands.escalation.rt.rest2 import RTClient as RTRest2Client
from commands.escalation.settings import RTSettings
from harness.rt_server import RTInstance

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b7"
    "46d10000000049454e44ae426082"
)
BACKENDS = ["rest2-rt5", "rest1-rt4", "rest1-rt5"]

# Chat text that, sent unencoded in a REST 1.0 form, would set fields or split the form.
HOSTILE = [
    "Status: resolved",
    "ok\nStatus: resolved\nCc: evil@example.com",
    "x\nRequestor: evil2@example.com\nOwner: agent\nQueue: General",
    "a\n--\nid: ticket/1\nStatus: resolved",
    "line\r\nStatus: resolved\r\nBcc: evil3@example.com\rCc: evil4@example.com",
    "   leading spaces\n\tTab: value\n    def f():\n        return 1",
    "#comment line\n# Ticket 1 created.\nRT/4.4.6 200 Ok",
    "ünïcødé 🔥 –\nCF.{Matrix Room}: !stolen:example.org\nText: more",
    "Action: correspond\nAttachment: /etc/passwd",
]


@dataclass
class Backend:
    name: str
    rt: RTInstance
    client: RTClient
    agent: RTRest1Client  # what a staff member does in RT (REST 1.0 works on both RTs)

    @property
    def rest1(self) -> bool:
        return self.name.startswith("rest1")


def settings_for(rt: RTInstance, api: str, **kw: Any) -> RTSettings:
    base: dict[str, Any] = {
        "url": rt.url,
        "queue": rt.queue,
        "retries": 1,
        "retry_backoff_seconds": 0.01,
        "api": api,
    }
    if api == "rest2":
        base["token"] = rt.token
    else:
        base["username"] = rt.bot_user
        base["password"] = "bot-password-123"
    base.update(kw)
    return RTSettings.model_validate(base)


@pytest.fixture(params=BACKENDS)
async def backend(request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    name: str = request.param
    rt: RTInstance = request.getfixturevalue("rt4" if name.endswith("rt4") else "rt")
    api = name.split("-")[0]
    client: RTClient = (
        RTRest2Client(settings_for(rt, api))  # type: ignore[assignment]
        if api == "rest2"
        else RTRest1Client(settings_for(rt, api))
    )
    agent = RTRest1Client(
        settings_for(rt, "rest1", username=rt.agent_user, password=rt.agent_password)
    )
    async with client, agent:
        yield Backend(name, rt, client, agent)


def lf(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")


def mail_recipients(rt: RTInstance) -> set[str]:
    """Every address RT's captured outgoing mail was sent to (headers only, not bodies)."""
    out: set[str] = set()
    for chunk in re.split(r"^From rt@rt\.test .*$", rt.mail_file.read_text(), flags=re.M):
        msg = email.message_from_string(chunk.lstrip("\n"))
        for header in ("To", "Cc", "Bcc", "RT-Send-Cc", "RT-Send-Bcc"):
            for _, addr in getaddresses(msg.get_all(header, [])):
                out.add(addr.lower())
    return out


def uniq(prefix: str = "t") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


async def new_txns(b: Backend, hw: int, **kw: Any) -> list[Any]:
    return await b.client.transactions_since(b.rt.queue, hw, **kw)


async def test_create_requestor_transcript_and_fields(backend: Backend) -> None:
    b, c = backend, backend.client
    hw = await c.latest_transaction_id(b.rt.queue)
    thread = f"${uniq('thr')}:example.org"
    transcript = "alice: it broke\n    Traceback:\n      File x\n<b>not html</b>\n"
    html = "<p>Help, the <b>printer</b> is on fire</p>\n<pre>  indented\n    more</pre>"
    tid = await c.create_ticket(
        queue=b.rt.queue,
        subject="Printer <b>on</b> fire åäö 🔥",
        requestor="alice@example.com",
        html=html,
        text=transcript,
        priority=90,
        custom_fields={b.rt.room_field: "!room:example.org", b.rt.thread_field: thread},
        attachments=[RTFile(filename="shot.png", content_type="image/png", data=PNG)],
    )
    t = await c.get_ticket(tid)
    assert (t.id, t.subject, t.priority, t.status) == (
        tid,
        "Printer <b>on</b> fire åäö 🔥",
        90,
        "new",
    )
    assert t.requestors == ["alice@example.com"]
    assert t.creator == b.rt.bot_user  # (queue: REST 2.0 gives its id, REST 1.0 its name)
    assert t.cf(b.rt.thread_field) == thread and t.cf(b.rt.room_field) == "!room:example.org"
    assert t.created is not None and t.created.tzinfo is not None

    create = [x for x in await new_txns(b, hw, types=("Create",)) if x.object_id == tid]
    assert len(create) == 1
    parts = await c.transaction_content(create[0].id)
    bodies = [p for p in parts if p.is_body]
    assert [p.content_type for p in bodies] == ["text/html"]
    assert bodies[0].content.strip() == html
    files = {p.filename: p for p in parts if p.is_file}
    assert set(files) == {"transcript.txt", "shot.png"}
    # Byte for byte: indentation and markup of the transcript survive.
    assert await c.attachment_bytes(files["transcript.txt"].id) == transcript.encode()
    assert await c.attachment_bytes(files["shot.png"].id) == PNG
    assert [x.id for x in await c.find_by_custom_field(b.rt.thread_field, thread)] == [tid]
    assert await c.find_by_custom_field(b.rt.thread_field, thread + "-nope", b.rt.queue) == []
    assert "alice@example.com" in b.rt.mail_file.read_text()  # RT's AutoReply


async def test_messages_attachments_and_poll(backend: Backend) -> None:
    b, c = backend, backend.client
    tid = await c.create_ticket(queue=b.rt.queue, subject=uniq("poll"), text="body")
    hw = await c.latest_transaction_id(b.rt.queue)
    await new_txns(b, hw, exclude_creator=b.rt.bot_user)  # the rest1 poll's first look-back
    own_reply = await c.correspond(
        tid,
        html="<p>We are on it</p>",
        attachments=[RTFile(filename="log, 1.txt", content_type="text/plain", data=b" a\n  b")],
    )
    own_note = await c.comment(tid, text="internal from bot")
    assert own_note > own_reply > hw
    agent_reply = await b.agent.correspond(tid, text="agent says hi\n  indented")
    agent_note = await b.agent.comment(
        tid, text="agent internal", attachments=[RTFile(filename="p.png", data=PNG)]
    )
    new = [x for x in await new_txns(b, hw, exclude_creator=b.rt.bot_user) if x.object_id == tid]
    ids = [x.id for x in new]
    assert ids == sorted(ids)
    assert own_reply not in ids and own_note not in ids
    by_id = {x.id: x for x in new}
    assert by_id[agent_reply].type == "Correspond" and by_id[agent_reply].creator == "agent"
    assert by_id[agent_note].type == "Comment"  # comments are marked: never to customers
    assert any(x.type == "Status" and x.new_value == "open" for x in new)
    parts = await c.transaction_content(agent_reply)
    assert [p.content.strip() for p in parts if p.is_body] == ["agent says hi\n  indented"]
    files = [p for p in await c.transaction_content(agent_note) if p.is_file]
    assert [f.filename for f in files] == ["p.png"]
    assert await c.attachment_bytes(files[0].id) == PNG
    own_files = [p for p in await c.transaction_content(own_reply) if p.is_file]
    assert await c.attachment_bytes(own_files[0].id) == b" a\n  b"
    assert await c.recent_messages_by(tid, b.rt.bot_user) == [own_note, own_reply]
    top = max(ids)
    after = await new_txns(b, top, exclude_creator=b.rt.bot_user)
    assert [x for x in after if x.object_id == tid] == []


async def test_status_resolve_owner(backend: Backend) -> None:
    c = backend.client
    tid = await c.create_ticket(queue=backend.rt.queue, subject=uniq("status"), text="x")
    await c.resolve(tid)
    assert (await c.get_ticket(tid)).status == "resolved"
    await c.resolve(tid)  # asking for the current state is harmless
    with pytest.raises(RTRejected, match="isn't a valid status"):
        await c.update_ticket(tid, {"Status": "bogus"})
    assert (await c.get_ticket(tid)).status == "resolved"
    await c.set_owner(tid, backend.rt.agent_user)
    assert (await c.get_ticket(tid)).owner == backend.rt.agent_user


@pytest.mark.parametrize("evil", HOSTILE)
async def test_hostile_text_never_becomes_a_field(backend: Backend, evil: str) -> None:
    b, c = backend, backend.client
    thread = f"${uniq('inj')}:example.org"
    tid = await c.create_ticket(
        queue=b.rt.queue,
        subject=f"inj {evil}",
        requestor="alice@example.com",
        html=evil,
        text=evil,
        custom_fields={b.rt.thread_field: thread, b.rt.room_field: evil},
    )
    before = await c.get_ticket(tid)
    reply = await c.correspond(tid, text=evil)
    # (A hostile file name: REST 1.0 only; RT 5's REST 2.0 answers 500 to some, an RT bug.)
    fname = evil if b.rest1 else "note.txt"
    note = await c.comment(tid, html=evil, attachments=[RTFile(filename=fname, data=b"x")])
    t = await c.get_ticket(tid)
    assert t.status == "open"  # the reply opened it; nothing resolved it
    assert t.queue == before.queue and t.owner == before.owner == "Nobody"
    assert t.requestors == ["alice@example.com"]
    assert t.cf(b.rt.thread_field) == thread
    assert (await c.get_ticket(tid)).priority == before.priority
    want = lf(evil)
    for txn in (reply, note):
        bodies = [p.content for p in await c.transaction_content(txn) if p.is_body]
        assert [lf(x) for x in bodies] == [want]
    # No Cc/Bcc was added: no mail was addressed to the hostile addresses.
    assert not [r for r in mail_recipients(b.rt) if r.startswith("evil")]
    if b.rest1:
        raw = await b.client._get("show", f"ticket/{tid}/show")  # type: ignore[attr-defined]
        rec = raw.records()[0]
        assert rec["Cc"] == "" and rec["AdminCc"] == ""


def test_form_encoding_round_trip() -> None:
    """Our form parser applies RT's rules; every hostile text comes back as one value."""
    for evil in HOSTILE:
        form = compose_form([("id", "1"), ("Action", "comment")], {"Text": evil})
        recs = parse_form(form)
        assert len(recs) == 1 and set(recs[0]) == {"id", "Action", "Text"}
        assert recs[0]["Text"] == evil.replace("\r\n", "\n").replace("\r", "\n").rstrip("\n")
    assert "\n" not in compose_form([("Subject", "a\nStatus: resolved\u2028b")]).rstrip("\n")


async def test_typed_errors(backend: Backend) -> None:
    c = backend.client
    with pytest.raises(RTNotFound):
        await c.get_ticket(99_999_999)
    # REST 2.0 calls a comment on a missing ticket "Permission Denied"; REST 1.0 "does not exist".
    with pytest.raises((RTNotFound, RTPermissionError)):
        await c.comment(99_999_999, text="nobody home")
    with pytest.raises(RTPermissionError, match="NoSuchQueue"):
        await c.create_ticket(queue="NoSuchQueue", subject="x", text="x")
    with pytest.raises(RTRejected):
        await c.search_tickets("Subject = = 'x'")
    assert await c.check_online() == []
    problems = await c.check_online("NoSuchQueue")
    assert len(problems) == 1 and "[rt] queue" in problems[0]


async def test_rest1_bad_password_and_session_expiry(rt4: RTInstance) -> None:
    async with RTRest1Client(settings_for(rt4, "rest1", password="wrong")) as bad:
        with pytest.raises(RTAuthError, match="username"):
            await bad.get_ticket(1)
        assert await bad.check_online() == ["[rt] username/password: RT rejected the login (401)"]
    async with RTRest1Client(settings_for(rt4, "rest1")) as c:
        tid = await c.create_ticket(queue=rt4.queue, subject=uniq("sess"), text="x")
        assert c.logins == 1
        await c.get_ticket(tid)
        assert c.logins == 1  # the cookie is reused, no login per request
        async with c.session.get(f"{c.base}/logout") as r:  # the session ends on RT's side
            assert r.status == 200
        assert (await c.get_ticket(tid)).id == tid
        assert c.logins == 2  # one re-login, then the request again


async def test_rest1_poll_is_bounded_and_loses_nothing(rt4: RTInstance) -> None:
    s = settings_for(rt4, "rest1", poll_max_tickets=2, poll_max_transactions=3)
    async with (
        RTRest1Client(s) as c,
        RTRest1Client(
            settings_for(rt4, "rest1", username="agent", password="agent-password-123")
        ) as agent,
    ):
        tids = [
            await c.create_ticket(queue=rt4.queue, subject=uniq("b"), text="x") for _ in range(5)
        ]
        hw = await c.latest_transaction_id(rt4.queue)
        await c.transactions_since(rt4.queue, hw, exclude_creator=rt4.bot_user)
        replies = {await agent.comment(t, text=f"note {t}") for t in tids}
        got: list[int] = []
        for _ in range(40):  # other tests' tickets were updated in the window too
            before = c.requests
            txns = await c.transactions_since(rt4.queue, hw, exclude_creator=rt4.bot_user)
            assert c.requests - before <= 1 + 2 + 3
            got += [x.id for x in txns]
            if txns:
                hw = max(hw, max(x.id for x in txns))
            if replies <= set(got):
                break
        assert replies <= set(got)
        assert len(got) == len(set(got))  # nothing twice
        # Nothing changed: once the last reads' one-second LastUpdated stamps are surely over
        # and the re-reads they call for are done (at most poll_max_tickets per poll), a poll is
        # one search and no history read (the overlap is deduplicated).
        await asyncio.sleep(STAMP_SETTLED_S)
        for _ in range(10):
            before = c.requests
            assert await c.transactions_since(rt4.queue, hw, exclude_creator=rt4.bot_user) == []
            if c.requests - before == 1:
                break
        assert c.requests - before == 1


async def test_auto_probe(rt: RTInstance, rt4: RTInstance) -> None:
    p4 = await connect(settings_for(rt4, "auto"))
    async with p4.client:
        assert p4.api == "rest1" and p4.problem is None
        assert p4.sentence == "REST 2.0 absent on RT 4.4.6; using REST 1.0"
        assert (await p4.client.version()).startswith("4.4")
    p5 = await connect(settings_for(rt, "auto", token=rt.token))
    async with p5.client:
        assert p5.api == "rest2" and p5.sentence.startswith("REST 2.0 found on RT 5.0")
    p45 = await connect(settings_for(rt4, "auto", username=None, password=None, token="1-2-x"))
    async with p45.client:
        assert p45.problem and "username" in p45.problem


async def test_check_config_online_says_which_api(rt4: RTInstance) -> None:
    """What `backchannel check-config --online` prints for [rt] on RT 4.4 (it said
    "RT not reachable" before REST 1.0 existed here)."""
    from commands.escalation.rt.factory import check_online

    said: list[str] = []
    assert await check_online(settings_for(rt4, "auto"), report=said.append) == []
    assert said == ["  [rt] api: REST 2.0 absent on RT 4.4.6; using REST 1.0"]


def test_settings_api_and_password(tmp_path: Any) -> None:
    from pydantic import ValidationError

    pw = tmp_path / "pw"
    pw.write_text("s3cret pass\n")
    s = RTSettings.model_validate(
        {"url": "http://rt.example", "username": "bot", "password_file": str(pw)}
    )
    assert s.api == "auto" and s.read_password() == "s3cret pass" and not s.has_token
    for bad, msg in (
        ({"api": "rest1", "token": "1-2-x"}, "rest1 needs username"),
        ({"api": "rest2", "username": "bot", "password": "x"}, "rest2 needs"),
        ({"password": "x"}, "needs username"),
        ({"username": "bot", "password": "x", "password_file": str(pw)}, "not both"),
    ):
        with pytest.raises(ValidationError, match=msg):
            RTSettings.model_validate({"url": "http://rt.example", **bad})
