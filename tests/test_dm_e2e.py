"""The bot opens an encrypted DM with someone it never shared a room with; they can read it."""

from __future__ import annotations

from pathlib import Path

from harness.matrix_helpers import World, running_bot
from harness.world import make_person


async def test_bot_dm_to_a_stranger_is_readable(world: World, tmp_path: Path) -> None:
    e2e = tmp_path / "e2e-dm-stranger"
    e2e.mkdir()
    stranger = await make_person(world.server, f"dmstranger{id(world) % 100000}", e2e_dir=e2e)
    world.others["dm"] = stranger
    async with running_bot(world.config()) as app:
        await app.services.matrix.send_dm(stranger.user_id, "hello <b>there</b>", "hello there")
        await app.services.matrix.send_dm(stranger.user_id, "second", "second")
        first = await stranger.wait_for(
            lambda e: e.sender == world.bot.user_id and e.body == "hello there", 20
        )
        second = await stranger.wait_for(
            lambda e: e.sender == world.bot.user_id and e.body == "second", 20
        )
        assert first.room_id == second.room_id not in (world.support, world.staff)
