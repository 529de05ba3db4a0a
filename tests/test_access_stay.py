"""Staying in, on a real Synapse: revocation, expiry (injected time), enforcement, imports."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.cli import main as cli_main
from harness.matrix_helpers import World, running_bot
from tests.access_helpers import (
    Clock,
    access_config,
    add_org,
    ask,
    dm_from_bot,
    membership,
    newcomer,
    open_dm,
    staff_line,
)


def cli_config(world: World, tmp_path: Path) -> Path:
    """The same data dir as the bot, for ``backchannel orgs ...``."""
    path = tmp_path / "backchannel.toml"
    path.write_text(
        f"""
[matrix]
homeserver = {json.dumps(world.server.url)}
user_id = {json.dumps(world.bot.user_id)}
password = {json.dumps(world.bot.password)}
[rooms]
support = {json.dumps(world.support)}
staff = {json.dumps(world.staff)}
[bot]
data_dir = {json.dumps(str(world.data_dir))}
"""
    )
    return path


async def cli(*argv: str) -> int:
    return await asyncio.to_thread(cli_main, list(argv))


async def test_revoke_kicks_and_bad_admin_input_changes_nothing(world: World) -> None:
    async with running_bot(access_config(world)) as app:
        await add_org(app, "ACME", products="SUPPORT-standard", homeservers="other.example")
        person = await newcomer(world, "dan")
        admin, bot = world.admin, world.bot.user_id

        for bad, expect in (
            ("!access grant dan ACME", "not a Matrix id"),
            (f"!access grant {person.user_id} NOSUCH", "no organisation NOSUCH"),
            (f"!access grant {person.user_id} ACME --until yesterday", "not a date"),
            (f"!access revoke {person.user_id}", "no grant to revoke"),
        ):
            sent = await admin.send(world.staff, bad)
            assert expect in (await admin.wait_reply(sent, bot)).body, bad
        assert await app.services.access.member(person.user_id) is None

        sent = await admin.send(
            world.staff, f"!access grant {person.user_id} acme --until 2099-12-31"
        )
        assert "until 2099-12-31" in (await admin.wait_reply(sent, bot)).body
        await world.engineer.wait_for(membership(world, person.user_id, "join"), 20)

        sent = await admin.send(world.staff, f"!access revoke {person.user_id} left the company")
        assert "removed from the room" in (await admin.wait_reply(sent, bot)).body
        kick = await world.engineer.wait_for(membership(world, person.user_id, "leave", by=bot))
        assert kick.content.get("reason") == "left the company"
        await person.wait_for(dm_from_bot(world, "no longer have access", "left the company"), 20)
        await admin.wait_for(staff_line(world, "revoked", person.user_id, world.admin.user_id))

        sent = await admin.send(world.staff, f"!access show {person.user_id}")
        shown = (await admin.wait_reply(sent, bot)).body
        assert f"revoked by {world.admin.user_id}: left the company" in shown
        assert f"granted by {world.admin.user_id}" in shown


async def test_expiry_kicks_with_injected_time(world: World) -> None:
    clock = Clock()
    async with running_bot(access_config(world), clock=clock) as app:
        await add_org(app, "ACME", products="SUPPORT-standard")
        person = await newcomer(world, "eve")
        sent = await world.admin.send(
            world.staff, f"!access grant {person.user_id} ACME --until 2031-01-01"
        )
        await world.admin.wait_reply(sent, world.bot.user_id)
        await world.engineer.wait_for(membership(world, person.user_id, "join"), 20)
        assert (await app.services.access.member(person.user_id)).state == "granted"  # type: ignore[union-attr]
        ping = await person.send(world.support, "!ping")  # the bot has judged her join by now
        await person.wait_reply(ping, world.bot.user_id)

        clock.jump_to(datetime(2031, 1, 2, 1, 0, tzinfo=UTC))  # no sleeping through a year
        kick = await world.engineer.wait_for(
            membership(world, person.user_id, "leave", by=world.bot.user_id), 20
        )
        assert "2031-01-01" in kick.content.get("reason", "")
        await person.wait_for(dm_from_bot(world, "ended on 2031-01-01"), 20)
        await world.admin.wait_for(staff_line(world, "expired", person.user_id))
        assert (await app.services.access.member(person.user_id)).state == "expired"  # type: ignore[union-attr]


async def test_start_sweep_stranger_removed_staff_kept(world: World, tmp_path: Path) -> None:
    cfg = cli_config(world, tmp_path)
    registry = tmp_path / "crm.csv"
    registry.write_text(
        "id,name,products,contract_end,email_domains,homeservers,contacts\n"
        "ACME,Acme AB,SUPPORT-standard,,acme.example,other.example,\n"
    )
    assert await cli("orgs", "import", str(registry), "--config", str(cfg)) == 0
    token = world.admin.account.access_token
    api = world.server.api
    async with running_bot(access_config(world)):
        bot = world.bot.user_id
        # The start check found the customer in the room without a grant.
        await world.engineer.wait_for(
            membership(world, world.customer.user_id, "leave", by=bot), 20
        )

        # A configured engineer who leaves and is invited back by hand stays.
        await world.engineer.client.room_leave(world.support)
        api(
            "POST",
            f"/_matrix/client/v3/rooms/{world.support}/invite",
            token,
            {"user_id": world.engineer.user_id},
        )
        # So does someone the admin gave power level 50 (an engineer by power level).
        helper = await newcomer(world, "helper")
        pl_path = f"/_matrix/client/v3/rooms/{world.support}/state/m.room.power_levels/"
        levels = api("GET", pl_path, token)
        levels["users"][helper.user_id] = 50
        api("PUT", pl_path, token, levels)
        api(
            "POST",
            f"/_matrix/client/v3/rooms/{world.support}/invite",
            token,
            {"user_id": helper.user_id},
        )
        await world.admin.wait_for(membership(world, helper.user_id, "join"), 20)

        # A stranger invited by hand is removed, told, and the staff room hears of it.
        stranger = await newcomer(world, "mallory")
        api(
            "POST",
            f"/_matrix/client/v3/rooms/{world.support}/invite",
            token,
            {"user_id": stranger.user_id},
        )
        await world.admin.wait_for(membership(world, stranger.user_id, "leave", by=bot), 20)
        await world.admin.wait_for(staff_line(world, "removed", stranger.user_id))
        await stranger.wait_for(dm_from_bot(world, "no longer have access", "!join"), 20)

        # Events are handled in order: by now the engineer's and helper's joins were judged.
        for staff in (world.engineer.user_id, helper.user_id, world.admin.user_id):
            assert not [
                e for e in world.admin.events if membership(world, staff, "leave", by=bot)(e)
            ], staff


async def test_import_bad_line_changes_nothing_then_tier_loss_kicks(
    world: World, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = cli_config(world, tmp_path)
    good = tmp_path / "orgs.toml"
    good.write_text(
        '[[org]]\nid = "ACME"\nname = "Acme AB"\nproducts = ["SUPPORT-standard"]\n'
        'homeservers = ["localhost"]\n'
    )
    async with running_bot(access_config(world)) as app:
        assert await cli("orgs", "import", str(good), "--config", str(cfg)) == 0
        person = await newcomer(world, "fay")
        dm = await open_dm(person, world)
        assert "Welcome" in (await ask(person, world, dm, "!join ACME")).body
        await world.engineer.wait_for(membership(world, person.user_id, "join"), 20)
        generation = await app.services.access.generation()
        before = await app.services.access.export("toml")

        bad = tmp_path / "bad.toml"
        bad.write_text(
            "[[org]]\n"  # 1
            'id = "ACME"\n'  # 2
            'name = "Acme AB"\n'  # 3
            'products = ["SUPPORT-iaas.base"]\n'  # 4
            "\n"  # 5
            "[[org]]\n"  # 6
            'id = "NEWCO"\n'  # 7
            'name = "New Co"\n'  # 8
            'contract_end = "2026-02-30"\n'  # 9: no such day
        )
        capsys.readouterr()
        assert await cli("orgs", "import", str(bad), "--config", str(cfg)) == 2
        err = capsys.readouterr().err
        assert f"{bad}:9: field contract_end" in err and "nothing was changed" in err
        assert await app.services.access.export("toml") == before
        assert await app.services.access.generation() == generation
        assert await app.services.access.org("NEWCO") is None

        # The fixed file goes in; ACME lost the tier, so its member is removed.
        bad.write_text(bad.read_text().replace("2026-02-30", "2027-02-28"))
        assert await cli("orgs", "import", str(bad), "--config", str(cfg)) == 0
        kick = await world.engineer.wait_for(
            membership(world, person.user_id, "leave", by=world.bot.user_id), 20
        )
        assert "SUPPORT-standard" in kick.content.get("reason", "")
        await person.wait_for(dm_from_bot(world, "no longer have access"), 20)
        assert (await app.services.access.member(person.user_id)).state == "revoked"  # type: ignore[union-attr]

        capsys.readouterr()
        assert await cli("orgs", "export", "--format", "csv", "--config", str(cfg)) == 0
        out = capsys.readouterr().out
        assert out.splitlines()[0].startswith("id,name,products")
        assert "NEWCO,New Co,,2027-02-28" in out


async def test_orgs_and_list_commands(world: World) -> None:
    async with running_bot(access_config(world)) as app:
        admin, bot = world.admin, world.bot.user_id

        async def say(text: str) -> str:
            sent = await admin.send(world.staff, text)
            return (await admin.wait_reply(sent, bot)).body

        assert "registry is empty" in await say("!orgs list")
        bad = await say('!orgs add ACME "Acme AB" --products "SUPPORT gold"')
        assert "products" in bad and "Usage" in bad
        assert await app.services.access.org("ACME") is None
        added = await say(
            '!orgs add acme "Acme AB" --products SUPPORT-standard,SUPPORT-iaas.base '
            "--homeservers localhost --domains acme.example --contract-end 2099-01-31"
        )
        assert added.startswith("Added ACME Acme AB")
        shown = await say("!orgs show ACME")
        assert "may use the room" in shown and "localhost" in shown and "2099-01-31" in shown
        assert "ACME" in await say("!orgs list")

        person = await newcomer(world, "gus")
        await say(f"!access grant {person.user_id} ACME")
        listed = await say("!access list ACME")
        assert person.user_id in listed and "granted" in listed
        assert "no organisation NOPE" in await say("!access list NOPE")
        # Engineers may look but not change.
        sent = await world.engineer.send(world.staff, "!orgs remove ACME")
        assert "only for admins" in (await world.engineer.wait_reply(sent, bot)).body
        removed = await say("!orgs remove ACME")
        assert "1 member(s) with access lose it" in removed
        await world.engineer.wait_for(membership(world, person.user_id, "leave", by=bot), 20)
