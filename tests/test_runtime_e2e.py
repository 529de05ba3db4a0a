"""Runtime surfaces on a real Synapse: invite policy, web endpoints, clean shutdown on SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import aiohttp
import nio

from harness.matrix_helpers import World, running_bot
from harness.synapse_server import free_port
from harness.world import create_room, make_person


async def test_invites_only_from_configured_rooms_or_known_people(world: World) -> None:
    stranger = await make_person(world.server, f"stranger-{os.getpid()}-{id(world)}")
    world.others["stranger"] = stranger
    async with running_bot(world.config()) as app:
        room = create_room(
            world.server, stranger.account.access_token, "random", [world.bot.user_id], {}
        )
        dm = create_room(
            world.server,
            world.engineer.account.access_token,
            "",
            [world.bot.user_id],
            {},
            is_direct=True,
        )
        matrix = app.services.matrix
        for _ in range(100):
            members = await matrix.joined_members(dm) if dm in matrix.client.rooms else []
            if world.bot.user_id in members:
                break
            await asyncio.sleep(0.1)
        assert dm in matrix.client.rooms, "a DM from a configured engineer is joined"
        resp = await stranger.client.joined_members(room)
        assert isinstance(resp, nio.JoinedMembersResponse)
        assert world.bot.user_id not in [m.user_id for m in resp.members]
        assert room not in matrix.client.rooms


async def test_health_ready_and_metrics(world: World) -> None:
    port = free_port()
    config = world.config(web={"enabled": True, "listen": f"127.0.0.1:{port}"})
    async with running_bot(config), aiohttp.ClientSession() as http:
        ask = await world.customer.send(world.support, "!ping")
        await world.customer.wait_reply(ask, world.bot.user_id)
        async with http.get(f"http://127.0.0.1:{port}/healthz") as resp:
            assert resp.status == 200
        async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
            assert resp.status == 200 and (await resp.json())["ready"] is True
        async with http.get(f"http://127.0.0.1:{port}/metrics") as resp:
            text = await resp.text()
        assert 'backchannel_commands_total{command="ping",outcome="ok"} 1.0' in text
        assert "backchannel_handler_seconds_bucket" in text
        assert "backchannel_sync_lag_seconds" in text


async def test_sigterm_stops_cleanly(world: World) -> None:
    port = free_port()
    config = world.data_dir.parent / "bot.toml"
    config.write_text(f"""
[matrix]
homeserver = "{world.server.url}"
user_id = "{world.bot.user_id}"
password = "{world.bot.password}"
sync_timeout_ms = 5000
[rooms]
support = "{world.support}"
staff = "{world.staff}"
[bot]
data_dir = "{world.data_dir}"
[web]
listen = "127.0.0.1:{port}"
""")
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot.cli",
        "run",
        "--config",
        str(config),
        stderr=asyncio.subprocess.PIPE,
    )
    async with aiohttp.ClientSession() as http:  # messages before the bot's first start are ignored
        for _ in range(300):
            try:
                async with http.get(f"http://127.0.0.1:{port}/readyz") as resp:
                    if resp.status == 200:
                        break
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    ask = await world.customer.send(world.support, "!ping")
    await world.customer.wait_reply(ask, world.bot.user_id, timeout=30)
    proc.send_signal(signal.SIGTERM)
    _, err = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert b"stopping" in err
