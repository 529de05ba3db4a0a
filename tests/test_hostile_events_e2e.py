"""No content a customer can send stops the bot (issue 10), on a real Synapse.

Malformed relations from the issue and a seeded fuzz are sent raw through the
client-server API as the customer; the bot must answer every ``!ping`` exactly
once (counted in Synapse itself), count what it could not read, and survive a
restart on the same data dir with the same events waiting.
"""

from __future__ import annotations

import random
from typing import Any

import nio

from bot.events import Kind, parse_event
from harness.botproc import bot_messages, replies_to
from harness.matrix_helpers import World, running_bot

# The reproducers: each once as a plain message and once as a !ping.
MALFORMED_RELATIONS: list[Any] = [
    {"m.in_reply_to": {"event_id": 5}},
    {"rel_type": "m.thread", "event_id": True},
    {"m.in_reply_to": 5},
    {"rel_type": "m.thread", "event_id": None, "m.in_reply_to": []},
    5,
    [],
    "m.thread",
]


async def send_raw(
    world: World, content: Any, event_type: str = "m.room.message", *, may_refuse: bool = False
) -> str:
    resp = await world.customer.client.room_send(world.support, event_type, content)
    if may_refuse and not isinstance(resp, nio.RoomSendResponse):
        return ""  # Synapse refused it: it never reaches the bot
    assert isinstance(resp, nio.RoomSendResponse), resp
    return resp.event_id


async def hostile_batch(world: World, root: str) -> list[str]:
    """The issue's events; returns the ids of the !pings among them (each needs one reply)."""
    pings = []
    for rel in MALFORMED_RELATIONS:
        await send_raw(world, {"msgtype": "m.text", "body": "hello", "m.relates_to": rel})
        pings.append(
            await send_raw(world, {"msgtype": "m.text", "body": "!ping", "m.relates_to": rel})
        )
    await send_raw(
        world,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": [], "key": "👍"}},
        "m.reaction",
    )
    await send_raw(
        world,
        {"m.relates_to": {"rel_type": "m.annotation", "event_id": root, "key": 7}},
        "m.reaction",
        may_refuse=True,  # Synapse 1.16x checks an annotation's key
    )
    await send_raw(
        world,
        {
            "msgtype": "m.text",
            "body": "* !ping",
            "m.new_content": {"msgtype": "m.text", "body": "!ping"},
            "m.relates_to": {"rel_type": "m.replace", "event_id": {}},
        },
    )
    # Synapse may refuse wrong top-level types itself; whatever it accepts reaches the bot.
    await send_raw(
        world, {"msgtype": "m.text", "body": ["!ping"], "formatted_body": 5}, may_refuse=True
    )
    await send_raw(world, {"msgtype": "m.text", "body": "hi", "formatted_body": 5}, may_refuse=True)
    await send_raw(
        world, {"msgtype": 3, "body": {"x": 1}, "m.mentions": "everyone"}, may_refuse=True
    )
    # A relation that cannot root a thread: the answer is a plain reply.
    pings.append(
        await send_raw(
            world,
            {
                "msgtype": "m.text",
                "body": "!ping",
                "m.relates_to": {"rel_type": "m.reference", "event_id": root},
            },
        )
    )
    return pings


def random_value(rng: random.Random, good: list[Any]) -> Any:
    return rng.choice(
        [
            *good,
            None,
            True,
            False,
            0,
            -1,
            2**40,
            "",
            "x" * rng.randint(1, 300),
            [],
            [1, "a"],
            {},
            {"a": {"b": 1}},
        ]
    )


def fuzz_content(rng: random.Random, root: str) -> dict[str, Any]:
    """Random JSON types at every field the parser (and the protections) read."""
    rel: dict[str, Any] = {}
    for key, good in (
        ("rel_type", ["m.thread", "m.replace", "m.reference", "m.annotation"]),
        ("event_id", [root, "$nonexistent"]),
        ("m.in_reply_to", [{"event_id": root}, {"event_id": 5}]),
        ("key", ["👍", "🎫"]),
        ("is_falling_back", [True]),
    ):
        if rng.random() < 0.6:
            rel[key] = random_value(rng, good)
    content: dict[str, Any] = {}
    for key, good in (
        ("msgtype", ["m.text", "m.notice", "m.image"]),
        ("body", ["!ping", "hello there", "!help"]),
        ("format", ["org.matrix.custom.html"]),
        ("formatted_body", ["<b>hi</b>", "<a href='https://x.example'>x</a>"]),
        ("m.new_content", [{"body": "!ping"}, {"body": 5}]),
        ("m.mentions", [{"user_ids": ["@a:b"]}, {"room": True}, {"user_ids": 5}]),
        ("url", ["mxc://localhost/abc"]),
    ):
        if rng.random() < 0.7:
            content[key] = random_value(rng, good)
    if rng.random() < 0.4:  # enough commands among the noise to count answers
        content["body"] = "!ping"
    if rel or rng.random() < 0.3:
        content["m.relates_to"] = rel if rng.random() < 0.9 else random_value(rng, [])
    return content


def needs_pong(etype: str, raw_content: dict[str, Any]) -> bool:
    ev = parse_event("!r", {"type": etype, "event_id": "$x", "content": raw_content})
    return ev.kind is Kind.message and not ev.is_edit and ev.body == "!ping"


def pong_counts(world: World, pings: list[str]) -> dict[str, int]:
    msgs = bot_messages(
        world.server, world.customer.account.access_token, world.support, world.bot.user_id
    )
    return {p: len(replies_to(msgs, p)) for p in pings}


# Protections run on every fuzzed event, but in shadow: a burst from one customer must not
# get them muted or kicked, which is not what is under test here.
SHADOW = {name: {"shadow": True} for name in ("flood", "spam", "mentions")}


async def test_malformed_relations_never_stop_the_bot(world: World) -> None:
    config = world.config(matrix={"encryption": False}, moderation=SHADOW)
    async with running_bot(config) as app:
        root = await world.customer.send(world.support, "a thread root")
        pings = await hostile_batch(world, root)
        marker = await world.customer.send(world.support, "!ping")
        for ping in [*pings, marker]:
            await world.customer.wait_reply(ping, world.bot.user_id, timeout=30)
        malformed = app.metrics.render().decode()
    counts = pong_counts(world, [*pings, marker])
    assert all(n == 1 for n in counts.values()), counts
    assert 'backchannel_malformed_fields_total{field="m.in_reply_to.event_id"}' in malformed
    assert 'backchannel_malformed_fields_total{field="relates_to.event_id"}' in malformed
    # Nothing else was said: one reply per !ping, no error notices, nothing for the rest.
    msgs = bot_messages(
        world.server, world.customer.account.access_token, world.support, world.bot.user_id
    )
    others = [m for m in msgs if m not in replies_to(msgs, root)]  # the FAQ may answer the root
    assert len(others) == len(pings) + 1, [m["content"].get("body") for m in others]


async def test_seeded_fuzz_then_restart_on_the_same_batch(world: World) -> None:
    rng = random.Random(10)
    config = world.config(matrix={"encryption": False}, moderation=SHADOW)
    async with running_bot(config):
        root = await world.customer.send(world.support, "fuzz root")
        marker = await world.customer.send(world.support, "!ping")
        await world.customer.wait_reply(marker, world.bot.user_id, timeout=30)
    # The fuzz (and the batch) arrive while the bot is down: the restart meets them
    # in its first sync, where the old bot died on every start.
    pings: list[str] = [*await hostile_batch(world, root)]
    sent: dict[str, Any] = {}
    for _ in range(120):
        content = fuzz_content(rng, root)
        etype = rng.choice(["m.room.message"] * 4 + ["m.reaction"])
        resp = await world.customer.client.room_send(world.support, etype, content)
        if not isinstance(resp, nio.RoomSendResponse):
            continue  # Synapse refused it (e.g. a float): nothing reaches the bot
        if needs_pong(etype, content) and resp.event_id:
            pings.append(resp.event_id)
            sent[resp.event_id] = content
    assert len(pings) > 12, "the fuzz must carry enough !pings to count"
    for _ in range(2):  # twice: the second start finds everything handled and says nothing new
        async with running_bot(config):
            marker = await world.customer.send(world.support, "!ping")
            await world.customer.wait_reply(marker, world.bot.user_id, timeout=60)
            pings.append(marker)
            for ping in pings:
                try:
                    await world.customer.wait_reply(ping, world.bot.user_id, timeout=30)
                except AssertionError as exc:
                    raise AssertionError(f"no answer to {sent.get(ping)}") from exc
    counts = pong_counts(world, pings)
    assert all(n == 1 for n in counts.values()), {k: v for k, v in counts.items() if v != 1}
