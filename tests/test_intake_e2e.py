"""Crash safety of the sync path on a real Synapse: no replays, nothing lost, e2e works."""

from __future__ import annotations

from pathlib import Path

from harness.matrix_helpers import World, running_bot
from harness.synapse_server import Synapse
from harness.world import build_world


def pongs_for(world: World, ping_ids: list[str]) -> dict[str, int]:
    counts = dict.fromkeys(ping_ids, 0)
    for ev in world.customer.messages_from(world.bot.user_id, world.support):
        if ev.reply_to in counts and ev.body.startswith("Pong!") and not ev.is_edit:
            counts[ev.reply_to] += 1
    return counts


async def test_restart_does_not_replay_and_downtime_burst_is_handled_once(world: World) -> None:
    bot, c = world.bot.user_id, world.customer
    async with running_bot(world.config()):
        first = await c.send(world.support, "!ping")
        await c.wait_reply(first, bot)

    # 50 commands while the bot is down; on restart the timeline limit (10) forces backfill.
    missed = [await c.send(world.support, "!ping") for _ in range(50)]
    async with running_bot(world.config(matrix={"timeline_limit": 10})):
        marker = await c.send(world.support, "!ping")
        await c.wait_reply(marker, bot, timeout=60)
        for ping in missed:
            await c.wait_reply(ping, bot, timeout=30)
    counts = pongs_for(world, [first, *missed, marker])
    assert counts[first] == 1, "the command from before the restart was replayed"
    assert all(n == 1 for n in counts.values()), {k: v for k, v in counts.items() if v != 1}


async def test_history_before_the_bots_first_start_is_ignored(world: World) -> None:
    old = await world.customer.send(world.support, "!ping")
    async with running_bot(world.config()):
        marker = await world.customer.send(world.support, "!ping")
        await world.customer.wait_reply(marker, world.bot.user_id)
    assert pongs_for(world, [old])[old] == 0


async def test_works_in_an_encrypted_room(synapse: Synapse, tmp_path: Path) -> None:
    world = await build_world(synapse, tmp_path, encrypted=True)
    try:
        async with running_bot(world.config()):
            ask = await world.customer.send(world.support, "!ping")
            reply = await world.customer.wait_reply(ask, world.bot.user_id, timeout=30)
            assert reply.body.startswith("Pong!")
        # The device and its store are reused: a restart still decrypts and answers.
        async with running_bot(world.config()):
            ask = await world.customer.send(world.support, "!version")
            reply = await world.customer.wait_reply(ask, world.bot.user_id, timeout=30)
            assert reply.body.startswith("backchannel")
    finally:
        await world.stop()
