"""Redactions under the homeserver's rate limit, on a Synapse of its own that enforces one.

The shared test Synapse lifts every limit; this one keeps `rc_admin_redaction` (what Synapse
applies to redacting someone else's message) at 1 per second with a burst of 3, as a busy
homeserver would. nio's own 429 retries are off (`max_retries: 0`), so every refusal reaches
the bot's queue, which must wait `retry_after_ms`, keep the order, and drop nothing, also
across a restart.
"""

from __future__ import annotations

import collections
import sqlite3
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import yaml

from harness.matrix_helpers import World, running_bot
from harness.synapse_server import Synapse, free_port
from harness.world import build_world
from tests.test_moderation_e2e import ping, staff_line

LIMIT = {"per_second": 1, "burst_count": 3}


class LimitedSynapse(Synapse):
    def _patch_config(self) -> None:
        super()._patch_config()
        cfg = yaml.safe_load(self.config_path.read_text())
        cfg["rc_admin_redaction"] = LIMIT
        self.config_path.write_text(yaml.safe_dump(cfg))


@pytest.fixture(scope="module")
def limited_synapse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Synapse]:
    server = LimitedSynapse(tmp_path_factory.mktemp("synapse-limited"), free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
async def limited_world(limited_synapse: Synapse, tmp_path: Path) -> AsyncIterator[World]:
    w = await build_world(limited_synapse, tmp_path)
    try:
        yield w
    finally:
        await w.stop()


def config(world: World):  # type: ignore[no-untyped-def]
    return world.config(
        matrix={"encryption": False, "max_retries": 0}, moderation={"flood": {"enabled": False}}
    )


def queue_rows(world: World) -> list[tuple[str, str, int]]:
    db = sqlite3.connect(world.data_dir / "backchannel.sqlite3")
    try:
        return db.execute(
            "SELECT event_id, state, attempts FROM moderation_redactions ORDER BY id"
        ).fetchall()
    finally:
        db.close()


def redactions_seen(world: World) -> collections.Counter[str]:
    return collections.Counter(
        ev.relates_to or "" for ev in world.engineer.events if ev.kind == "redaction"
    )


async def all_redacted(world: World, ids: list[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for event_id in ids:
        await world.engineer.wait_for(
            lambda ev, eid=event_id: ev.kind == "redaction" and ev.relates_to == eid,  # type: ignore[misc]
            max(1.0, deadline - time.monotonic()),
        )


async def test_redact_50_under_the_rate_limit_all_exactly_once(limited_world: World) -> None:
    w = limited_world
    c, e = w.customer, w.engineer
    async with running_bot(config(w)):
        sent = [await c.send(w.support, f"spam {i}") for i in range(50)]
        await ping(e, w)
        started = time.monotonic()
        ask = await e.send(w.support, f"!redact {c.user_id} 50")
        answer = await e.wait_reply(ask, w.bot.user_id, timeout=30)
        assert "queued" in answer.body  # more than the burst: the rest waits its turn
        await all_redacted(w, sent, 180)
        took = time.monotonic() - started
        done = await e.wait_for(staff_line(w, "queued redactions are done", "50 redacted"), 30)
        assert "failed" not in done.body
        await ping(e, w)
    print(f"\n50 redactions under rc_admin_redaction {LIMIT}: {took:.1f} s")
    seen = redactions_seen(w)
    assert {eid: seen[eid] for eid in sent} == dict.fromkeys(sent, 1)
    rows = queue_rows(w)
    assert [r[0] for r in rows] == sent  # queued in the order they were sent
    assert {r[1] for r in rows} == {"done"}
    assert sum(r[2] for r in rows) > len(sent)  # the server refused some, and they were retried


async def test_pending_redactions_survive_a_restart(limited_world: World) -> None:
    w = limited_world
    c, e = w.customer, w.engineer
    async with running_bot(config(w)):
        sent = [await c.send(w.support, f"raid {i}") for i in range(20)]
        await ping(e, w)
        ask = await e.send(w.support, f"!redact {c.user_id} 20")
        answer = await e.wait_reply(ask, w.bot.user_id, timeout=30)
        assert "queued" in answer.body
    pending = [r for r in queue_rows(w) if r[1] == "pending"]
    assert pending, "the bot stopped with nothing left in its queue"
    async with running_bot(config(w)):
        await all_redacted(w, sent, 120)
        await e.wait_for(staff_line(w, "queued redactions are done", "20 redacted"), 30)
        await ping(e, w)
    seen = redactions_seen(w)
    assert {eid: seen[eid] for eid in sent} == dict.fromkeys(sent, 1)
    assert {r[1] for r in queue_rows(w)} == {"done"}


async def test_override_ratelimit_lifts_the_limit_for_the_bot(limited_world: World) -> None:
    """The operator's fix the README documents, checked on the same rate-limited Synapse."""
    w = limited_world
    c, e = w.customer, w.engineer
    server_admin = w.server.register(f"hsadmin{id(w) % 100000}", admin=True)
    path = f"/_synapse/admin/v1/users/{w.bot.user_id}/override_ratelimit"
    resp = w.server.api(
        "POST", path, server_admin.access_token, {"messages_per_second": 0, "burst_count": 0}
    )
    assert resp == {"messages_per_second": 0, "burst_count": 0}, resp
    try:
        async with running_bot(config(w)):
            sent = [await c.send(w.support, f"raid {i}") for i in range(12)]
            await ping(e, w)
            ask = await e.send(w.support, f"!redact {c.user_id} 12")
            await e.wait_reply(ask, w.bot.user_id, timeout=30)
            await all_redacted(w, sent, 60)
            await ping(e, w)
    finally:
        w.server.api("DELETE", path, server_admin.access_token)
    rows = queue_rows(w)
    assert [r[1:] for r in rows] == [("done", 1)] * 12  # not one refusal


async def test_a_refused_redaction_fails_once_and_does_not_block_the_queue(world: World) -> None:
    """M_FORBIDDEN (the bot lost its power) is not retried forever: it fails, the line says so."""
    c, e = world.customer, world.engineer
    async with running_bot(config(world)) as app:
        sent = await c.send(world.support, "keep me")
        await ping(e, world)
        path = f"/_matrix/client/v3/rooms/{world.support}/state/m.room.power_levels/"
        token = world.admin.account.access_token
        levels = world.server.api("GET", path, token)
        levels["users"] = {**levels.get("users", {}), world.bot.user_id: 0}
        assert "event_id" in world.server.api("PUT", path, token, levels)
        await ping(e, world)
        ask = await e.send(world.support, f"!redact {c.user_id} 1")
        answer = await e.wait_reply(ask, world.bot.user_id, timeout=30)
        assert "failed" in answer.body.lower()
        rows = await app.services.store.fetchall(
            "SELECT state, attempts FROM moderation_redactions WHERE event_id=?", (sent,)
        )
        assert [(r["state"], r["attempts"]) for r in rows] == [("failed", 1)]
        assert await app.services.moderation.redactions.pending() == 0
    assert sent not in {ev.relates_to for ev in e.events if ev.kind == "redaction"}
