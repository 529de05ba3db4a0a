"""The secret rule's costs: detector throughput, and secret -> redaction as another client sees it.

    .venv/bin/python -m benchmarks.bench_redaction_latency [--posts 30] [--skip-synapse]

1. Throughput (in-process): messages/s through the credential detector (`find_secrets`), the
   rule's store-side check (`bot.secrets.text_kinds`, what the FAQ and the ticket transcript
   call) and the detector before issue 14 (git 092e028, loaded as bench_credentials.py does),
   over the old corpus (the set the recorded 10.2 k msg/s was measured on) and over all three
   corpora (plus the TUNE and CHECK halves of credential_corpus2). Baseline in the same
   process: one precompiled regex search per message. Reported as messages/s and as a ratio
   to the baseline; the recorded figure (protections.json: 10.2 k msg/s against a 250.9 k
   msg/s baseline, ratio 0.0407) is printed beside it.
2. Latency (a real Synapse started here, the bot in-process, unencrypted rooms):
   - support room: a customer posts a fresh fake S3 key pair; time until a second account
     (the engineer) sees the redaction through its own /sync; p50/p95 over --posts;
   - DM: the same in the bot's DM with the customer, seen by the customer's own /sync (the
     only other member), plus the time until the customer sees the bot's notice;
   - baseline in the same run: a customer's `!ping` until they see the pong, p50/p95.
   Before this change the support-room figure was ~350 ms (p50, protections.json).

Results: a table on stdout and benchmarks/results/redaction_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.bench_protections import fake_pair, rate  # noqa: E402
from bot.secrets import text_kinds  # noqa: E402
from commands.moderation.protections.credentials_detector import find_secrets  # noqa: E402

DATA = ROOT / "tests" / "data"
CORPORA = [
    DATA / "credential_corpus" / "corpus.jsonl",
    DATA / "credential_corpus2" / "tune.jsonl",
    DATA / "credential_corpus2" / "check.jsonl",
]
RESULTS = ROOT / "benchmarks" / "results" / "redaction_latency.json"
BEFORE = {
    "detector_msgs_per_s": 10210.7,
    "baseline_msgs_per_s": 250923.6,
    "redaction_p50_ms": 354.2,
}


def messages(paths: list[Path]) -> list[str]:
    out: list[str] = []
    for path in paths:
        with path.open() as fh:
            out += [json.loads(line)["text"] for line in fh if line.strip()]
    return out


def throughput() -> dict[str, Any]:
    """Per message set: the baseline regex, the pre-issue-14 detector (loaded from git, as in
    bench_credentials.py), today's detector, and the store-side check, all in this process."""
    from benchmarks.bench_credentials import BASELINE_REF, load_old

    old = load_old(BASELINE_REF)
    baseline = re.compile(r"(?i)password")
    sets = {"old corpus (the 10.2k figure's)": CORPORA[:1], "all three corpora": CORPORA}
    out: dict[str, Any] = {}
    for name, paths in sets.items():
        msgs = messages(paths)
        base = rate(baseline.search, msgs)
        row = {
            "messages": len(msgs),
            "baseline_regex_msgs_per_s": base,
            "pre_issue14_detector_msgs_per_s": rate(old.find_secrets, msgs),
            "detector_msgs_per_s": rate(find_secrets, msgs),
            "store_check_msgs_per_s": rate(text_kinds, msgs),
        }
        for k in ("pre_issue14_detector", "detector", "store_check"):
            row[k + "_over_baseline"] = row[k + "_msgs_per_s"] / base
        out[name] = row
    out["recorded before (protections.json)"] = {
        "detector_msgs_per_s": BEFORE["detector_msgs_per_s"],
        "detector_over_baseline": BEFORE["detector_msgs_per_s"] / BEFORE["baseline_msgs_per_s"],
    }
    return out


def pct(values: list[float], q: int) -> float:
    """The q-th percentile (q in 1..99) in milliseconds."""
    return statistics.quantiles(values, n=100)[q - 1] * 1000


async def latency(posts: int) -> dict[str, Any]:
    from harness.matrix_helpers import running_bot
    from harness.synapse_server import Synapse, free_port
    from harness.world import build_world

    tmp = Path(tempfile.mkdtemp(prefix="bench-redaction-"))
    server = Synapse(tmp / "synapse", free_port())
    server.start()
    rng = random.Random(1414)
    pings: list[float] = []
    room: list[float] = []
    dm_red: list[float] = []
    dm_notice: list[float] = []
    try:
        world = await build_world(server, tmp, encrypted=False)
        config = world.config(
            matrix={"encryption": False},
            moderation={"flood": {"enabled": False}},  # quick posts are not a flood here
        )
        try:
            async with running_bot(config) as app:
                c, e = world.customer, world.engineer
                dm = await app.services.matrix.dm_room(c.user_id)
                await c.wait_for(
                    lambda ev: (
                        ev.room_id == dm and ev.state_key == c.user_id and ev.membership == "join"
                    ),
                    30,
                )
                for _ in range(posts):
                    t0 = time.monotonic()
                    sent = await c.send(world.support, "!ping")
                    await c.wait_reply(sent, world.bot.user_id, timeout=30)
                    pings.append(time.monotonic() - t0)

                    t0 = time.monotonic()
                    leaked = await c.send(world.support, fake_pair(rng))
                    await e.wait_for(
                        lambda ev, x=leaked: ev.kind == "redaction" and ev.relates_to == x, 30
                    )
                    room.append(time.monotonic() - t0)

                    since = len(c.events)
                    t0 = time.monotonic()
                    leaked = await c.send(dm, fake_pair(rng))
                    await c.wait_for(
                        lambda ev, x=leaked: ev.kind == "redaction" and ev.relates_to == x,
                        30,
                        since,
                    )
                    dm_red.append(time.monotonic() - t0)
                    await c.wait_for(
                        lambda ev: (
                            ev.room_id == dm
                            and ev.sender == world.bot.user_id
                            and "from this chat" in ev.body
                        ),
                        30,
                        since,
                    )
                    dm_notice.append(time.monotonic() - t0)
                    # the support-room DM notice lands in the same room: let it arrive first
                    await asyncio.sleep(0.2)
        finally:
            for person in (world.admin, world.engineer, world.customer):
                await person.stop()
    finally:
        server.stop()
    return {
        "posts": posts,
        "ping_p50_ms": pct(pings, 50),
        "ping_p95_ms": pct(pings, 95),
        "support_redaction_seen_p50_ms": pct(room, 50),
        "support_redaction_seen_p95_ms": pct(room, 95),
        "support_redaction_over_ping_p50": pct(room, 50) / pct(pings, 50),
        "dm_redaction_seen_p50_ms": pct(dm_red, 50),
        "dm_redaction_seen_p95_ms": pct(dm_red, 95),
        "dm_notice_seen_p50_ms": pct(dm_notice, 50),
        "dm_notice_seen_p95_ms": pct(dm_notice, 95),
        "before_support_redaction_p50_ms": BEFORE["redaction_p50_ms"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--skip-synapse", action="store_true", help="throughput only")
    args = parser.parse_args()
    results: dict[str, Any] = {"throughput": throughput()}
    for name, t in results["throughput"].items():
        if "messages" not in t:
            print(
                f"{name}: detector {t['detector_msgs_per_s']:,.0f} msg/s, "
                f"x baseline {t['detector_over_baseline']:.4f}"
            )
            continue
        print(f"{name}, {t['messages']} messages        msg/s   x baseline")
        for label, key in (
            ("  baseline: one regex search", "baseline_regex"),
            ("  detector before issue 14", "pre_issue14_detector"),
            ("  credential detector (today)", "detector"),
            ("  store-side check (bot.secrets)", "store_check"),
        ):
            r = t[key + "_msgs_per_s"]
            print(f"{label:34s} {r:10,.0f}   {r / t['baseline_regex_msgs_per_s']:.4f}")
    if not args.skip_synapse:
        lat = asyncio.run(latency(args.posts))
        results["latency"] = lat
        print(f"over {lat['posts']} posts each                      p50 ms   p95 ms")
        for label, key in (
            ("!ping round trip (baseline)", "ping"),
            ("support: redaction seen by engineer", "support_redaction_seen"),
            ("DM: redaction seen by the customer", "dm_redaction_seen"),
            ("DM: notice seen by the customer", "dm_notice_seen"),
        ):
            print(f"{label:38s} {lat[key + '_p50_ms']:7.0f}  {lat[key + '_p95_ms']:7.0f}")
        print(
            f"support redaction / ping (p50): {lat['support_redaction_over_ping_p50']:.2f}; "
            f"before this change: ~{BEFORE['redaction_p50_ms']:.0f} ms p50"
        )
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
