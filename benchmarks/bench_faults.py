"""The full fault run of issue 10: 20 SIGKILLs per phase of handling a command and of relaying
an RT reply, one message each.

    .venv/bin/python -m benchmarks.bench_faults [--kills 20] [--phases relay_fetched,...]

The same procedure as tests/test_faults_e2e.py (which does a handful per phase
in CI; both run harness/faultrun.py): the bot as a process, killed from inside
(harness/faultbot.py) when a given ``!ping`` is received by the router, right
after its reply was sent, or right before the ledger records it; and while
relaying a given RT reply into its thread: after RT answered, after the Matrix
send, before the poll's high-water mark is saved (every 4th relay kill also
loses the session: a new device). Restarted on the same data dir each time.
Reports, per phase, kills, and how many commands / RT replies are in Synapse
0, 1 or more times (counted from the server, not a client's view).
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

from harness.faultrun import COMMAND_PHASES, RELAY_PHASES, kill_and_restart, relay_kill_and_restart
from harness.rt_server import RTInstance, start_rt
from harness.synapse_server import Synapse, free_port
from harness.world import build_world

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "faults.json"
PHASES = COMMAND_PHASES + RELAY_PHASES


async def run(kills: int, phases: list[str]) -> dict[str, object]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-faults-"))
    server = Synapse(tmp / "synapse", free_port())
    server.start()
    relay = any(p in RELAY_PHASES for p in phases)
    rt: RTInstance | None = start_rt(tmp / "rt") if relay else None
    out: dict[str, object] = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        for phase in phases:
            (tmp / phase).mkdir()
            world = await build_world(server, tmp / phase)  # fresh rooms and data dir per phase
            try:
                started = time.perf_counter()
                if phase in RELAY_PHASES:
                    assert rt is not None
                    counts = await relay_kill_and_restart(
                        world, rt, [phase], kills, new_device_every=4
                    )
                else:
                    counts = await kill_and_restart(world, [phase], kills)
                hist = Counter(counts.values())
                out[phase] = {
                    "commands": len(counts),  # or RT replies (the last one after the kills)
                    "kills": kills,
                    "replies_0": hist.get(0, 0),
                    "replies_1": hist.get(1, 0),
                    "replies_2_or_more": sum(v for k, v in hist.items() if k >= 2),
                    "seconds": round(time.perf_counter() - started, 1),
                    "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                }
                print(phase, out[phase], file=sys.stderr)
            finally:
                for person in (world.admin, world.engineer, world.customer):
                    await person.stop()
    finally:
        server.stop()
        if rt is not None:
            rt.stop()
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_faults")
    parser.add_argument("--kills", type=int, default=20, help="per phase")
    parser.add_argument(
        "--phases", default=",".join(PHASES), help=f"comma-separated subset of {','.join(PHASES)}"
    )
    args = parser.parse_args(argv)
    phases = [p for p in args.phases.split(",") if p]
    unknown = sorted(set(phases) - set(PHASES))
    if unknown:
        parser.error(f"unknown phase(s): {', '.join(unknown)}")
    result = asyncio.run(run(args.kills, phases))
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    # Phases not run this time keep their last figures (each phase is its own run).
    kept = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
    RESULTS.write_text(json.dumps({**kept, **result}, indent=2) + "\n")
    ok = all(
        isinstance(v, dict) and v["replies_1"] == v["commands"]
        for k, v in result.items()
        if k in PHASES
    )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
