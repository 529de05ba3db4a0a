"""Moderation benchmark: protections throughput in-process, and secret -> redaction latency.

    .venv/bin/python -m benchmarks.bench_protections [--posts 20] [--skip-synapse]

1. Throughput (in-process, no network): messages/s through the credential detector alone and
   through the decision path of all protections (credentials, flood, mentions, spam: `assess`),
   over the credential corpus (tests/data/credential_corpus, 415 realistic messages). Baseline
   in the same process: one precompiled regex search per message. The mention protection alone
   is measured without display names (what it did before names counted) and with them, in a
   room of 1,000 and of 10,000 members with generated names (messages without `m.mentions`,
   so every one is matched against the names: the worst case).
2. Latency (real Synapse started here, bot in-process): a customer posts a (synthetic) secret;
   time until another client (an engineer) sees the redaction; p50 over --posts. Baseline in the
   same run: a customer's `!ping` until they see the bot's pong, p50 over the same count.

Results: a table on stdout and benchmarks/results/protections.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import string
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.events import Event, Kind  # noqa: E402
from commands.moderation.protections.credentials import CredentialProtection  # noqa: E402
from commands.moderation.protections.credentials_detector import find_secrets  # noqa: E402
from commands.moderation.protections.flood import FloodProtection  # noqa: E402
from commands.moderation.protections.mentions import MentionProtection  # noqa: E402
from commands.moderation.protections.names import MemberNames  # noqa: E402
from commands.moderation.protections.spam import SpamProtection  # noqa: E402
from commands.moderation.settings import ModerationSettings  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "credential_corpus" / "corpus.jsonl"
RESULTS = ROOT / "benchmarks" / "results" / "protections.json"
ROUNDS = 5
MIN_SECONDS = 0.5


def load_messages() -> list[str]:
    with CORPUS.open() as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def rate(fn: Callable[[Any], object], items: list[Any]) -> float:
    """Median items/s over ROUNDS rounds of at least MIN_SECONDS each."""
    rates: list[float] = []
    for _ in range(ROUNDS):
        n = 0
        start = time.perf_counter()
        while True:
            for item in items:
                fn(item)
            n += len(items)
            elapsed = time.perf_counter() - start
            if elapsed >= MIN_SECONDS:
                break
        rates.append(n / elapsed)
    return statistics.median(rates)


def as_events(messages: list[str]) -> list[Event]:
    """Corpus messages as support-room events from 50 customers, 3 s apart per customer."""
    events = []
    for i, body in enumerate(messages):
        events.append(
            Event(
                event_id=f"$e{i}",
                room_id="!support:hs",
                sender=f"@customer{i % 50}:hs",
                ts=1_800_000_000_000 + i * 60,
                kind=Kind.message,
                type="m.room.message",
                content={"msgtype": "m.text", "body": body},
                body=body,
                msgtype="m.text",
            )
        )
    return events


FIRST = (
    "Anna Erik Lars Karin Johan Maria Nils Ingrid Olof Sara Per Elin Jonas Emma Mikael Linnea "
    "Ahmed Fatima Chen Wei Priya Arjun Kenji Yuki Pierre Claire Hans Greta Pablo Lucia Ole Kari"
).split()
LAST = (
    "Andersson Johansson Karlsson Nilsson Eriksson Larsson Olsson Persson Svensson Gustafsson "
    "Hansen Johansen Olsen Larsen Virtanen Korhonen Smith Garcia Müller Rossi Kowalski Novak "
    "Tanaka Kim Singh Khan Dubois Silva"
).split()


def member_names(count: int, seed: int = 11) -> MemberNames:
    """A support room of ``count`` members: first names, first + last names, some handles."""
    rng = random.Random(seed)
    names = MemberNames()
    members: dict[str, str | None] = {}
    for i in range(count):
        kind = rng.random()
        if kind < 0.5:
            name: str | None = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
        elif kind < 0.8:
            name = rng.choice(FIRST)
        elif kind < 0.95:
            name = f"{rng.choice(FIRST).lower()}{rng.randint(1, 999)}"
        else:
            name = None
        members[f"@user{i}:hs"] = name
    names.load(members)
    return names


def stub_moderator(names: MemberNames | None = None) -> Any:
    return SimpleNamespace(
        joined_at=lambda room, user: None,
        services=SimpleNamespace(roles=SimpleNamespace(is_staff=lambda u: u.startswith("@eng"))),
        matrix=SimpleNamespace(user_id="@bot:hs"),
        names=names if names is not None else member_names(1000),
    )


def mention_assess(display_names: bool, names: MemberNames) -> Callable[[Event], object]:
    settings = ModerationSettings().mentions.model_copy(update={"display_names": display_names})
    return MentionProtection(stub_moderator(names), settings).assess


def protections_chain(display_names: bool = True) -> Callable[[Event], object]:
    """All protections' decision path, with a stand-in moderator (no I/O happens in assess)."""
    settings = ModerationSettings.model_validate({"mentions": {"display_names": display_names}})
    stub = stub_moderator()
    chain = [
        CredentialProtection(stub, settings.credentials),
        FloodProtection(stub, settings.flood),
        MentionProtection(stub, settings.mentions),
        SpamProtection(stub, settings.spam),
    ]

    def run(ev: Event) -> object:
        for p in chain:
            verdict = p.assess(ev)
            if verdict is not None and verdict.redact:
                return verdict
        return None

    return run


def throughput() -> dict[str, float]:
    messages = load_messages()
    events = as_events(messages)
    baseline_re = re.compile(r"(?i)password")
    results = {
        "baseline: one regex search": rate(baseline_re.search, messages),
        "credential detector": rate(find_secrets, messages),
        "all protections (assess)": rate(protections_chain(), events),
        "all protections, no display names": rate(protections_chain(False), events),
    }
    room = member_names(1000)
    big = member_names(10000)
    results["mentions: no display names (before)"] = rate(mention_assess(False, room), events)
    results["mentions: display names, 1k members"] = rate(mention_assess(True, room), events)
    results["mentions: display names, 10k members"] = rate(mention_assess(True, big), events)
    # What today's clients send: with m.mentions the legacy name rules (and the scan) are off.
    modern = [e.model_copy(update={"content": {**e.content, "m.mentions": {}}}) for e in events]
    results["mentions: 1k members, messages with m.mentions"] = rate(
        mention_assess(True, room), modern
    )
    return results


# ---- latency on a real Synapse -------------------------------------------------------------


def fake_pair(rng: random.Random) -> str:
    upper = string.ascii_uppercase + string.digits
    alnum = string.ascii_letters + string.digits
    while True:
        secret = "".join(rng.choice(alnum) for _ in range(40))
        if any(c.islower() for c in secret) and any(c.isupper() for c in secret):
            break
    access = "".join(rng.choice(upper) for _ in range(20))
    return (
        f"[default]\naccess_key = {access}\nsecret_key = {secret}\nhost_base = s3.sto1.safedc.net"
    )


async def latency(posts: int) -> dict[str, float]:
    from harness.matrix_helpers import running_bot
    from harness.synapse_server import Synapse, free_port
    from harness.world import build_world

    tmp = Path(tempfile.mkdtemp(prefix="bench-protections-"))
    server = Synapse(tmp / "synapse", free_port())
    server.start()
    rng = random.Random(7)
    try:
        world = await build_world(server, tmp, encrypted=False)
        config = world.config(
            matrix={"encryption": False},
            moderation={"flood": {"enabled": False}},  # 40 quick posts are not a flood here
        )
        try:
            async with running_bot(config):
                c, e = world.customer, world.engineer
                pings: list[float] = []
                redactions: list[float] = []
                for _ in range(posts):
                    t0 = time.monotonic()
                    sent = await c.send(world.support, "!ping")
                    await c.wait_reply(sent, world.bot.user_id, timeout=30)
                    pings.append(time.monotonic() - t0)
                    t0 = time.monotonic()
                    leaked = await c.send(world.support, fake_pair(rng))
                    await e.wait_for(
                        lambda ev, leaked=leaked: (
                            ev.kind == "redaction" and ev.relates_to == leaked
                        ),
                        30,
                    )
                    redactions.append(time.monotonic() - t0)
        finally:
            for person in (world.admin, world.engineer, world.customer):
                await person.stop()
    finally:
        server.stop()
    p50_ping = statistics.median(pings)
    p50_red = statistics.median(redactions)
    return {
        "posts": float(posts),
        "ping_p50_ms": p50_ping * 1000,
        "redaction_seen_p50_ms": p50_red * 1000,
        "redaction_seen_p90_ms": statistics.quantiles(redactions, n=10)[-1] * 1000,
        "redaction_over_ping": p50_red / p50_ping,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--skip-synapse", action="store_true", help="throughput only")
    args = parser.parse_args()
    results: dict[str, Any] = {"throughput_msgs_per_s": throughput()}
    base = results["throughput_msgs_per_s"]["baseline: one regex search"]
    print(
        f"{'in-process, ' + str(len(load_messages())) + ' corpus messages':42s} msg/s      x baseline"
    )
    for name, r in results["throughput_msgs_per_s"].items():
        print(f"{name:42s} {r:10,.0f} {r / base:8.4f}")
    tp = results["throughput_msgs_per_s"]
    before = tp["mentions: no display names (before)"]
    results["mentions_after_over_before"] = {
        "1k members": tp["mentions: display names, 1k members"] / before,
        "10k members": tp["mentions: display names, 10k members"] / before,
        "all protections, 1k members": tp["all protections (assess)"]
        / tp["all protections, no display names"],
    }
    print("mention assess, with names / without:", results["mentions_after_over_before"])
    if not args.skip_synapse:
        lat = asyncio.run(latency(args.posts))
        results["latency"] = lat
        print(
            f"secret posted -> redaction seen by another client: p50 {lat['redaction_seen_p50_ms']:.0f} ms"
            f" (p90 {lat['redaction_seen_p90_ms']:.0f} ms) over {args.posts}; "
            f"!ping round trip p50 {lat['ping_p50_ms']:.0f} ms; ratio {lat['redaction_over_ping']:.2f}"
        )
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
