"""The bot as a process, killed at each phase of handling a command (issue 10), on a real Synapse.

Every kill is a SIGKILL from inside the process (harness/faultbot.py) at a
chosen phase: the command was received; the reply is in Synapse but nothing is
recorded; the effects are done but the ledger is not written. After each kill
the bot is restarted on the same data dir; Synapse must hold exactly one reply
per command. Also: a dying task ends the process with a non-zero code, a
poison event is given up after a bounded number of runs, and /readyz reports a
stall in handling. The same three phases of relaying an RT reply (RT answered; the
message is in Synapse; the poll's high-water mark is not yet saved) leave each reply in the
thread once. The 20x version is benchmarks/bench_faults.py; the runs are harness/faultrun.py.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
import time

import aiohttp

from bot.intake import MAX_ATTEMPTS
from harness.botproc import BotProcess, bot_messages, replies_to
from harness.faultrun import (
    COMMAND_PHASES,
    RELAY_PHASES,
    bot_config,
    kill_and_restart,
    relay_kill_and_restart,
)
from harness.matrix_helpers import World, running_bot
from harness.rt_server import RTInstance
from harness.synapse_server import free_port

KILLS_PER_PHASE = 2


async def test_sigkill_at_every_phase_leaves_exactly_one_reply(world: World) -> None:
    counts = await kill_and_restart(world, COMMAND_PHASES, KILLS_PER_PHASE)
    assert all(n == 1 for n in counts.values()), counts


async def test_sigkill_while_relaying_rt_replies_relays_each_once(
    world: World, rt: RTInstance
) -> None:
    """Killed after RT answered, after the Matrix send, before the high-water mark: each RT
    reply is in the thread once. The second kill also loses the session (a new device, for
    which Synapse's transaction ids mean nothing): the send record or the scan covers it."""
    counts = await relay_kill_and_restart(world, rt, RELAY_PHASES, 1, new_device_every=2)
    print("relay faults:", counts)
    assert list(counts.values()) == [1] * (len(RELAY_PHASES) + 1), counts


async def test_a_poison_event_is_given_up_and_the_bot_carries_on(world: World) -> None:
    """An event that kills every run handling it is skipped after MAX_ATTEMPTS replays."""
    port = free_port()
    config = bot_config(world, port)
    log = world.data_dir.parent / "bot.log"
    await (await BotProcess(config, port, log).start()).stop()
    poison = "!poison"
    faults = f"received={poison}"
    bot = await BotProcess(config, port, log, faults=faults).start()
    ask = await world.customer.send(world.support, poison)
    assert await bot.wait_exit() == -signal.SIGKILL
    # Each restart replays it and dies again, until MAX_ATTEMPTS replays have died on it
    # (the first run, which met it fresh, recorded nothing): then it is skipped.
    kills = 1
    while True:
        bot = BotProcess(config, port, log, faults=faults)
        await bot.start(wait_ready=False)
        ready = asyncio.ensure_future(bot.wait_ready())
        exited = asyncio.ensure_future(bot.wait_exit(90))
        await asyncio.wait({ready, exited}, return_when=asyncio.FIRST_COMPLETED)
        if ready.done() and ready.exception() is None:
            exited.cancel()
            break
        ready.cancel()
        assert await exited == -signal.SIGKILL, bot.tail()
        kills += 1
        assert kills <= MAX_ATTEMPTS + 1, "the poison event was retried forever"
    try:
        marker = await world.customer.send(world.support, "!ping")
        await world.customer.wait_reply(marker, world.bot.user_id, timeout=60)
    finally:
        await bot.stop()
    assert "was in flight in 2 runs: skipped" in bot.tail(20000)
    msgs = bot_messages(
        world.server, world.customer.account.access_token, world.support, world.bot.user_id
    )
    assert replies_to(msgs, ask) == []


async def test_a_dying_task_exits_non_zero(world: World) -> None:
    port = free_port()
    config = bot_config(world, port)
    log = world.data_dir.parent / "bot.log"
    for faults in ("job_dies", "consumer_dies"):
        bot = await BotProcess(config, port, log, faults=faults).start()
        code = await bot.wait_exit(60)
        assert code == 1, (faults, code, bot.tail())


async def test_readyz_turns_503_when_handling_stalls(world: World) -> None:
    port = free_port()
    config = world.config(
        web={"enabled": True, "listen": f"127.0.0.1:{port}", "ready_max_stall_s": 1}
    )
    release = asyncio.Event()
    async with running_bot(config) as app, aiohttp.ClientSession() as http:
        dispatch = app.intake.dispatch

        async def stuck(event):  # type: ignore[no-untyped-def]
            if event.body == "!stuck":
                await release.wait()  # a handler that never finishes (a hung dependency)
            await dispatch(event)

        app.intake.dispatch = stuck
        url = f"http://127.0.0.1:{port}/readyz"
        async with http.get(url) as resp:
            assert resp.status == 200
        stuck_id = await world.customer.send(world.support, "!stuck")
        statuses = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            async with http.get(url) as resp:
                statuses.append(resp.status)
                if resp.status == 503:
                    body = await resp.json()
                    break
            await asyncio.sleep(0.2)
        assert statuses[-1] == 503, statuses
        assert body["handling_stalled_s"] >= 1
        # Other people's threads are not blocked by the stuck one; the customer's own
        # next command waits behind it (one sender's commands stay in order).
        mine = await world.customer.send(world.support, "!ping")
        other = await world.engineer.send(world.support, "!ping")
        await world.engineer.wait_reply(other, world.bot.user_id, timeout=30)
        assert not [e for e in world.customer.events if e.reply_to == mine]
        release.set()
        await world.customer.wait_reply(mine, world.bot.user_id, timeout=30)
        await world.customer.wait_reply(stuck_id, world.bot.user_id, timeout=30)
        for _ in range(50):
            async with http.get(url) as resp:
                if resp.status == 200:
                    break
            await asyncio.sleep(0.1)
        assert resp.status == 200


async def test_a_new_device_after_a_crash_does_not_repeat_itself(world: World) -> None:
    """Killed right after the reply went out, restarted with its session lost: a new device,
    for which Synapse's transaction ids mean nothing. The record of the send (or the id the
    reply carries) keeps the re-handled command from being answered again."""
    port = free_port()
    config = bot_config(world, port)
    log = world.data_dir.parent / "bot.log"
    await (await BotProcess(config, port, log).start()).stop()
    asks = []
    for i in range(2):
        body = f"!ping lost device {i}"
        bot = await BotProcess(config, port, log, faults=f"after_send={body}").start()
        asks.append(await world.customer.send(world.support, body))
        assert await bot.wait_exit(60) == -signal.SIGKILL, bot.tail()
        (world.data_dir / "session.json").unlink()  # the device is gone with its session
        if i == 0:  # the first time, the note of the sent event is lost too: only the scan helps
            with sqlite3.connect(world.data_dir / "backchannel.sqlite3") as db:
                db.execute("UPDATE sent_messages SET event_id=NULL")
    bot = await BotProcess(config, port, log).start()
    try:
        marker = await world.customer.send(world.support, "!ping")
        for ask in [*asks, marker]:
            await world.customer.wait_reply(ask, world.bot.user_id, timeout=60)
    finally:
        await bot.stop()
    msgs = bot_messages(
        world.server, world.customer.account.access_token, world.support, world.bot.user_id
    )
    counts = {ask: len(replies_to(msgs, ask)) for ask in [*asks, marker]}
    assert all(n == 1 for n in counts.values()), counts
