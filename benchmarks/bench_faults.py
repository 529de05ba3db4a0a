"""The full fault run of issue 10: 20 SIGKILLs per phase of handling a command, one reply each.

    .venv/bin/python -m benchmarks.bench_faults [--kills 20]

The same procedure as tests/test_faults_e2e.py (which does a handful per phase
in CI): the bot as a process, killed from inside (harness/faultbot.py) when a
given ``!ping`` is received by the router, right after its reply was sent,
or right before the ledger records it; restarted on the same data dir each time.
Reports, per phase, commands, kills, and how many got 0, 1 or more replies in
Synapse (counted from the server, not a client's view).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

from harness.synapse_server import Synapse, free_port
from harness.world import build_world
from tests.test_faults_e2e import kill_and_restart

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "faults.json"
PHASES = ["received", "after_send", "before_mark"]


async def run(kills: int) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    server = Synapse(tmp / "synapse", free_port())
    server.start()
    out: dict[str, object] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        for phase in PHASES:
            (tmp / phase).mkdir()
            world = await build_world(server, tmp / phase)  # fresh rooms and data dir per phase
            try:
                started = time.perf_counter()
                counts = await kill_and_restart(world, [phase], kills)
                hist = Counter(counts.values())
                out[phase] = {
                    "commands": len(counts),
                    "kills": kills,
                    "replies_0": hist.get(0, 0),
                    "replies_1": hist.get(1, 0),
                    "replies_2_or_more": sum(v for k, v in hist.items() if k >= 2),
                    "seconds": round(time.perf_counter() - started, 1),
                }
                print(phase, out[phase], file=sys.stderr)
            finally:
                for person in (world.admin, world.engineer, world.customer):
                    await person.stop()
    finally:
        server.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_faults")
    parser.add_argument("--kills", type=int, default=20, help="per phase")
    args = parser.parse_args(argv)
    result = asyncio.run(run(args.kills))
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    ok = all(
        isinstance(v, dict) and v["replies_1"] == v["commands"]
        for k, v in result.items()
        if k in PHASES
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
