"""Support operations end to end: a real Synapse, the bot in-process, a clock the test moves.

The clock is real time plus an offset, so opening hours, holidays and SLA thresholds are
crossed deterministically without sleeping through them.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.events import Event
from harness.matrix_helpers import World, running_bot
from tests.access_helpers import Clock

STO = ZoneInfo("Europe/Stockholm")


def at(y: int, m: int, d: int, hh: int, mm: int = 0) -> datetime:
    return datetime(y, m, d, hh, mm, tzinfo=STO)


def support_config(world: World, **support: Any) -> Any:
    base = {"enabled": True, "out_of_hours_delay_s": 0.3, "sla_check_seconds": 0.2}
    return world.config(support={**base, **support})


def from_bot(world: World, room: str, needle: str, thread: str | None = None) -> Any:
    def match(e: Event) -> bool:
        return (
            e.sender == world.bot.user_id
            and e.kind == "message"
            and e.room_id == room
            and needle in e.body
            and (thread is None or e.thread_root == thread)
        )

    return match


def count(world: World, who: Any, room: str, needle: str) -> int:
    return sum(1 for e in who.messages_from(world.bot.user_id, room) if needle in e.body)


async def pong(world: World, who: Any, room: str) -> None:
    """A later marker: once the pong is here, anything the bot would have said before is too."""
    ping = await who.send(room, "!ping")
    await who.wait_reply(ping, world.bot.user_id)


async def test_out_of_hours_reply_names_the_next_opening_once(world: World) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 20, 10))  # Saturday after Midsummer Eve
    async with running_bot(support_config(world), clock=clock) as app:
        c, e = world.customer, world.engineer
        root = await c.send(world.support, "Our VM in sto2 does not boot after the resize")
        reply = await c.wait_for(from_bot(world, world.support, "we are back", root), 20)
        assert "Monday 22 June 08:00 CEST" in reply.body
        assert "+47 23 65 32 23" in reply.body and "+46 8 551 073 74" in reply.body
        assert "support@safespring.com" in reply.body
        # a second message in the thread, and a staff thread, get nothing
        await c.send(world.support, "It says 'no bootable device'", thread_root=root)
        await e.send(world.support, "Maintenance note: nothing planned this weekend")
        # an engineer answering within the delay: no out-of-hours reply
        second = await c.send(world.support, "Also: is the S3 endpoint slow for you?")
        await e.send(world.support, "Looking at it now", thread_root=second)
        await pong(world, c, world.support)
        await app.services.extras["support"].settle()
        await pong(world, c, world.support)
        assert count(world, c, world.support, "we are back") == 1
        # the staff room never gets one
        await e.send(world.staff, "anyone around tomorrow?")
        await pong(world, e, world.staff)
        assert count(world, e, world.staff, "we are back") == 0


async def test_no_out_of_hours_reply_when_an_faq_answer_covers_it(world: World) -> None:
    clock = Clock()
    # Christmas Eve in the past: the intake's birth cutoff uses the injected clock, so a
    # clock ahead of the homeserver's would drop every event as sent before the first start.
    clock.jump_to(at(2025, 12, 24, 20))
    async with running_bot(support_config(world), clock=clock) as app:
        c = world.customer
        q = await c.send(world.support, "Can I paste my API key here so you can check it?")
        answer = await c.wait_reply(q, world.bot.user_id, timeout=20)
        assert "Automatic answer" in answer.body
        await app.services.extras["support"].settle()
        other = await c.send(world.support, "Our nightly backup job to sto2 failed")
        reply = await c.wait_for(from_bot(world, world.support, "we are back", other), 20)
        assert "Monday 29 December 08:00 CET" in reply.body  # 25-26 holidays, 27-28 weekend
        assert count(world, c, world.support, "we are back") == 1


async def test_out_of_hours_reply_interrupted_by_a_stop_is_sent_after_restart(
    world: World,
) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 20, 10))
    config = support_config(world, out_of_hours_delay_s=2)
    async with running_bot(config, clock=clock):
        root = await world.customer.send(world.support, "sto1 instance stuck in BUILD")
        await pong(world, world.customer, world.support)
    assert count(world, world.customer, world.support, "we are back") == 0
    async with running_bot(config, clock=clock):
        await world.customer.wait_for(from_bot(world, world.support, "we are back", root), 20)
        await pong(world, world.customer, world.support)
        assert count(world, world.customer, world.support, "we are back") == 1


async def test_staffed_hours_get_no_out_of_hours_reply(world: World) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 17, 10))  # an ordinary Wednesday morning
    async with running_bot(support_config(world), clock=clock) as app:
        c = world.customer
        await c.send(world.support, "How do I resize a volume?")
        await pong(world, c, world.support)
        await app.services.extras["support"].settle()
        await pong(world, c, world.support)
        assert count(world, c, world.support, "we are back") == 0


async def test_sla_warns_once_then_breaches_once_in_staffed_time(world: World) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 17, 10))  # Wednesday 10:00, target 60 staffed minutes
    async with running_bot(support_config(world), clock=clock) as app:
        svc = app.services.extras["support"]
        c, e = world.customer, world.engineer
        slow = await c.send(world.support, "Our backups fail since last night")
        answered = await c.send(world.support, "Can I get more floating IPs?")
        reacted = await c.send(world.support, "Is sto1 affected by the maintenance?")
        await e.send(world.support, "On it", thread_root=answered)
        await e.react(world.support, reacted, "👀")
        await pong(world, e, world.support)
        clock.jump_to(at(2026, 6, 17, 10, 49))
        warn = await e.wait_for(from_bot(world, world.staff, "First response due"), 10)
        assert "11 min" in warn.body and slow.replace("$", "%24") in warn.body
        assert await svc.check_sla() == 0  # once
        clock.jump_to(at(2026, 6, 17, 11, 1))
        await e.wait_for(from_bot(world, world.staff, "First-response target missed"), 10)
        assert await svc.check_sla() == 0
        assert count(world, e, world.staff, "First response due") == 1
        assert count(world, e, world.staff, "target missed") == 1  # the others were answered
        rows = await app.services.store.fetchall(
            "SELECT thread_id, state, response_s FROM support_timers ORDER BY started_at"
        )
        by_thread = {r["thread_id"]: r for r in rows}
        assert by_thread[slow]["state"] == "running"
        assert (
            by_thread[answered]["state"] == "stopped" and by_thread[reacted]["state"] == "stopped"
        )


async def test_sla_timer_survives_a_restart_and_counts_staffed_time_only(world: World) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 18, 16, 30))  # Thursday before Midsummer: 30 minutes left today
    config = support_config(world)
    async with running_bot(config, clock=clock):
        root = await world.customer.send(world.support, "Kubernetes nodes are NotReady")
        await pong(world, world.customer, world.support)
    # Down over Midsummer: Friday (Midsummer Eve), the weekend; back Monday 08:17 = 47 min counted
    clock.jump_to(at(2026, 6, 22, 8, 17))
    async with running_bot(config, clock=clock) as app:
        svc = app.services.extras["support"]
        await world.engineer.send(world.staff, "!ping")
        assert await svc.check_sla() == 0  # 47 < 48 minutes: nothing yet
        clock.jump_to(at(2026, 6, 22, 8, 19))
        warn = await world.engineer.wait_for(from_bot(world, world.staff, "First response due"), 10)
        assert root.replace("$", "%24") in warn.body
        await world.engineer.send(world.support, "Checking the nodes", thread_root=root)
        await pong(world, world.engineer, world.support)
        clock.jump_to(at(2026, 6, 22, 9, 0))
        assert await svc.check_sla() == 0  # stopped before the breach
        t = await svc.timers.get(world.support, root)
        assert t.state == "stopped" and 48 * 60 <= t.response_s <= 50 * 60


async def test_many_timers_due_after_downtime_become_one_summary(world: World) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 17, 9))
    config = support_config(world, sla_catchup_max_lines=3)
    async with running_bot(config, clock=clock):
        for i in range(5):
            await world.customer.send(world.support, f"question number {i}")
        await pong(world, world.customer, world.support)
    clock.jump_to(at(2026, 6, 17, 15))
    async with running_bot(config, clock=clock) as app:
        summary = await world.engineer.wait_for(
            from_bot(world, world.staff, "first-response target(s) missed"), 15
        )
        assert summary.body.startswith("🚨 5 first-response")
        assert await app.services.extras["support"].check_sla() == 0
        await pong(world, world.engineer, world.staff)
        assert count(world, world.engineer, world.staff, "target missed") == 0
        assert count(world, world.engineer, world.staff, "target(s) missed") == 1


async def test_report_figures_in_staffed_time_and_as_metrics(world: World) -> None:
    clock = Clock()
    clock.jump_to(at(2026, 6, 17, 10))
    async with running_bot(support_config(world), clock=clock) as app:
        c, e = world.customer, world.engineer
        a = await c.send(world.support, "web01 disk alert since this morning")
        b = await c.send(world.support, "backup job for db02 reports warnings")
        await c.send(world.support, "k8s cluster upgrade plan for next week")
        await pong(world, c, world.support)
        clock.jump_to(at(2026, 6, 17, 10, 10))
        await e.send(world.support, "Checking web01", thread_root=a)
        await pong(world, e, world.support)
        clock.jump_to(at(2026, 6, 17, 10, 30))
        await e.send(world.support, "db02 warnings are harmless", thread_root=b)
        await pong(world, e, world.support)
        clock.jump_to(at(2026, 6, 17, 11, 5))
        await e.wait_for(from_bot(world, world.staff, "First-response target missed"), 10)
        ask = await e.send(world.staff, "!report week")
        report = await e.wait_reply(ask, world.bot.user_id)
        assert "Customer threads: 3 (2 answered)" in report.body, report.body
        assert "p50 20 min, p90 28 min" in report.body
        assert "SLA breaches: 1" in report.body
        assert "Escalations to RT: 0" in report.body
        text = app.metrics.render().decode()
        assert 'backchannel_support_threads{period="week"} 3.0' in text
        assert 'backchannel_support_sla_breaches{period="week"} 1.0' in text
        p50 = re.search(
            r'backchannel_support_first_response_seconds\{period="week",quantile="0.5"\} (\S+)',
            text,
        )
        assert p50 and abs(float(p50.group(1)) - 1200) < 30
        # staff only
        ask = await c.send(world.support, "!report")
        assert "only for engineers" in (await c.wait_reply(ask, world.bot.user_id)).body
