"""The secret-safety rule end to end: every credential kind through every path, value nowhere.

A real Synapse, a real RT 5 and the bot in-process. Each kind the detector knows (fresh fake
values from the corpus generator, tests/secret_samples.py) is posted as a support-room message,
a thread reply that an engineer then escalates with `!ticket`, a reply in the escalated thread,
an edit that adds it, a DM, `!faq <secret>` in a DM and in the staff room, a `.env` file in a DM,
and a malformed `!ticket --bogus <secret>`. Then no piece of any value may appear in the bot's
log, in any row of any table of its SQLite store, in any message the bot sent (every room's
timeline as the test accounts see it), or in RT (every transaction and file of the tickets).

A second run switches the credentials protection off: the places that keep or pass on text
(FAQ questions, the gap list, the ticket transcript) must still keep the values out.
"""

from __future__ import annotations

import asyncio
import io
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import nio
import pytest

from bot import logfilter
from bot.events import Event
from bot.secrets import WITHHELD, WITHHELD_FILE
from commands.escalation.rt.rest2 import RTClient
from commands.escalation.settings import RTSettings
from harness.matrix_helpers import Person, World, running_bot
from harness.rt_server import RTInstance
from tests.secret_samples import Sample, samples
from tests.test_ticket_e2e import rt_section, wait_rt_reply

SEED = 1414
ALL_TXN_TYPES = ("Create", "Correspond", "Comment", "Status", "Set", "CustomField", "AddWatcher")


class Collect(logging.Handler):
    """Every log line as the bot's handler would write it (message and exception text)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture
def bot_log() -> Iterator[Collect]:
    """The log as `backchannel run` sets it up: the secret filter installed, nio at WARNING.

    Every library at INFO (the default `log_level`), the bot's own code at DEBUG (stricter than
    production). nio is kept at WARNING as in production: at DEBUG it dumps the test
    accounts' own sync bodies, which hold the secrets they posted.
    """
    handler = Collect()
    root = logging.getLogger()
    levels = {"": logging.INFO, "nio": logging.WARNING, "bot": logging.DEBUG}
    levels["commands"] = levels["knowledge"] = logging.DEBUG
    old = {name: logging.getLogger(name).level for name in levels}
    logfilter.install()
    root.addHandler(handler)
    for name, level in levels.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, level in old.items():
            logging.getLogger(name).setLevel(level)
        logfilter.uninstall()


@pytest.fixture
async def rtc(rt: RTInstance) -> AsyncIterator[RTClient]:
    async with RTClient(RTSettings.model_validate(rt_section(rt))) as c:
        yield c


def config(world: World, rt: RTInstance, tmp_path: Path, **moderation: Any) -> Any:
    return world.config(
        # Unencrypted DMs so the (keyless) test accounts can read what the bot tells them.
        matrix={"encryption": False},
        rt=rt_section(rt),
        # ~150 messages in a minute are the point here, not a flood to mute anyone for.
        moderation={"flood": {"enabled": False}, **moderation},
        knowledge={"semantic": False, "cache_dir": str(tmp_path / "kb")},
    )


async def open_dm(app: Any, person: Person) -> str:
    """The bot's own DM with `person` (both get power 100, so the bot may redact there)."""
    dm: str = await app.services.matrix.dm_room(person.user_id)
    await until(lambda: dm in person.client.rooms, 30, "the DM invite accepted")
    return dm


async def gather(coros: Iterable[Awaitable[str]]) -> list[str]:
    return list(await asyncio.gather(*coros))


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.1)


def redacted_ids(person: Person) -> set[str]:
    return {e.relates_to for e in person.events if e.kind == "redaction" and e.relates_to}


def from_bot(world: World, person: Person, room: str | None = None) -> list[Event]:
    """What the bot said (its !ping answers, the tests' markers, left out)."""
    return [
        e for e in person.messages_from(world.bot.user_id, room) if not e.body.startswith("Pong")
    ]


async def send_file(person: Person, room: str, name: str, data: bytes, **rel: Any) -> str:
    resp, _ = await person.client.upload(
        io.BytesIO(data), content_type="text/plain", filename=name, filesize=len(data)
    )
    assert isinstance(resp, nio.UploadResponse), resp
    content: dict[str, Any] = {
        "msgtype": "m.file",
        "body": name,
        "filename": name,
        "url": resp.content_uri,
        "info": {"mimetype": "text/plain", "size": len(data)},
        **rel,
    }
    r = await person.client.room_send(room, "m.room.message", content)
    assert isinstance(r, nio.RoomSendResponse), r
    return r.event_id


async def edit(person: Person, room: str, event_id: str, new: str) -> str:
    content = {
        "msgtype": "m.text",
        "body": f"* {new}",
        "m.new_content": {"msgtype": "m.text", "body": new},
        "m.relates_to": {"rel_type": "m.replace", "event_id": event_id},
    }
    r = await person.client.room_send(room, "m.room.message", content)
    assert isinstance(r, nio.RoomSendResponse), r
    return r.event_id


def in_thread(root: str) -> dict[str, Any]:
    return {
        "m.relates_to": {
            "rel_type": "m.thread",
            "event_id": root,
            "is_falling_back": True,
            "m.in_reply_to": {"event_id": root},
        }
    }


async def ping(person: Person, world: World, room: str, thread: str | None = None) -> None:
    """Everything this person sent before has been handled once the pong arrives."""
    sent = await person.send(room, "!ping", thread_root=thread)
    await person.wait_reply(sent, world.bot.user_id, timeout=30)


async def rt_text(rtc: RTClient, rt: RTInstance, ticket: int) -> str:
    """Everything RT holds for a ticket: subject, every transaction's parts and files."""
    out = [(await rtc.get_ticket(ticket)).subject]
    for txn in await rtc.transactions_since(rt.queue, 0, types=ALL_TXN_TYPES):
        if txn.object_id != ticket:
            continue
        for part in await rtc.transaction_content(txn.id):
            out.append(part.content or "")
            if part.is_file:
                out.append((await rtc.attachment_bytes(part.id)).decode("utf-8", "replace"))
    return "\n".join(out)


def db_text(data_dir: Path) -> str:
    """Every row of every table of the bot's SQLite store."""
    db = sqlite3.connect(data_dir / "backchannel.sqlite3")
    try:
        tables = [t for (t,) in db.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = {t: db.execute(f'SELECT * FROM "{t}"').fetchall() for t in tables}
        return "\n".join(f"{t}: {r}" for t, r in rows.items())
    finally:
        db.close()


def assert_nowhere(
    cases: list[Sample], *, log: list[str], db: str, rt: str, bot_messages: list[Event]
) -> None:
    sent = "\n".join(str(e.content) for e in bot_messages)
    logged = "\n".join(log)
    places = {"log": logged, "SQLite": db, "RT": rt, "bot messages": sent}
    leaks = [
        (s.kind.value, where, needle[:6] + "…")
        for s in cases
        for needle in s.needles
        for where, text in places.items()
        if needle in text
    ]
    assert not leaks, leaks


async def test_every_kind_every_path_value_nowhere(
    world: World, rt: RTInstance, rtc: RTClient, bot_log: Collect, tmp_path: Path
) -> None:
    cases = samples(SEED)
    c, e = world.customer, world.engineer
    async with running_bot(config(world, rt, tmp_path)) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("sec@example.com", "org-s")}
        dm = await open_dm(app, c)
        customer_secrets: list[str] = []  # event ids the bot must redact

        # 1. Support room: a message, and an edit that adds the secret to a harmless one.
        customer_secrets += await gather(c.send(world.support, s.text) for s in cases)
        harmless = [f"a harmless question about {s.kind.name}" for s in cases]
        plain = await gather(c.send(world.support, h) for h in harmless)
        customer_secrets += await gather(
            edit(c, world.support, p, s.text) for p, s in zip(plain, cases, strict=True)
        )
        # 2. A thread: one reply per kind, then !ticket, a malformed !ticket, one more reply.
        root = await c.send(world.support, "Our backups fail since this morning")
        customer_secrets += await gather(
            c.send(world.support, s.text, thread_root=root) for s in cases
        )
        await ping(c, world, world.support, root)  # every reply handled before the ticket
        await e.send(world.support, "!ticket P3 backups failing", thread_root=root)
        ticket = await wait_rt_reply(world, e, root, timeout=60)
        bogus = await gather(
            e.send(world.support, f"!ticket --bogus {s.text}", thread_root=root) for s in cases
        )
        customer_secrets += await gather(
            c.send(world.support, s.text, thread_root=root) for s in cases
        )
        # 3. DMs: a message, !faq <secret>, a .env file; !faq <secret> in the staff room.
        customer_secrets += await gather(c.send(dm, s.text) for s in cases)
        customer_secrets += await gather(c.send(dm, f"!faq {s.text}") for s in cases)
        customer_secrets += await gather(
            send_file(c, dm, "prod.env", f"# prod.env\nAPP_ENV=production\n{s.text}\n".encode())
            for s in cases
        )
        await gather(e.send(world.staff, f"!faq {s.text}") for s in cases)
        # A clean reply after everything: once it is in RT, the secrets before it had their turn.
        marker = await c.send(world.support, "still failing after the retry", thread_root=root)
        await ping(c, world, dm)
        await ping(e, world, world.staff)

        await until(lambda: set(customer_secrets) <= redacted_ids(c), 60, "every redaction")

        async def marker_in_rt() -> bool:
            return marker in await rt_text(rtc, rt, ticket)

        for _ in range(300):
            if await marker_in_rt():
                break
            await asyncio.sleep(0.1)
        assert await marker_in_rt()
        gaps = await app.services.store.fetchall("SELECT * FROM kb_gaps")
        answers = await app.services.store.fetchall("SELECT * FROM kb_answers")
        audit = await app.services.store.fetchall("SELECT * FROM moderation_audit")

    # Exact counts: one DM notice per leak (three paths in the support room, three in the DM).
    notices = [x for x in from_bot(world, c, dm) if "contained a credential" in x.body]
    for s in cases:
        mine = [x for x in notices if f"credential ({s.kind.value})" in x.body]
        # a message, an edit, a thread reply before and one after the escalation
        assert len([x for x in mine if "from the support room" in x.body]) == 4, s.kind
        assert len([x for x in mine if "from this chat" in x.body]) == 3, s.kind
    assert len(notices) == 7 * len(cases)
    assert len(from_bot(world, c, dm)) == len(notices)  # nothing else: no !faq answer
    assert not [x for x in from_bot(world, e, world.staff) if "docs" in x.body.lower()]
    assert len(audit) == 4 * len(cases) and {r["action"] for r in audit} == {"redact"}
    # Only the harmless questions reached the auto-answer (answered, or silent: a gap).
    assert {g["question"] for g in gaps} <= set(harmless)
    assert {a["question"] for a in answers} <= set(harmless)
    # The malformed !ticket was swallowed (engineers are exempt from redaction, not the rule).
    assert not [x for x in from_bot(world, e) if x.reply_to in bogus]
    assert not redacted_ids(e) & set(bogus)
    transcript = await rt_text(rtc, rt, ticket)
    assert "Our backups fail since this morning" in transcript
    assert "still failing after the retry" in transcript

    everyone = [c, e, world.admin]
    assert_nowhere(
        cases,
        log=bot_log.lines,
        db=db_text(world.data_dir),
        rt=transcript,
        bot_messages=[x for p in everyone for x in from_bot(world, p)],
    )


async def test_protection_off_stores_and_rt_still_keep_values_out(
    world: World, rt: RTInstance, rtc: RTClient, bot_log: Collect, tmp_path: Path
) -> None:
    """Defence in depth: with the credentials protection off, nothing redacts or swallows;
    the gap list, the FAQ answer records and the ticket transcript must hold no value."""
    cases = samples(SEED + 1)
    c, e = world.customer, world.engineer
    cfg = config(world, rt, tmp_path, credentials={"enabled": False})
    async with running_bot(cfg) as app:
        app.services.escalation.directory.overrides = {c.user_id: ("off@example.com", "org-o")}
        dm = await open_dm(app, c)
        faqs = [await c.send(dm, f"!faq {s.text}") for s in cases]
        root = await c.send(world.support, "Please look at our object storage setup")
        for s in cases:
            await c.send(world.support, s.text, thread_root=root)
        env = "\n".join(s.text for s in cases[:3]).encode()
        await send_file(c, world.support, "prod.env", env, **in_thread(root))
        await ping(c, world, world.support, root)
        await e.send(world.support, "!ticket P3 storage setup", thread_root=root)
        ticket = await wait_rt_reply(world, e, root, timeout=60)
        # Every !faq was answered (the protection is off): from the docs, or with the usage
        # line when argparse refused it (a `-----BEGIN` key reads as an unknown option).
        replies = [await c.wait_reply(sent, world.bot.user_id, timeout=30) for sent in faqs]
        usage = [r for r in replies if "Usage:" in r.body]
        gaps = await e.send(world.staff, "!kb gaps")
        listed = await e.wait_reply(gaps, world.bot.user_id, timeout=30)
        answers = await app.services.store.fetchall("SELECT question, mode FROM kb_answers")
        gap_rows = await app.services.store.fetchval("SELECT COUNT(*) FROM kb_gaps")

    assert listed.body == "No gaps recorded yet."
    assert gap_rows == 0
    assert len(usage) < len(cases) // 2
    faq_rows = [r["question"] for r in answers if r["mode"] == "faq"]
    assert faq_rows == [WITHHELD] * (len(cases) - len(usage))
    # Auto-answers to the thread (the protection is off, so the bot saw the replies).
    assert {r["question"] for r in answers} <= {WITHHELD, "Please look at our object storage setup"}
    transcript = await rt_text(rtc, rt, ticket)
    assert transcript.count(WITHHELD) >= len(cases)  # the HTML body and transcript.txt
    assert WITHHELD_FILE in transcript
    assert "Please look at our object storage setup" in transcript
    assert_nowhere(
        cases,
        log=bot_log.lines,
        db=db_text(world.data_dir),
        rt=transcript,
        bot_messages=[x for p in (c, e, world.admin) for x in from_bot(world, p)],
    )


async def test_dm_the_sender_opened_bot_cannot_redact_still_tells_and_keeps_nothing(
    world: World, rt: RTInstance, bot_log: Collect, tmp_path: Path
) -> None:
    """In a DM the customer created the bot has no power to redact: it says so, once."""
    s = samples(SEED + 2)[0]
    c = world.customer
    async with running_bot(config(world, rt, tmp_path)) as app:
        resp = await c.client.room_create(
            is_direct=True, invite=[world.bot.user_id], preset=nio.RoomPreset.private_chat
        )
        assert isinstance(resp, nio.RoomCreateResponse), resp
        dm = resp.room_id
        await until(lambda: app.services.matrix.knows_room(dm), 30, "the bot in the DM")
        await ping(c, world, dm)
        leaked = await c.send(dm, s.text)
        faq = await c.send(dm, f"!faq {s.text}")
        await ping(c, world, dm)
        audit = await app.services.store.fetchval("SELECT COUNT(*) FROM moderation_audit")
    notices = [x for x in from_bot(world, c, dm) if "contained a credential" in x.body]
    assert len(notices) == 2
    assert all("could not remove" in x.body and s.kind.value in x.body for x in notices)
    assert not {leaked, faq} & redacted_ids(c)
    assert len(from_bot(world, c, dm)) == 2 and audit == 0
    assert_nowhere(
        [s], log=bot_log.lines, db=db_text(world.data_dir), rt="", bot_messages=from_bot(world, c)
    )
