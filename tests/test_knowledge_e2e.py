"""FAQ answers in a real room on Synapse: answer, silence, once per thread, engineer first,
reactions stored, !retract and an engineer's 👎 redact, !why, !faq, !kb gaps."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.events import Event
from harness.matrix_helpers import World, running_bot
from harness.shared_data import DOCS

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="shared docs corpus not present")

QUESTION = "how do i create application credentials from the command line?"


@pytest.fixture(scope="module")
def kb_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("kb-cache")


def _config(world: World, kb_cache: Path, **knowledge: object):  # type: ignore[no-untyped-def]
    return world.config(knowledge={"docs_dir": str(DOCS), "cache_dir": str(kb_cache), **knowledge})


async def _marker(world: World, room: str, thread_root: str | None = None) -> None:
    """Absence check: the bot handles events in order, so once !ping is answered, anything it
    would have said about earlier messages has been said."""
    ping = await world.customer.send(room, "!ping", thread_root=thread_root)
    await world.customer.wait_reply(ping, world.bot.user_id)


def _bot_in_thread(world: World, root: str) -> list[Event]:
    return [
        e
        for e in world.customer.messages_from(world.bot.user_id, world.support)
        if (e.thread_root == root or e.reply_to == root) and not e.body.startswith("Pong")
    ]


async def _until(pred, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await pred()
        if got:
            return got
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.2)


async def test_answer_silence_and_once_per_thread(world: World, kb_cache: Path) -> None:
    async with running_bot(_config(world, kb_cache)) as app:
        bot, c = world.bot.user_id, world.customer
        ask = await c.send(world.support, QUESTION)
        answer = await c.wait_reply(ask, bot)
        assert answer.thread_root == ask
        html = answer.content["formatted_body"]
        assert "https://docs.safespring.com/compute/app-creds/#" in html
        assert "Automatic answer" in answer.body
        # No [rt] here: escalation is off, so the hint promises no ticket.
        assert "Wait for staff here." in answer.body and "ticket" not in answer.body.lower()
        # The asker is mentioned (their pill, m.mentions), as an m.text so push rules apply.
        assert answer.content["m.mentions"] == {"user_ids": [c.user_id]}
        assert answer.content["msgtype"] == "m.text"
        assert len(answer.body) < 900

        # A follow-up question in the same thread: no second automatic answer.
        await c.send(world.support, "and how do i delete application credentials?", thread_root=ask)
        await _marker(world, world.support, thread_root=ask)
        assert len(_bot_in_thread(world, ask)) == 1

        # Chit-chat and a request only a person can handle: silence.
        thanks = await c.send(world.support, "thanks, that worked!")
        human = await c.send(world.support, "can you increase my quota to 64 vcpus please?")
        await _marker(world, world.support)
        assert not _bot_in_thread(world, thanks) and not _bot_in_thread(world, human)

        row = await app.services.store.fetchone(
            "SELECT * FROM kb_answers WHERE event_id = ?", (answer.event_id,)
        )
        assert row and row["path"] == "compute/app-creds.md" and row["mode"] == "auto"


async def test_no_answer_after_an_engineer_replied(world: World, kb_cache: Path) -> None:
    async with running_bot(_config(world, kb_cache)):
        c, e = world.customer, world.engineer
        root = await c.send(world.support, "hello, we have an issue with our project")
        await e.send(world.support, "hi! what do you see?", thread_root=root)
        await c.wait_for(lambda ev: ev.sender == e.user_id and ev.thread_root == root)
        await c.send(world.support, QUESTION, thread_root=root)
        await _marker(world, world.support, thread_root=root)
        assert _bot_in_thread(world, root) == []


async def test_reactions_stored_and_engineer_thumbs_down_redacts(
    world: World, kb_cache: Path
) -> None:
    async with running_bot(_config(world, kb_cache)) as app:
        bot, c, e = world.bot.user_id, world.customer, world.engineer
        ask = await c.send(world.support, QUESTION)
        answer = await c.wait_reply(ask, bot)
        await c.react(world.support, answer.event_id, "👍")
        store = app.services.store

        async def stored():  # type: ignore[no-untyped-def]
            return await store.fetchone(
                "SELECT * FROM kb_feedback WHERE answer_event = ?", (answer.event_id,)
            )

        row = await _until(stored)
        assert row["vote"] == 1 and row["sender"] == c.user_id
        assert row["question"] == QUESTION and row["path"] == "compute/app-creds.md"
        assert row["section"] == "Creating application credentials from the command line"

        await e.react(world.support, answer.event_id, "👎")
        await c.wait_for(lambda ev: ev.kind == "redaction" and ev.relates_to == answer.event_id)
        gap = await store.fetchone("SELECT * FROM kb_gaps WHERE why = 'thumbs down'")
        assert gap and gap["question"] == QUESTION


async def test_retract_why_faq_and_gaps(world: World, kb_cache: Path) -> None:
    async with running_bot(_config(world, kb_cache)):
        bot, c, e = world.bot.user_id, world.customer, world.engineer
        ask = await c.send(world.support, QUESTION)
        answer = await c.wait_reply(ask, bot)

        why = await e.send(world.support, "!why", thread_root=ask, reply_to=answer.event_id)
        explained = await e.wait_for(
            lambda ev: ev.sender == bot and ev.reply_to == why and "Why" in ev.body
        )
        assert "confidence" in explained.body and "compute/app-creds.md" in explained.body

        refused = await c.send(world.support, "!retract", thread_root=ask, reply_to=answer.event_id)
        reply = await c.wait_reply(refused, bot)
        assert "only for engineers" in reply.body

        retract = await e.send(world.support, "!retract", thread_root=ask, reply_to=answer.event_id)
        await c.wait_for(lambda ev: ev.kind == "redaction" and ev.relates_to == answer.event_id)
        await e.wait_reply(retract, bot)

        # !faq answers explicitly, also in the staff room; unsure -> the top 3.
        q = await e.send(world.staff, "!faq storage classes for persistent volumes in ske")
        got = await e.wait_reply(q, bot)
        assert "persistent-volumes" in got.content["formatted_body"]
        q = await c.send(world.support, "!faq how do i exit vim")
        got = await c.wait_reply(q, bot)
        assert "not sure" in got.body or "Nothing" in got.body
        # Nothing but markup left: the usage line, not an answer (and no gap row).
        q = await c.send(world.support, "!faq ** `` **")
        got = await c.wait_reply(q, bot)
        assert got.body.startswith("Usage:") and "!faq" in got.body

        gaps = await e.send(world.staff, "!kb gaps")
        listed = await e.wait_reply(gaps, bot)
        assert QUESTION in listed.body and "exit vim" in listed.body

        reload = await e.send(world.staff, "!kb reload")
        assert "only for admins" in (await e.wait_reply(reload, bot)).body
        reload = await world.admin.send(world.staff, "!kb reload")
        done = await world.admin.wait_reply(reload, bot, timeout=60)
        assert "Docs index" in done.body and "sections" in done.body


async def test_no_auto_answer_in_staff_room(world: World, kb_cache: Path) -> None:
    async with running_bot(_config(world, kb_cache)):
        a = world.admin
        ask = await a.send(world.staff, QUESTION)
        ping = await a.send(world.staff, "!ping")
        await a.wait_reply(ping, world.bot.user_id)
        assert not [
            ev
            for ev in a.messages_from(world.bot.user_id, world.staff)
            if ev.thread_root == ask or ev.reply_to == ask
        ]


async def test_rate_limit_per_user(world: World, kb_cache: Path) -> None:
    async with running_bot(_config(world, kb_cache, per_user_per_hour=1)):
        bot, c = world.bot.user_id, world.customer
        first = await c.send(world.support, QUESTION)
        await c.wait_reply(first, bot)
        second = await c.send(
            world.support, "how do i attach a volume to an instance with the cli?"
        )
        await _marker(world, world.support)
        assert _bot_in_thread(world, second) == []
        # !faq is an explicit request: not rate limited like the passive answers.
        ask = await c.send(
            world.support, "!faq how do i attach a volume to an instance with the cli"
        )
        got = await c.wait_reply(ask, bot)
        assert "compute/volume" in got.content["formatted_body"]
