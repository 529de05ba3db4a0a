"""Policy-list matching: BanRules (exact rules by dict, globs scanned) vs every rule's glob tried in turn.

    .venv/bin/python -m benchmarks.bench_policy_match [--rules 2000] [--members 1000]

A full re-read matches every support-room member against every ban rule. The list is shaped
like public ban lists: mostly literal user ids, some server names, 5% globs. The baseline is
the obvious loop (each rule's precompiled glob on each member), measured in the same process;
both must find the same matches. Prints members/s of each and the ratio.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from commands.moderation.policy.rules import BanRules, Rule, glob_regex, server_of


def make_rules(n: int, rng: random.Random) -> list[Rule]:
    rules = []
    for i in range(n):
        roll = rng.random()
        if roll < 0.05:
            kind, entity = "user", f"@spam{i}*:*"
        elif roll < 0.15:
            kind, entity = "server", f"bad{i}.example"
        else:
            kind, entity = "user", f"@troll{i}:hs{i % 50}.example"
        rules.append(
            Rule(
                list_room="!l",
                type=f"m.policy.rule.{kind}",
                state_key=str(i),
                kind=kind,  # type: ignore[arg-type]
                entity=entity,
                recommendation="m.ban",
            )
        )
    return rules


def compiled(rules: list[Rule]) -> list[tuple[re.Pattern[str], Rule]]:
    return [(glob_regex(r.entity, ignore_case=r.kind == "server"), r) for r in rules]


def naive(patterns: list[tuple[re.Pattern[str], Rule]], user: str) -> int:
    """Every rule's (precompiled) glob tried in turn."""
    server = server_of(user)
    return sum(p.match(user if r.kind == "user" else server) is not None for p, r in patterns)


def rate(fn: object, members: list[str], rounds: int = 5) -> float:
    out = []
    for _ in range(rounds):
        start = time.perf_counter()
        for m in members:
            fn(m)  # type: ignore[operator]
        out.append(len(members) / (time.perf_counter() - start))
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rules", type=int, default=2000)
    ap.add_argument("--members", type=int, default=1000)
    args = ap.parse_args()
    rng = random.Random(14)
    rules = make_rules(args.rules, rng)
    members = [f"@user{i}:hs{i % 50}.example" for i in range(args.members)]
    members += [f"@troll{i}:hs{i % 50}.example" for i in range(0, args.rules, 97)]
    members += [f"@spam{i}x:any.example" for i in range(0, args.rules, 20)]
    table = BanRules(rules)
    patterns = compiled(rules)
    assert [len(table.matching(m)) for m in members] == [naive(patterns, m) for m in members]
    fast = rate(table.matching, members)
    slow = rate(lambda m: naive(patterns, m), members, rounds=3)
    print(f"{args.rules} rules, {len(members)} members")
    print(f"BanRules: {fast:,.0f} members/s; every glob in turn: {slow:,.0f} members/s")
    print(f"ratio: {fast / slow:.1f}x")


if __name__ == "__main__":
    main()
