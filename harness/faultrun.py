"""Fault runs shared by tests/test_faults_e2e.py (a handful of kills) and benchmarks/bench_faults.py
(20 per phase): the bot as a process, SIGKILLed at a phase, restarted on the same data dir,
and the effects counted in Synapse afterwards (never in a client's view)."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import time
from pathlib import Path
from typing import Any

import aiohttp

from harness.botproc import BotProcess, bot_messages, replies_to, write_config
from harness.matrix_helpers import World
from harness.rt_server import RTInstance
from harness.synapse_server import free_port

COMMAND_PHASES = ["received", "after_send", "before_mark"]
RELAY_PHASES = ["relay_fetched", "relay_after_send", "relay_before_mark"]


def bot_config(world: World, port: int, extra: str = "") -> Path:
    return write_config(
        world.data_dir.parent / "bot.toml",
        homeserver=world.server.url,
        user_id=world.bot.user_id,
        password=world.bot.password,
        support=world.support,
        staff=world.staff,
        data_dir=world.data_dir,
        web_port=port,
        admins=[world.admin.user_id],
        engineers=[world.engineer.user_id],
        extra=extra,
    )


async def kill_and_restart(world: World, phases: list[str], kills: int) -> dict[str, int]:
    """For each phase, ``kills`` commands each killing one run; then a clean run answers the rest."""
    port = free_port()
    config = bot_config(world, port)
    log = world.data_dir.parent / "bot.log"
    # First start on this data dir: history before it is never answered.
    await (await BotProcess(config, port, log).start()).stop()
    asks: list[str] = []
    for phase in phases:
        for i in range(kills):
            body = f"!ping {phase} {i}"  # the faulty run dies on exactly this command
            bot = await BotProcess(config, port, log, faults=f"{phase}={body}").start()
            asks.append(await world.customer.send(world.support, body))
            code = await bot.wait_exit(60)
            assert code == -signal.SIGKILL, (phase, code, bot.tail())
    bot = await BotProcess(config, port, log).start()
    try:
        marker = await world.customer.send(world.support, "!ping")
        for ask in [*asks, marker]:
            await world.customer.wait_reply(ask, world.bot.user_id, timeout=60)
    finally:
        assert await bot.stop() == 0, bot.tail()
    msgs = bot_messages(
        world.server, world.customer.account.access_token, world.support, world.bot.user_id
    )
    return {ask: len(replies_to(msgs, ask)) for ask in [*asks, marker]}


# ---- RT replies relayed into the thread ---------------------------------------------------


def rt_toml(rt: RTInstance) -> str:
    q = json.dumps
    return f"""
[rt]
url = {q(rt.url)}
token = {q(rt.token)}
queue = {q(rt.queue)}
poll_interval_seconds = 0.3
outbox_retry_seconds = 0.5
retries = 1
retry_backoff_seconds = 0.05

[knowledge]
semantic = false  # not what these runs test; saves each start the model load

[support]
enabled = false
"""


async def rt_agent(rt: RTInstance, method: str, path: str, payload: dict[str, Any]) -> Any:
    """A call to RT's REST 2.0 as the agent (a person in RT, not the bot)."""
    async with (
        aiohttp.ClientSession() as s,
        s.request(
            method,
            f"{rt.rest_url}{path}",
            json=payload,
            headers={"Authorization": aiohttp.encode_basic_auth(*rt.agent_auth)},
        ) as r,
    ):
        assert r.status in (200, 201), await r.text()
        return await r.json(content_type=None)


def _bodies(world: World) -> list[str]:
    msgs = bot_messages(
        world.server, world.engineer.account.access_token, world.support, world.bot.user_id
    )
    return [str((m.get("content") or {}).get("body", "")) for m in msgs]


async def _until_relayed(world: World, markers: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        bodies = await asyncio.to_thread(_bodies, world)
        missing = [m for m in markers if not any(m in b for b in bodies)]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"never relayed: {missing}")
        await asyncio.sleep(0.3)


async def _escalate(world: World) -> int:
    root = await world.customer.send(world.support, f"relay faults {time.time_ns()}")
    await world.engineer.send(
        world.support, "!ticket --requestor relay@example.com", thread_root=root
    )
    created = await world.engineer.wait_for(
        lambda e: e.sender == world.bot.user_id and "Escalated to RT#" in e.body, timeout=60
    )
    found = re.search(r"RT#(\d+)", created.body)
    assert found, created.body
    return int(found.group(1))


async def relay_kill_and_restart(
    world: World,
    rt: RTInstance,
    phases: list[str],
    kills: int,
    *,
    new_device_every: int = 0,
) -> dict[str, int]:
    """One escalated thread; per phase, ``kills`` RT replies, each killing the run relaying it
    (every ``new_device_every``-th kill also loses the session: a new device). A clean run
    then relays what is left. Returns, per reply, how many times it is in the room."""
    port = free_port()
    config = bot_config(world, port, rt_toml(rt))
    log = world.data_dir.parent / "bot.log"
    plan = [
        (phase, f"rt reply {phase} {i} {time.time_ns()}") for phase in phases for i in range(kills)
    ]
    ticket: int | None = None
    for n, (phase, marker) in enumerate(plan, 1):
        bot = BotProcess(config, port, log, faults=f"{phase}={marker}")
        await bot.start(wait_ready=ticket is None)
        try:
            if ticket is None:  # the first run escalates the thread, then relays its reply
                ticket = await _escalate(world)
            await rt_agent(
                rt,
                "POST",
                f"/ticket/{ticket}/correspond",
                {"Content": marker, "ContentType": "text/plain"},
            )
            code = await bot.wait_exit(60)
        finally:
            await bot.stop()  # only if it is still running (it never got to the reply)
        assert code == -signal.SIGKILL, (phase, code, bot.tail())
        if new_device_every and n % new_device_every == 0:
            (world.data_dir / "session.json").unlink()
    markers = [m for _, m in plan]
    assert ticket is not None
    last = f"rt reply after the faults {time.time_ns()}"
    await rt_agent(
        rt, "POST", f"/ticket/{ticket}/correspond", {"Content": last, "ContentType": "text/plain"}
    )
    bot = await BotProcess(config, port, log).start()
    try:
        # RT transactions are relayed in id order: once the last is in, all before it are.
        await _until_relayed(world, [*markers, last])
    finally:
        assert await bot.stop() == 0, bot.tail()
    bodies = await asyncio.to_thread(_bodies, world)
    return {m: sum(m in b for b in bodies) for m in [*markers, last]}
