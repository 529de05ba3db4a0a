"""Encrypted rooms with today's Element: the bot's device is cross-signed.

The customer is matrix-js-sdk 34.13 (Element's SDK, Rust crypto) with its own
cross-signing and OnlySignedDevicesIsolationMode: it shares room keys only with,
and shows messages only from, devices their owner cross-signed. Before this the
bot (matrix-nio, no cross-signing) read nothing such a client wrote.
"""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import aiohttp
import canonicaljson
import nacl.signing
import pytest
from unpaddedbase64 import decode_base64

from bot.matrix.cross_signing import SigningKey, StoredKeys, canonical_json, keys_path, load_keys
from bot.matrix.undecryptable import PendingDecryption
from bot.online_checks import check_online
from harness.js_client import JsClient, js_available
from harness.matrix_helpers import World, running_bot
from harness.shared_data import DOCS
from harness.synapse_server import Synapse, free_port
from harness.world import build_world

pytestmark = pytest.mark.skipif(js_available() is not None, reason=str(js_available()))

QUESTION = "how do i create application credentials from the command line?"
_n = itertools.count()


def nacl_verifies(obj: dict, user_id: str, public_key: str) -> bool:
    """Independent check: PyNaCl over Synapse's canonicaljson, not our own code."""
    signature = obj["signatures"][user_id][f"ed25519:{public_key}"]
    stripped = {k: v for k, v in obj.items() if k not in ("signatures", "unsigned")}
    try:
        nacl.signing.VerifyKey(decode_base64(public_key)).verify(
            canonicaljson.encode_canonical_json(stripped), decode_base64(signature)
        )
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def test_signatures_verify_over_canonical_json() -> None:
    key = SigningKey.generate()
    obj = {"user_id": "@bot:localhost", "usage": ["self_signing"], "b": "é ü", "unsigned": {"x": 1}}
    signed = key.sign(obj, "@bot:localhost")
    assert canonical_json(signed) == canonicaljson.encode_canonical_json(
        {k: v for k, v in obj.items() if k != "unsigned"}
    )
    assert nacl_verifies(signed, "@bot:localhost", key.public)
    assert not nacl_verifies({**signed, "b": "tampered"}, "@bot:localhost", key.public)
    # The stored seed gives back the same key pair.
    keys = StoredKeys.generate("@bot:localhost")
    assert keys.key("master").public == SigningKey(keys.key("master").seed).public


def server_shows_signed(world: World, token: str, device_id: str) -> bool:
    """The homeserver's /keys/query: master -> self-signing -> this device, checked with PyNaCl."""
    user = world.bot.user_id
    q = world.server.api(
        "POST", "/_matrix/client/v3/keys/query", token, {"device_keys": {user: []}}
    )
    master = next(iter(q["master_keys"][user]["keys"].values()))
    ssk_obj = q["self_signing_keys"][user]
    ssk = next(iter(ssk_obj["keys"].values()))
    device = q["device_keys"][user][device_id]
    return nacl_verifies(ssk_obj, user, master) and nacl_verifies(device, user, ssk)


async def js_customer(world: World, tmp_path: Path) -> JsClient:
    name = f"jscust{next(_n)}x{id(world) % 10000}"
    account = world.server.register(name)
    resp = world.server.api(
        "POST",
        f"/_matrix/client/v3/rooms/{world.support}/invite",
        world.admin.account.access_token,
        {"user_id": account.user_id},
    )
    assert "_status" not in resp, resp
    js = await JsClient(
        world.server.url, account.user_id, account.password, tmp_path / f"{name}.log"
    ).start()
    assert await js.join(world.support)  # encrypted
    return js


async def ping(js: JsClient, world: World, thread_root: str | None = None) -> None:
    ask = await js.send(world.support, "!ping", thread_root)
    reply = await js.wait_reply(ask, world.bot.user_id, timeout=30)
    assert reply.body and reply.body.startswith("Pong!")
    assert reply.encrypted and not reply.decryption_failure
    assert reply.thread_root == (thread_root or ask)


async def readyz(port: int) -> dict:
    # The bot's web server runs in this event loop: a blocking client would deadlock it.
    async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{port}/readyz") as r:
        return await r.json()


async def test_element_customer_in_an_encrypted_room(synapse: Synapse, tmp_path: Path) -> None:
    world = await build_world(synapse, tmp_path, encrypted=True)
    port = free_port()
    knowledge = {"docs_dir": str(DOCS), "cache_dir": str(tmp_path / "kb")} if DOCS.is_dir() else {}
    config = world.config(web={"enabled": True, "listen": f"127.0.0.1:{port}"}, knowledge=knowledge)
    bot = world.bot.user_id
    js: JsClient | None = None
    try:
        async with running_bot(config) as app:
            matrix = app.services.matrix
            first_device = matrix.client.device_id
            assert matrix.cross_signing.cross_signed, matrix.cross_signing.reason
            assert server_shows_signed(world, matrix.client.access_token, first_device)
            ready = await readyz(port)
            assert ready["ready"] and ready["cross_signed"] is True
            assert keys_path(world.data_dir).stat().st_mode & 0o777 == 0o600
            assert keys_path(world.data_dir).parent.stat().st_mode & 0o777 == 0o700

            js = await js_customer(world, tmp_path)
            assert await js.device_signed(bot, first_device)
            await ping(js, world)
            ask = await js.send(world.support, "!help")
            help_reply = await js.wait_reply(ask, bot, timeout=30)
            assert help_reply.encrypted and "!ping" in (help_reply.body or "")
            if knowledge:
                ask = await js.send(world.support, QUESTION)
                answer = await js.wait_reply(ask, bot, timeout=60)
                assert answer.encrypted and answer.thread_root == ask
                assert "docs.safespring.com" in (answer.body or "")
            # A DM the bot opens (encrypted) decrypts in the js client too.
            await matrix.send_dm(js.user_id, "hello from the bot", "hello from the bot")
            dm = await js.wait_message(
                lambda m: m.sender == bot and m.body == "hello from the bot", timeout=30
            )
            assert dm.encrypted and dm.room_id != world.support
            assert app.metrics.undecryptable._value.get() == 0

        # Restart with the same store: same device, still signed, still answered.
        async with running_bot(config) as app:
            assert app.services.matrix.client.device_id == first_device
            assert app.services.matrix.cross_signing.cross_signed
            await ping(js, world)

        # Lost store: a new device, re-signed from the stored keys; the customer does nothing.
        shutil.rmtree(world.data_dir / "e2e-store")
        stored = load_keys(keys_path(world.data_dir), bot)
        async with running_bot(config) as app:
            matrix = app.services.matrix
            assert matrix.client.device_id != first_device
            assert matrix.cross_signing.cross_signed, matrix.cross_signing.reason
            assert matrix.cross_signing.master_key == stored.key("master").public  # same identity
            assert server_shows_signed(world, matrix.client.access_token, matrix.client.device_id)
            assert await js.device_signed(bot, matrix.client.device_id)
            await ping(js, world)
    finally:
        if js:
            await js.stop()
        await world.stop()


async def test_keys_on_the_server_without_ours_need_the_reset_flag(
    world: World, capsys: pytest.CaptureFixture[str]
) -> None:
    bot = world.bot.user_id
    async with running_bot(world.config()) as app:
        first = app.services.matrix.cross_signing
        assert first.cross_signed
    keys_path(world.data_dir).unlink()  # the private halves are gone, the server still has keys
    async with running_bot(world.config()) as app:
        assert app.services.matrix.cross_signing.cross_signed  # this device was signed before
    shutil.rmtree(world.data_dir / "e2e-store")  # and now a new device that nobody can sign
    async with running_bot(world.config()) as app:
        status = app.services.matrix.cross_signing
        assert not status.cross_signed and "reset_cross_signing" in status.reason
        assert app.services.matrix.cross_signed_for_readiness() is False
        assert not keys_path(world.data_dir).exists()
    problems = await check_online(world.config())
    assert len(problems) == 1 and "is not cross-signed" in problems[0]
    # Replacing keys needs the password (user-interactive auth): a token alone says so.
    token_only = {"password": None, "access_token": "unused: the saved session is reused"}
    async with running_bot(world.config(matrix={**token_only, "reset_cross_signing": True})) as app:
        status = app.services.matrix.cross_signing
        assert not status.cross_signed and "matrix.password_file" in status.reason
    async with running_bot(world.config(matrix={"reset_cross_signing": True})) as app:
        status = app.services.matrix.cross_signing
        assert status.cross_signed and status.master_key != first.master_key
        assert load_keys(keys_path(world.data_dir), bot) is not None
    capsys.readouterr()
    assert await check_online(world.config()) == []
    assert "cross-signed by the bot's self-signing key" in capsys.readouterr().out


def test_kept_undecryptable_events_are_retried_bounded_and_expire() -> None:
    now = [0.0]
    pending = PendingDecryption(max_events=2, max_age_s=60, clock=lambda: now[0])

    def raw(event_id: str, session: str) -> dict:
        return {
            "event_id": event_id,
            "type": "m.room.encrypted",
            "content": {"session_id": session},
        }

    assert pending.park("!r", raw("$1", "s1")) and not pending.park("!r", raw("$1", "s1"))
    pending.park("!r", raw("$2", "s2"))
    keys = {"s2"}

    def decrypt(_room: str, ev: dict) -> dict | None:
        return {**ev, "type": "m.room.message"} if ev["content"]["session_id"] in keys else None

    assert [e["event_id"] for _, e in pending.retry(decrypt, {"s2"})] == ["$2"]
    assert pending.retry(decrypt, {"s1"}) == [] and len(pending) == 1  # key not there yet
    pending.park("!r", raw("$3", "s3"))
    pending.park("!r", raw("$4", "s4"))  # over the bound: the oldest ($1) goes
    assert pending.sessions() == {"s3", "s4"} and pending.expired == 1
    now[0] = 61.0
    keys.update({"s3", "s4"})
    assert pending.retry(decrypt) == [] and len(pending) == 0 and pending.expired == 3
