"""Throughput of the moderation protections, in-process, on the credential corpus.

Reports messages/s through the credential detector, and a baseline in the same process (one
precompiled regex search per message, the cheapest meaningful "protection") so figures from
different machines compare as ratios. Run: .venv/bin/python benchmarks/bench_protections.py
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.protections.credentials_detector import find_secrets  # noqa: E402

CORPUS = ROOT / "tests" / "data" / "credential_corpus" / "corpus.jsonl"
ROUNDS = 5
MIN_SECONDS = 0.5


def load_messages() -> list[str]:
    with CORPUS.open() as fh:
        return [json.loads(line)["text"] for line in fh if line.strip()]


def rate(fn: Callable[[str], object], messages: list[str]) -> float:
    """Median messages/s over ROUNDS rounds of at least MIN_SECONDS each."""
    rates: list[float] = []
    for _ in range(ROUNDS):
        n = 0
        start = time.perf_counter()
        while True:
            for m in messages:
                fn(m)
            n += len(messages)
            elapsed = time.perf_counter() - start
            if elapsed >= MIN_SECONDS:
                break
        rates.append(n / elapsed)
    return statistics.median(rates)


def main() -> None:
    messages = load_messages()
    baseline_re = re.compile(r"(?i)password")
    chat = [m for m in messages if len(m) < 200]
    results = {
        "baseline (one regex)": rate(baseline_re.search, messages),
        "credential detector (corpus)": rate(find_secrets, messages),
        "credential detector (short chat only)": rate(find_secrets, chat),
    }
    base = results["baseline (one regex)"]
    avg_len = sum(map(len, messages)) / len(messages)
    print(f"{len(messages)} messages, mean {avg_len:.0f} chars; {len(chat)} under 200 chars")
    for name, r in results.items():
        print(f"{name:40s} {r:12,.0f} msg/s   {r / base:6.3f}x baseline")


if __name__ == "__main__":
    main()
