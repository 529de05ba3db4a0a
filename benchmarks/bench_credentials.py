"""Credential detector: today's vs the pre-issue-14 detector, same process, same messages.

    .venv/bin/python -m benchmarks.bench_credentials [--baseline-ref 092e028]

1. Throughput (msg/s, median of 5 interleaved rounds of >= 0.5 s each) over the old corpus, the corpus-2
   halves, and large pastes (a 60 KB log and a 60 KB base64 blob: the worst shapes for regexes).
   The old detector is loaded from `git show REF:bot/protections/credentials_detector.py` (its
   path before issue 9) into a temporary module, so both run in this process on this machine.
2. Precision / recall / false-positive rate of both on TUNE, CHECK and the old corpus.

Results: a table on stdout and benchmarks/results/credentials.json.
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "data" / "credential_corpus2"))

from evaluate import load, score  # noqa: E402

from commands.moderation.protections import credentials_detector as new  # noqa: E402

DETECTOR = "bot/protections/credentials_detector.py"
BASELINE_REF = "092e028"  # the detector before issue 14
RESULTS = ROOT / "benchmarks" / "results" / "credentials.json"
ROUNDS = 5
MIN_SECONDS = 0.5


def load_old(ref: str) -> ModuleType:
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{ref}:{DETECTOR}"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    with tempfile.NamedTemporaryFile("w", suffix=".py", delete=False) as fh:
        fh.write(source)
    spec = importlib.util.spec_from_file_location("credentials_detector_baseline", fh.name)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look the module up while the class is built
    spec.loader.exec_module(module)
    os.unlink(fh.name)
    return module


def rates(
    before: Callable[[str], object], after: Callable[[str], object], items: list[str]
) -> tuple[float, float]:
    """Median items/s of each over ROUNDS interleaved rounds of >= MIN_SECONDS (the machine is
    shared: interleaving keeps load changes from landing on one side only)."""
    out: dict[int, list[float]] = {0: [], 1: []}
    for _ in range(ROUNDS):
        for side, fn in enumerate((before, after)):
            n = 0
            start = time.perf_counter()
            while True:
                for item in items:
                    fn(item)
                n += len(items)
                elapsed = time.perf_counter() - start
                if elapsed >= MIN_SECONDS:
                    break
            out[side].append(n / elapsed)
    return statistics.median(out[0]), statistics.median(out[1])


def big_pastes() -> list[str]:
    rng = random.Random(14)
    log = "\n".join(
        f"2026-12-01T12:{i % 60:02d}:00Z INFO req-{rng.getrandbits(64):016x} GET /v1/AUTH_{rng.getrandbits(128):032x}/c/o 200 {rng.randrange(10**6)}"
        for i in range(600)
    )
    blob = "data:\n  blob: " + base64.b64encode(rng.randbytes(45_000)).decode()
    return [log, blob]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-ref", default=BASELINE_REF)
    args = parser.parse_args()
    old = load_old(args.baseline_ref)
    sets = {name: [str(r["text"]) for r in load(name)] for name in ("old", "tune", "check")}
    sets["large pastes (60 KB)"] = big_pastes()
    results: dict[str, Any] = {"baseline_ref": args.baseline_ref, "throughput_msgs_per_s": {}}
    print(f"{'throughput (msg/s)':28s} {'before':>10s} {'after':>10s} {'after/before':>13s}")
    for name, items in sets.items():
        before, after = rates(old.find_secrets, new.find_secrets, items)
        results["throughput_msgs_per_s"][name] = {
            "before": before,
            "after": after,
            "ratio": after / before,
        }
        print(f"{name:28s} {before:10,.0f} {after:10,.0f} {after / before:13.2f}")
    print(f"\n{'quality':8s} {'detector':8s} precision  recall     FPR  (secret/clean)")
    results["quality"] = {}
    for name in ("tune", "check", "old"):
        rows = load(name)
        for label, det in (("before", old), ("after", new)):
            s = score(det.find_secrets, rows)
            results["quality"][f"{name}/{label}"] = {
                "precision": s.precision,
                "recall": s.recall,
                "fpr": s.fpr,
                "secret": s.tp + s.fn,
                "clean": s.fp + s.tn,
            }
            print(
                f"{name:8s} {label:8s} {s.precision:9.3f} {s.recall:7.3f} {s.fpr:7.2%}"
                f"  ({s.tp + s.fn}/{s.fp + s.tn})"
            )
    results["machine"] = {"cpus": os.cpu_count(), "loadavg_1m": os.getloadavg()[0]}
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
