"""Which events wait for which (bot/ordering.py): keys of commands in and outside threads."""

from __future__ import annotations

import asyncio
from typing import Any

from bot.events import parse_event
from bot.ordering import KeyedScheduler, order_of

ROOM = "!r:hs"


def msg(eid: str, body: str, sender: str = "@c:hs", thread: str | None = None) -> Any:
    content: dict[str, Any] = {"msgtype": "m.text", "body": body}
    if thread:
        content["m.relates_to"] = {"rel_type": "m.thread", "event_id": thread}
    raw = {
        "type": "m.room.message",
        "event_id": eid,
        "sender": sender,
        "origin_server_ts": 1,
        "content": content,
    }
    return parse_event(ROOM, raw)


def test_top_level_commands_of_one_sender_share_a_key() -> None:
    a, _ = order_of(msg("$a", "!ping"), "!")
    b, _ = order_of(msg("$b", "!help"), "!")
    assert set(a) & set(b)


def test_one_senders_commands_in_two_threads_do_not_wait_for_each_other() -> None:
    a, _ = order_of(msg("$a", "!ticket", thread="$t1"), "!")
    b, _ = order_of(msg("$b", "!ticket", thread="$t2"), "!")
    c, _ = order_of(msg("$c", "more words", thread="$t1"), "!")
    assert not set(a) & set(b)
    assert set(a) & set(c)  # one thread stays in order


async def test_scheduler_runs_two_threads_side_by_side_and_one_thread_in_order() -> None:
    sched = KeyedScheduler(limit=8)
    log: list[str] = []
    gate = asyncio.Event()

    def job(name: str, wait: bool = False) -> Any:
        async def run() -> None:
            if wait:
                await gate.wait()
            log.append(name)

        return run

    for name, ev, wait in [
        ("t1-first", msg("$a", "!ticket", thread="$t1"), True),
        ("t1-second", msg("$b", "!ticket status", thread="$t1"), False),
        ("t2", msg("$c", "!ticket", thread="$t2"), False),
    ]:
        keys, barrier = order_of(ev, "!")
        last = await sched.submit(job(name, wait), keys, ROOM, barrier)
    await asyncio.sleep(0.05)
    assert log == ["t2"]  # not held up by the waiting thread
    gate.set()
    await last
    for _ in range(20):
        if len(log) == 3:
            break
        await asyncio.sleep(0.01)
    assert log == ["t2", "t1-first", "t1-second"]
