"""Fresh rooms and people on a real Synapse: what tests/, demo/ and benchmarks/ build on."""

from __future__ import annotations

import itertools
from pathlib import Path

import nio

from harness.matrix_helpers import Person, World
from harness.synapse_server import Synapse

_counter = itertools.count()


async def make_person(
    server: Synapse, name: str, *, admin: bool = False, e2e_dir: Path | None = None
) -> Person:
    person = Person(server, server.register(name, admin=admin), e2e_dir=e2e_dir)
    await person.start()
    return person


def create_room(
    server: Synapse,
    creator_token: str,
    name: str,
    invite: list[str],
    power: dict[str, int],
    *,
    encrypted: bool = False,
    is_direct: bool = False,
) -> str:
    body: dict[str, object] = {
        "name": name,
        "preset": "private_chat",
        "invite": invite,
        "power_level_content_override": {"users": power},
    }
    if is_direct:
        body["is_direct"] = True  # what clients send for a DM; the bot joins no other kind
    if encrypted:
        body["initial_state"] = [
            {
                "type": "m.room.encryption",
                "state_key": "",
                "content": {"algorithm": "m.megolm.v1.aes-sha2"},
            }
        ]
    resp = server.api("POST", "/_matrix/client/v3/createRoom", creator_token, body)
    assert "room_id" in resp, resp
    return resp["room_id"]


async def build_world(server: Synapse, tmp_path: Path, *, encrypted: bool = False) -> World:
    """Fresh accounts and rooms: the admin creates both rooms (v12: creator, not in power levels)."""
    n = next(_counter)
    e2e = (lambda who: tmp_path / f"e2e-{who}") if encrypted else (lambda who: None)
    for who in ("admin", "engineer", "customer"):
        if encrypted:
            (tmp_path / f"e2e-{who}").mkdir()
    admin = await make_person(server, f"admin{n}", e2e_dir=e2e("admin"))
    engineer = await make_person(server, f"engineer{n}", e2e_dir=e2e("engineer"))
    customer = await make_person(server, f"customer{n}", e2e_dir=e2e("customer"))
    bot = server.register(f"bot{n}")
    power = {bot.user_id: 100, engineer.user_id: 50}
    support = create_room(
        server,
        admin.account.access_token,
        f"Support {n}",
        [bot.user_id, engineer.user_id, customer.user_id],
        power,
        encrypted=encrypted,
    )
    staff = create_room(
        server,
        admin.account.access_token,
        f"Staff {n}",
        [bot.user_id, engineer.user_id],
        power,
        encrypted=encrypted,
    )
    for person, rooms in ((engineer, (support, staff)), (customer, (support,))):
        for room in rooms:
            resp = await person.client.join(room)
            assert isinstance(resp, nio.JoinResponse), resp
    data_dir = tmp_path / "bot-data"
    return World(
        server=server,
        support=support,
        staff=staff,
        bot=bot,
        admin=admin,
        engineer=engineer,
        customer=customer,
        data_dir=data_dir,
    )
