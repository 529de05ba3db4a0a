"""!ticket end to end: a real Synapse, a real RT 5, the bot in-process."""

from __future__ import annotations

import asyncio
import base64
import io
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import nio
import pytest

from bot.events import Event
from bot.interfaces import TicketEvent, ticket_events
from commands.escalation.rt.rest2 import RTClient
from commands.escalation.settings import RTSettings
from harness.faultrun import rt_agent as agent
from harness.faults import DiesAfter, DiesAfterCreate
from harness.matrix_helpers import Person, World, running_bot
from harness.rt_server import RTInstance
from harness.world import make_person

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360f8cfc0f01f0005000201e2b7"
    "46d10000000049454e44ae426082"
)
RT_NUM = re.compile(r"RT#(\d+)")


def rt_section(rt: RTInstance, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "url": rt.url,
        "token": rt.token,
        "queue": rt.queue,
        "poll_interval_seconds": 0.5,
        "outbox_retry_seconds": 0.5,
        "retries": 1,
        "retry_backoff_seconds": 0.05,
        "comments_to_staff_room": False,
    }
    base.update(kw)
    return base


@pytest.fixture
async def rtc(rt: RTInstance) -> AsyncIterator[RTClient]:
    async with RTClient(RTSettings.model_validate(rt_section(rt))) as c:
        yield c


def bot_says(world: World, pred: Any) -> Any:
    def match(e: Event) -> bool:
        return e.sender == world.bot.user_id and e.kind == "message" and pred(e)

    return match


async def wait_rt_reply(world: World, who: Person, thread: str, timeout: float = 20) -> int:
    ev = await who.wait_for(
        bot_says(world, lambda e: e.thread_root == thread and "Escalated to RT#" in e.body),
        timeout,
    )
    m = RT_NUM.search(ev.body)
    assert m, ev.body
    return int(m.group(1))


async def send_image(person: Person, room: str, thread: str, data: bytes, name: str) -> str:
    resp, _ = await person.client.upload(
        io.BytesIO(data), content_type="image/png", filename=name, filesize=len(data)
    )
    assert isinstance(resp, nio.UploadResponse), resp
    content = {
        "msgtype": "m.image",
        "body": name,
        "url": resp.content_uri,
        "info": {"mimetype": "image/png", "size": len(data)},
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": thread,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": thread},
        },
    }
    r = await person.client.room_send(room, "m.room.message", content)
    assert isinstance(r, nio.RoomSendResponse), r
    return r.event_id


async def edit(person: Person, room: str, event_id: str, thread: str, new: str) -> None:
    content = {
        "msgtype": "m.text",
        "body": f"* {new}",
        "m.new_content": {"msgtype": "m.text", "body": new},
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }
    r = await person.client.room_send(room, "m.room.message", content)
    assert isinstance(r, nio.RoomSendResponse), r


async def add_customer(world: World, name: str) -> Person:
    p = await make_person(world.server, name)
    world.others[name] = p
    world.server.api(
        "POST",
        f"/_matrix/client/v3/rooms/{world.support}/invite",
        world.admin.account.access_token,
        {"user_id": p.user_id},
    )
    for _ in range(50):
        r = await p.client.join(world.support)
        if isinstance(r, nio.JoinResponse):
            return p
        await asyncio.sleep(0.1)
    raise AssertionError("could not join")


async def bot_txns(rtc: RTClient, rt: RTInstance, ticket: int) -> list[Any]:
    txns = await rtc.transactions_since(rt.queue, 0, types=("Correspond", "Comment", "Create"))
    return [t for t in txns if t.object_id == ticket and t.creator == rt.bot_user]


async def test_ticket_end_to_end_transcript_image_and_once(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    other = await add_customer(world, f"othercust{id(world) % 100000}")
    async with running_bot(world.config(rt=rt_section(rt))) as app:
        esc_svc = app.services.escalation
        c, e = world.customer, world.engineer
        esc_svc.directory.overrides = {
            c.user_id: ("alice@example.com", "org-a"),
            other.user_id: ("mallory@example.net", "org-b"),
        }
        root = await c.send(world.support, "Our VM <vm-1> is down & unreachable")
        typo = await c.send(world.support, "it started at 10:00", thread_root=root)
        await edit(c, world.support, typo, root, "it started at 09:00 (edited)")
        gone = await c.send(world.support, "my password is hunter2", thread_root=root)
        await c.client.room_redact(world.support, gone, "oops")
        await send_image(c, world.support, root, PNG, "screenshot.png")
        await other.send(world.support, "OTHER ORG SECRET", thread_root=root)
        await e.send(world.support, "Looking at it now", thread_root=root)
        cmd = await e.send(world.support, "!ticket P2 VM down in sto2", thread_root=root)
        n = await wait_rt_reply(world, e, root)

        t = await rtc.get_ticket(n)
        assert t.subject == "[P2] VM down in sto2"
        assert t.priority == 50
        assert t.requestors == ["alice@example.com"]
        assert t.cf(rt.room_field) == world.support
        assert t.cf(rt.thread_field) == root
        create = [x for x in await bot_txns(rtc, rt, n) if x.type == "Create"]
        parts = await rtc.transaction_content(create[0].id)
        html = next(p.content for p in parts if p.content_type == "text/html" and p.is_body)
        assert "Our VM &lt;vm-1&gt; is down &amp; unreachable" in html
        assert "09:00 (edited)" in html and "10:00" not in html
        assert "hunter2" not in html
        assert "OTHER ORG SECRET" not in html
        assert "Looking at it now" in html and e.user_id in html
        assert "UTC" in html and "Europe/Stockholm" in html
        assert "matrix.to" in html
        assert "!ticket" not in html
        files = {p.filename: p for p in parts if p.is_file}
        assert "screenshot.png" in files and "transcript.txt" in files
        assert await rtc.attachment_bytes(files["screenshot.png"].id) == PNG

        # Second !ticket (and a 🎫): same number, no new ticket.
        again = await e.send(world.support, "!ticket", thread_root=root)
        ev = await e.wait_reply(again, world.bot.user_id)
        assert f"RT#{n}" in ev.body and "already" in ev.body
        await e.react(world.support, root, "🎫")
        await e.send(world.support, "!ping", thread_root=root)
        await e.wait_for(bot_says(world, lambda x: x.body.startswith("Pong")))
        assert [x.id for x in await rtc.find_by_custom_field(rt.thread_field, root)] == [n]
        assert cmd


async def test_crash_between_create_and_reply_gives_one_ticket(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    cfg = world.config(rt=rt_section(rt, outbox_retry_seconds=3600))
    c, e = world.customer, world.engineer
    async with running_bot(cfg) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("crash@example.com", "org-c")}

        # Right after RT created the ticket the bot "dies": nothing after that point runs.
        app.services.escalation.rt = DiesAfterCreate(app.services.escalation.rt)
        root = await c.send(world.support, "crash test thread")
        await e.send(world.support, "!ticket P3 crash test", thread_root=root)
        # Wait until RT has the ticket; the bot "dies" before recording or replying.
        for _ in range(100):
            if await rtc.find_by_custom_field(rt.thread_field, root):
                break
            await asyncio.sleep(0.1)
        await asyncio.sleep(0.3)
    assert not [x for x in c.messages_from(world.bot.user_id) if "Escalated to RT#" in x.body]
    async with running_bot(cfg) as app:  # restart on the same data dir
        n = await wait_rt_reply(world, e, root)
    assert [x.id for x in await rtc.find_by_custom_field(rt.thread_field, root)] == [n]


async def test_crash_after_the_closing_comment_comments_once(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    """`!ticket close REASON`: the bot "dies" right after RT took the closing comment (before
    the item records it). After a restart the comment is found in RT, not written again."""
    cfg = world.config(rt=rt_section(rt))
    c, e = world.customer, world.engineer
    reason = "closed across a crash"
    async with running_bot(cfg) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("cc@example.com", "org-c")}
        root = await c.send(world.support, "close crash thread")
        await e.send(world.support, "!ticket P3", thread_root=root)
        n = await wait_rt_reply(world, e, root)
        dying = DiesAfter(app.services.escalation.rt, "comment")
        app.services.escalation.rt = dying
        await e.send(world.support, f"!ticket close {reason}", thread_root=root)
        await e.wait_for(bot_says(world, lambda x: x.thread_root == root and "is queued" in x.body))
        for _ in range(100):
            if dying.results:
                break
            await asyncio.sleep(0.1)
        assert dying.results  # RT has the comment; the bot knows nothing more
    async with running_bot(cfg) as app:  # restart on the same data dir
        await e.wait_for(
            bot_says(world, lambda x: x.thread_root == root and f"Closed RT#{n}" in x.body),
            timeout=30,
        )
        ping = await e.send(world.support, "!ping")
        await e.wait_reply(ping, world.bot.user_id)
    assert (await rtc.get_ticket(n)).status == "resolved"
    comments = 0
    for x in await bot_txns(rtc, rt, n):
        if x.type == "Comment":
            comments += sum(reason in p.content for p in await rtc.transaction_content(x.id))
    closed = [
        x
        for x in e.messages_from(world.bot.user_id)
        if f"Closed RT#{n}" in x.body and not x.is_edit
    ]
    assert (comments, len(closed)) == (1, 1)


async def test_rt_down_then_back_one_ticket_all_messages_once(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    c, e = world.customer, world.engineer
    # 10 quick messages are the point of this test, not a flood to mute the customer for.
    cfg = world.config(rt=rt_section(rt), moderation={"flood": {"enabled": False}})
    async with running_bot(cfg) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("down@example.com", "org-d")}
        root = await c.send(world.support, "RT outage thread")
        await asyncio.to_thread(rt.stop)
        try:
            cmd = await e.send(world.support, "!ticket P2 outage", thread_root=root)
            await e.wait_for(
                bot_says(world, lambda x: x.thread_root == root and "queued" in x.body),
                timeout=30,
            )
            assert cmd
            sent = [
                await c.send(world.support, f"msg {i:02d}", thread_root=root) for i in range(10)
            ]
            await c.send(world.support, "!ping", thread_root=root)
            await c.wait_for(bot_says(world, lambda x: x.body.startswith("Pong")))
        finally:
            await asyncio.to_thread(rt.start)
        n = await wait_rt_reply(world, e, root, timeout=30)
        svc = app.services.escalation
        for _ in range(100):
            if await svc.pending_count() == 0:
                break
            await asyncio.sleep(0.2)
        assert await svc.pending_count() == 0
    assert [x.id for x in await rtc.find_by_custom_field(rt.thread_field, root)] == [n]
    bodies = []
    for x in await bot_txns(rtc, rt, n):
        if x.type == "Correspond":
            parts = await rtc.transaction_content(x.id)
            bodies.extend(p.content for p in parts if p.is_body)
    for i, ev_id in enumerate(sent):
        hits = [b for b in bodies if ev_id in b]
        assert len(hits) == 1, (i, len(hits))
        assert f"msg {i:02d}" in hits[0]
    order = [int(m.group(1)) for b in bodies for m in [re.search(r"msg (\d\d)", b)] if m]
    assert order == sorted(order)


async def test_agent_reply_in_thread_comment_not_status_edited(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    c, e = world.customer, world.engineer
    async with running_bot(world.config(rt=rt_section(rt))) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("sync@example.com", "org-s")}
        root = await c.send(world.support, "sync thread")
        await e.send(world.support, "!ticket", thread_root=root)
        n = await wait_rt_reply(world, e, root)
        await agent(
            rt,
            "POST",
            f"/ticket/{n}/comment",
            {"Content": "INTERNAL NOTE xyz", "ContentType": "text/plain"},
        )
        await agent(
            rt,
            "POST",
            f"/ticket/{n}/correspond",
            {"Content": "Agent reply abc", "ContentType": "text/plain"},
        )
        reply = await c.wait_for(
            bot_says(world, lambda x: x.thread_root == root and "Agent reply abc" in x.body)
        )
        assert "Agent Smith" in reply.body
        # The correspond opened the ticket: one status message.
        status = await c.wait_for(
            bot_says(
                world, lambda x: x.thread_root == root and "status:" in x.body and not x.is_edit
            )
        )
        assert "open" in status.body
        await agent(rt, "PUT", f"/ticket/{n}", {"Status": "stalled"})
        await c.wait_for(
            bot_says(
                world,
                lambda x: x.is_edit and x.relates_to == status.event_id and "stalled" in x.body,
            )
        )
        await agent(rt, "PUT", f"/ticket/{n}", {"Status": "resolved"})
        await c.wait_for(
            bot_says(
                world,
                lambda x: x.is_edit and x.relates_to == status.event_id and "resolved" in x.body,
            )
        )
        # Customer follow-up goes to RT as correspondence, staff as comment.
        await c.send(world.support, "thanks!", thread_root=root)
        await e.send(world.support, "note for colleagues", thread_root=root)
        await e.send(world.support, "public: we will call you at 3", thread_root=root)
        for _ in range(50):
            txns = await bot_txns(rtc, rt, n)
            if len([x for x in txns if x.type in ("Correspond", "Comment")]) >= 3:
                break
            await asyncio.sleep(0.2)
        texts: dict[str, list[str]] = {"Correspond": [], "Comment": []}
        for x in txns:
            if x.type in texts:
                parts = await rtc.transaction_content(x.id)
                texts[x.type].extend(p.content for p in parts if p.is_body)
        assert any("thanks!" in t for t in texts["Correspond"])
        assert any("note for colleagues" in t for t in texts["Comment"])
        marked = [t for t in texts["Correspond"] if "we will call you at 3" in t]
        assert marked and "public:" not in marked[0]
    everything = " ".join(x.body for x in c.events if x.room_id == world.support)
    assert "INTERNAL NOTE xyz" not in everything
    status_msgs = [
        x
        for x in c.messages_from(world.bot.user_id)
        if x.thread_root == root and "status:" in x.body and not x.is_edit
    ]
    assert len(status_msgs) == 1


async def test_rt_expansion_only_for_staff_and_owner_org_and_injection_inert(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    other = await add_customer(world, f"exp{id(world) % 100000}")
    c, e = world.customer, world.engineer
    async with running_bot(world.config(rt=rt_section(rt))) as app:
        app.services.escalation.directory.overrides = {
            c.user_id: ("own@example.com", "org-own"),
            other.user_id: ("else@example.net", "org-else"),
        }
        root = await c.send(world.support, "expansion thread")
        evil = "it's' OR id > 0 OR Subject = 'x"
        await e.send(world.support, f'!ticket P3 "{evil}"', thread_root=root)
        n = await wait_rt_reply(world, e, root)
        t = await rtc.get_ticket(n)
        assert t.subject == f"[P3] {evil}"
        assert [x.id for x in await rtc.find_by_custom_field(rt.thread_field, root)] == [n]

        probe = await other.send(world.support, f"what is RT#{n}?")
        await other.send(world.support, "!ping", thread_root=probe)
        await other.wait_for(
            bot_says(world, lambda x: x.body.startswith("Pong") and x.thread_root == probe)
        )
        assert not [
            x
            for x in other.messages_from(world.bot.user_id)
            if x.thread_root == probe and f"RT#{n}" in x.body
        ]

        mine = await c.send(world.support, f"status of RT#{n}?")
        ev = await c.wait_reply(mine, world.bot.user_id)
        assert f"RT#{n}" in ev.body and "new" in ev.body
        staff = await e.send(world.staff, f"see RT#{n}")
        ev = await e.wait_reply(staff, world.bot.user_id)
        assert f"RT#{n}" in ev.body


async def test_bad_queue_and_bad_token_tell_engineer_and_staff(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    c, e = world.customer, world.engineer
    # "General" exists but the bot has no rights there: RT answers 403 like for a missing queue.
    async with running_bot(world.config(rt=rt_section(rt, queue="General"))) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("q@example.com", "org-q")}
        staff_note = await e.wait_for(
            bot_says(world, lambda x: x.room_id == world.staff and "[rt] queue" in x.body)
        )
        assert "General" in staff_note.body
        root = await c.send(world.support, "bad queue thread")
        cmd = await e.send(world.support, "!ticket", thread_root=root)
        ev = await e.wait_for(
            bot_says(world, lambda x: x.thread_root == root and "could not create" in x.body)
        )
        assert "[rt] queue" in ev.body
        await e.wait_for(
            bot_says(world, lambda x: x.room_id == world.staff and "RT refused create" in x.body)
        )
        ask = await e.send(world.staff, "!ticket queue")
        report = await e.wait_reply(ask, world.bot.user_id)
        assert "0 waiting" in report.body and "Refused by RT" in report.body
        assert "General" in report.body
        assert cmd
    assert await rtc.find_by_custom_field(rt.thread_field, root) == []

    bad = rt_section(rt, token="1-27-00000000000000000000000000000000")
    async with running_bot(world.config(rt=bad)) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("q@example.com", "org-q")}
        await e.wait_for(
            bot_says(world, lambda x: x.room_id == world.staff and "[rt] token" in x.body)
        )
        # A failed escalation may be retried once the config is fixed: same thread.
        await e.send(world.support, "!ticket", thread_root=root)
        ev = await e.wait_for(
            bot_says(
                world,
                lambda x: (
                    x.thread_root == root and "could not create" in x.body and "token" in x.body
                ),
            )
        )
    async with running_bot(world.config(rt=rt_section(rt))) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("q@example.com", "org-q")}
        await e.send(world.support, "!ticket", thread_root=root)
        n = await wait_rt_reply(world, e, root)
    assert [x.id for x in await rtc.find_by_custom_field(rt.thread_field, root)] == [n]


async def test_reaction_requestor_prompt_customer_refused_status_close_link(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    c, e = world.customer, world.engineer
    cfg = world.config(rt=rt_section(rt, comments_to_staff_room=True))
    async with running_bot(cfg) as app:
        bot = world.bot.user_id
        # Unknown customer e-mail: the engineer is asked for it.
        root = await c.send(world.support, "who am I thread")
        ask = await e.send(world.support, "!ticket P1", thread_root=root)
        ev = await e.wait_reply(ask, bot)
        assert "--requestor" in ev.body
        # A customer may not escalate (default config).
        ask = await c.send(world.support, "!ticket", thread_root=root)
        ev = await c.wait_reply(ask, bot)
        assert "only the support engineers" in ev.body
        # With the address: a P1 with the phone reminder.
        ask = await e.send(
            world.support, "!ticket P1 urgent --requestor carol@example.com", thread_root=root
        )
        n = await wait_rt_reply(world, e, root)
        reply = next(
            x for x in e.messages_from(bot) if x.thread_root == root and f"RT#{n}" in x.body
        )
        assert "phone" in reply.body and "P1" in reply.body
        t = await rtc.get_ticket(n)
        assert t.priority == 90 and t.requestors == ["carol@example.com"]

        heard: list[TicketEvent] = []

        async def listen(event: TicketEvent) -> None:
            heard.append(event)

        ticket_events(app.services).subscribe(listen)
        # A staff 🎫 on another thread's message escalates that thread.
        app.services.escalation.directory.overrides = {c.user_id: ("dave@example.com", "org-r")}
        root2 = await c.send(world.support, "reaction thread: disk full")
        msg2 = await c.send(world.support, "on sto1", thread_root=root2)
        await c.react(world.support, msg2, "🎫")  # customers' reactions do nothing
        await e.react(world.support, msg2, "🎫")
        n2 = await wait_rt_reply(world, e, root2)
        assert (await rtc.get_ticket(n2)).subject == "[P3] reaction thread: disk full"
        assert [x.id for x in await rtc.find_by_custom_field(rt.thread_field, root2)] == [n2]

        # status / close
        ask = await c.send(world.support, "!ticket status", thread_root=root2)
        ev = await c.wait_reply(ask, bot)
        assert f"RT#{n2}" in ev.body and "new" in ev.body
        ask = await e.send(world.support, "!ticket close fixed the disk", thread_root=root2)
        ev = await e.wait_for(  # from the outbox, in reply to the command
            bot_says(world, lambda x: x.reply_to == ask and f"Closed RT#{n2}" in x.body)
        )
        assert (await rtc.get_ticket(n2)).status == "resolved"
        await c.wait_for(bot_says(world, lambda x: x.thread_root == root2 and "resolved" in x.body))

        # link an existing ticket (made in RT by staff) to a third thread
        n3 = await rtc.create_ticket(queue=rt.queue, subject="made in RT", text="x")
        root3 = await c.send(world.support, "link thread")
        ask = await e.send(world.support, f"!ticket link RT#{n3}", thread_root=root3)
        ev = await e.wait_for(
            bot_says(world, lambda x: x.thread_root == root3 and "Linked" in x.body)
        )
        t3 = await rtc.get_ticket(n3)
        assert t3.cf(rt.thread_field) == root3
        # other capabilities heard of it as an escalation (support: SLA timer, board), once
        assert [x.ticket_id for x in heard if x.kind == "escalated" and x.thread_id == root3] == [
            n3
        ]
        ask = await e.send(world.support, f"!ticket link RT#{n3}", thread_root=root2)
        ev = await e.wait_reply(ask, bot)
        assert "already" in ev.body
        await agent(
            rt,
            "POST",
            f"/ticket/{n3}/correspond",
            {
                "Content": "see the attached log",
                "ContentType": "text/plain",
                "Attachments": [
                    {
                        "FileName": "log.png",
                        "FileType": "image/png",
                        "FileContent": base64.b64encode(PNG).decode(),
                    }
                ],
            },
        )
        await c.wait_for(
            bot_says(world, lambda x: x.thread_root == root3 and "see the attached log" in x.body)
        )
        img = await c.wait_for(
            bot_says(world, lambda x: x.thread_root == root3 and x.msgtype == "m.image")
        )
        assert img.body == "log.png"
        # an internal comment goes to the staff room only (configured), never the support room
        await agent(
            rt,
            "POST",
            f"/ticket/{n3}/comment",
            {"Content": "STAFF ONLY 42", "ContentType": "text/plain"},
        )
        await e.wait_for(
            bot_says(world, lambda x: x.room_id == world.staff and "STAFF ONLY 42" in x.body)
        )
    assert not [x for x in c.events if "STAFF ONLY 42" in x.body]


async def test_requestor_and_org_from_the_access_registry(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    c, e = world.customer, world.engineer
    async with running_bot(world.config(rt=rt_section(rt))) as app:
        registry = (
            '[[org]]\nid = "ACME"\nname = "Acme"\nproducts = ["SUPPORT-standard"]\n\n'
            f'[[member]]\nuser_id = "{c.user_id}"\norg = "ACME"\nemail = "alice@acme.example"\n'
        )
        await app.services.access.import_text(registry, "toml", world.admin.user_id)
        root = await c.send(world.support, "registry thread")
        await e.send(world.support, "!ticket", thread_root=root)
        n = await wait_rt_reply(world, e, root)
        assert (await rtc.get_ticket(n)).requestors == ["alice@acme.example"]
        row = await app.services.escalation.mapping(world.support, root)
        assert row["org"] == "ACME" and row["customer"] == c.user_id


async def test_staff_started_thread_and_metrics(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    other = await add_customer(world, f"staffthr{id(world) % 100000}")
    c, e = world.customer, world.engineer
    async with running_bot(world.config(rt=rt_section(rt))) as app:
        app.services.escalation.directory.overrides = {
            c.user_id: ("first@example.com", "org-1"),
            other.user_id: ("second@example.net", "org-2"),
        }
        root = await e.send(world.support, "Maintenance notice: sto2 upgrade tonight")
        await c.send(world.support, "FIRST CUSTOMER our VM broke", thread_root=root)
        await other.send(world.support, "SECOND CUSTOMER unrelated", thread_root=root)
        await e.send(world.support, "!ticket P2 VM broke after upgrade", thread_root=root)
        n = await wait_rt_reply(world, e, root)
        t = await rtc.get_ticket(n)
        assert t.requestors == ["first@example.com"]
        create = [x for x in await bot_txns(rtc, rt, n) if x.type == "Create"]
        html = next(p.content for p in await rtc.transaction_content(create[0].id) if p.is_body)
        assert "FIRST CUSTOMER" in html and "Maintenance notice" in html
        assert "SECOND CUSTOMER" not in html
        text = app.metrics.render().decode()
        assert 'backchannel_rt_escalations_total{outcome="accepted"} 1.0' in text
        assert "backchannel_rt_outbox_pending 0.0" in text


async def send_encrypted_image(
    person: Person, room: str, thread: str, data: bytes, name: str
) -> str:
    resp, keys = await person.client.upload(
        io.BytesIO(data),
        content_type="image/png",
        filename=name,
        filesize=len(data),
        encrypt=True,
    )
    assert isinstance(resp, nio.UploadResponse), resp
    content = {
        "msgtype": "m.image",
        "body": name,
        "file": {"url": resp.content_uri, **keys},
        "info": {"mimetype": "image/png", "size": len(data)},
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": thread,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": thread},
        },
    }
    r = await person.client.room_send(
        room, "m.room.message", content, ignore_unverified_devices=True
    )
    assert isinstance(r, nio.RoomSendResponse), r
    return r.event_id


async def test_encrypted_room_transcript_and_files(
    synapse: Any, tmp_path: Any, rt: RTInstance, rtc: RTClient
) -> None:
    from harness.world import build_world

    world = await build_world(synapse, tmp_path, encrypted=True)
    c, e = world.customer, world.engineer
    try:
        async with running_bot(world.config(rt=rt_section(rt))) as app:
            app.services.escalation.directory.overrides = {c.user_id: ("enc@example.com", "o")}
            # Let the bot's device keys reach the others before the first encrypted message.
            ask = await c.send(world.support, "!ping")
            await c.wait_reply(ask, world.bot.user_id, timeout=30)
            root = await c.send(world.support, "SECRET ROOM our storage is gone")
            await send_encrypted_image(c, world.support, root, PNG, "enc.png")
            await e.send(world.support, "!ticket P2", thread_root=root)
            n = await wait_rt_reply(world, e, root, timeout=30)
            create = [x for x in await bot_txns(rtc, rt, n) if x.type == "Create"]
            parts = await rtc.transaction_content(create[0].id)
            html = next(p.content for p in parts if p.is_body)
            assert "SECRET ROOM our storage is gone" in html
            files = {p.filename: p for p in parts if p.is_file}
            assert await rtc.attachment_bytes(files["enc.png"].id) == PNG
            # A later encrypted file goes to the ticket as correspondence with the file.
            later = await send_encrypted_image(c, world.support, root, PNG[::-1], "later.png")
            for _ in range(100):
                if await app.services.escalation.pending_count() == 0 and any(
                    x.type == "Correspond" for x in await bot_txns(rtc, rt, n)
                ):
                    break
                await asyncio.sleep(0.2)
            corr = [x for x in await bot_txns(rtc, rt, n) if x.type == "Correspond"]
            parts = await rtc.transaction_content(corr[-1].id)
            assert any(later in p.content for p in parts if p.is_body)
            f = next(p for p in parts if p.filename == "later.png")
            assert await rtc.attachment_bytes(f.id) == PNG[::-1]
            # A file an agent attaches in RT arrives encrypted in the encrypted room.
            await agent(
                rt,
                "POST",
                f"/ticket/{n}/correspond",
                {
                    "Content": "here is the graph",
                    "ContentType": "text/plain",
                    "Attachments": [
                        {
                            "FileName": "graph.png",
                            "FileType": "image/png",
                            "FileContent": base64.b64encode(PNG).decode(),
                        }
                    ],
                },
            )
            img = await c.wait_for(
                bot_says(world, lambda x: x.thread_root == root and x.msgtype == "m.image"),
                timeout=20,
            )
            file = img.content["file"]
            assert "url" not in img.content
            dl = await c.client.download(mxc=file["url"])
            assert isinstance(dl, nio.DownloadResponse), dl
            plain = nio.crypto.attachments.decrypt_attachment(
                dl.body, file["key"]["k"], file["hashes"]["sha256"], file["iv"]
            )
            assert plain == PNG
    finally:
        await world.stop()


async def test_rt_webhook_scrip_triggers_an_early_poll(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    from harness.synapse_server import free_port

    port = free_port()
    cfg = world.config(
        rt=rt_section(rt, poll_interval_seconds=300),
        web={"enabled": True, "listen": f"127.0.0.1:{port}"},
    )
    c, e = world.customer, world.engineer
    await asyncio.to_thread(rt.set_webhook, f"http://127.0.0.1:{port}/hooks/rt")
    try:
        async with running_bot(cfg) as app:
            app.services.escalation.directory.overrides = {c.user_id: ("hook@example.com", "o")}
            root = await c.send(world.support, "webhook thread")
            await e.send(world.support, "!ticket", thread_root=root)
            n = await wait_rt_reply(world, e, root)
            await asyncio.sleep(0.5)  # the first poll (which only sets the mark) is done
            await agent(
                rt,
                "POST",
                f"/ticket/{n}/correspond",
                {"Content": "pushed reply", "ContentType": "text/plain"},
            )
            # With a 300 s poll interval only the webhook can bring it this fast.
            await c.wait_for(
                bot_says(world, lambda x: x.thread_root == root and "pushed reply" in x.body),
                timeout=10,
            )
    finally:
        await asyncio.to_thread(rt.set_webhook, None)


async def test_hanging_rt_does_not_stall_the_bot(world: World, rt: RTInstance) -> None:
    """A fault fake: an 'RT' that accepts connections and never answers."""
    from aiohttp import web

    from harness.synapse_server import free_port

    async def hang(request: web.Request) -> web.Response:
        await asyncio.sleep(3600)
        return web.Response()

    fake = web.Application()
    fake.router.add_route("*", "/{tail:.*}", hang)
    runner = web.AppRunner(fake, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    c, e = world.customer, world.engineer
    section = rt_section(rt, url=f"http://127.0.0.1:{port}", timeout_seconds=3, retries=0)
    try:
        async with running_bot(world.config(rt=section)) as app:
            app.services.escalation.directory.overrides = {c.user_id: ("hang@example.com", "o")}
            root = await c.send(world.support, "hanging RT thread")
            await e.send(world.support, "!ticket", thread_root=root)
            t0 = asyncio.get_running_loop().time()
            ping = await c.send(world.support, "!ping")
            await c.wait_reply(ping, world.bot.user_id, timeout=10)
            assert asyncio.get_running_loop().time() - t0 < 2.5  # not behind RT's 3 s timeout
            await e.wait_for(
                bot_says(world, lambda x: x.thread_root == root and "queued" in x.body),
                timeout=30,
            )
    finally:
        await runner.cleanup()


async def test_ambiguous_timeouts_never_duplicate(
    world: World, rt: RTInstance, rtc: RTClient
) -> None:
    """Fault proxy in front of the real RT: the first create and the first reply are carried
    out by RT but answered too late (client timeout), so the bot cannot know they happened."""
    from aiohttp import web

    from harness.synapse_server import free_port

    delayed: set[str] = set()

    async def proxy(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() in ("authorization", "content-type")
        }
        async with (
            aiohttp.ClientSession() as s,
            s.request(
                request.method,
                f"{rt.url}{request.rel_url}",
                data=body,
                headers=headers,
                allow_redirects=False,
            ) as r,
        ):
            data = await r.read()
            out_headers = {k: v for k, v in r.headers.items() if k.lower() == "location"}
            status, ctype = r.status, r.headers.get("Content-Type", "application/json")
        kind = request.path.rsplit("/", 1)[-1]
        if request.method == "POST" and kind in ("ticket", "correspond") and kind not in delayed:
            delayed.add(kind)
            await asyncio.sleep(3)  # RT has done it; the bot gave up after 1 s
        return web.Response(
            status=status, body=data, headers={**out_headers, "Content-Type": ctype}
        )

    app_ = web.Application()
    app_.router.add_route("*", "/{tail:.*}", proxy)
    runner = web.AppRunner(app_, shutdown_timeout=0.1)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    c, e = world.customer, world.engineer
    section = rt_section(rt, url=f"http://127.0.0.1:{port}", timeout_seconds=1, retries=0)
    try:
        async with running_bot(world.config(rt=section)) as app:
            app.services.escalation.directory.overrides = {c.user_id: ("amb@example.com", "o")}
            root = await c.send(world.support, "ambiguous thread")
            await e.send(world.support, "!ticket", thread_root=root)
            n = await wait_rt_reply(world, e, root, timeout=30)
            msg = await c.send(world.support, "only once please", thread_root=root)
            svc = app.services.escalation
            for _ in range(100):
                await asyncio.sleep(0.2)
                if delayed == {"ticket", "correspond"} and await svc.pending_count() == 0:
                    break
            assert delayed == {"ticket", "correspond"}
            assert await svc.pending_count() == 0
    finally:
        await runner.cleanup()
    assert [x.id for x in await rtc.find_by_custom_field(rt.thread_field, root)] == [n]
    hits = 0
    for x in await bot_txns(rtc, rt, n):
        if x.type == "Correspond":
            hits += sum(msg in p.content for p in await rtc.transaction_content(x.id))
    assert hits == 1
