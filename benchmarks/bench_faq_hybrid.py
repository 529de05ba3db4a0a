"""Hybrid FAQ engine (issue 13): decision latency, RSS, start-to-ready and first build, against a
plain BM25 (bm25s, installed for the bench only: `.venv/bin/pip install bm25s`) in the same run.

    .venv/bin/python benchmarks/bench_faq_hybrid.py [--docs DIR] [--questions F ...]
        [--first-build] [--out benchmarks/results/faq_hybrid.json]

Each measurement that needs a clean process (RSS with the full index, start to ready with a
warm cache, first build with empty caches) runs in a fresh subprocess. Latency: single thread,
every message decided once before timing, then 3 timed passes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
SHARED = ROOT.parent.parent / "shared"
if not SHARED.is_dir():
    SHARED = Path("/work/shared")


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def texts(files: list[Path]) -> list[str]:
    return [json.loads(x)["text"] for f in files for x in f.read_text().splitlines() if x.strip()]


def child(mode: str, docs: Path, cache: Path, files: list[Path]) -> dict[str, float]:
    """Run in a fresh process: build (or load) the engine, decide every message, report."""
    os.environ["BACKCHANNEL_EMBED_CACHE"] = str(cache / "emb")
    t0 = time.perf_counter()
    from knowledge.index import KnowledgeBase
    from knowledge.settings import KnowledgeSettings

    kb = KnowledgeBase.build(
        KnowledgeSettings(docs_dir=docs), cache / "kb", progress=lambda m: print(m, file=sys.stderr)
    )
    ready = time.perf_counter() - t0
    from knowledge import hybrid

    msgs = texts(files)
    for m in msgs:
        kb.decide(m)
    # The shipped engine (question embedded on a worker thread beside the lexical ranking) and
    # the same engine with both sides in turn, interleaved so load on the machine hits both.
    lat: dict[bool, list[float]] = {True: [], False: []}
    cpu: list[float] = []
    for rep in range(3):
        for i, m in enumerate(msgs):
            for overlap in (True, False) if (i + rep) % 2 else (False, True):
                hybrid.OVERLAP_DENSE = overlap
                c, t = time.process_time(), time.perf_counter()
                kb.decide(m)
                lat[overlap].append((time.perf_counter() - t) * 1000)
                if overlap:
                    cpu.append((time.process_time() - c) * 1000)  # every thread's CPU time
    hybrid.OVERLAP_DENSE = True
    return {
        "mode": mode,  # type: ignore[dict-item]
        "ready_s": ready,
        "rss_mb": rss_mb(),
        "p50_ms": pct(lat[True], 50),
        "p99_ms": pct(lat[True], 99),
        "cpu_p50_ms": pct(cpu, 50),
        "sequential_p50_ms": pct(lat[False], 50),
        "sequential_p99_ms": pct(lat[False], 99),
        "load_avg_1m": os.getloadavg()[0],
        "cores": float(os.cpu_count() or 0),
        "semantic": float(kb.dense is not None),
    }


def bm25_baseline(docs: Path, files: list[Path]) -> dict[str, float]:
    import bm25s

    from knowledge.ingest import load_tree
    from knowledge.matcher import analyze_doc

    pages = load_tree(docs)
    corpus = [
        analyze_doc(f"{s.page_title} {s.heading or ''} {s.text}") for p in pages for s in p.sections
    ]
    retriever = bm25s.BM25()
    retriever.index(corpus, show_progress=False)  # same stemmed terms as our lexical side
    msgs = texts(files)
    lat: list[float] = []
    for _ in range(4):
        for m in msgs:
            t = time.perf_counter()
            q = [w for w in analyze_doc(m) if w in retriever.vocab_dict]
            if q:
                retriever.retrieve([q], k=10, show_progress=False)
            lat.append((time.perf_counter() - t) * 1000)
    lat = lat[len(msgs) :]  # the first pass is warm-up
    return {"p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--docs", type=Path, default=SHARED / "corpus" / "safespring-docs")
    ap.add_argument("--questions", type=Path, action="append", default=None)
    ap.add_argument("--first-build", action="store_true", help="also time a build from nothing")
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--cache", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args()
    files = a.questions or [
        SHARED / "eval" / "faq-dev.jsonl",
        ROOT / "knowledge/eval/faq-own.jsonl",
    ]
    if a.child:
        print(json.dumps(child(a.child, a.docs, a.cache, files)))
        return 0

    def run(mode: str, cache: Path) -> dict[str, float]:
        argv = [
            sys.executable,
            __file__,
            "--child",
            mode,
            "--cache",
            str(cache),
            "--docs",
            str(a.docs),
        ]
        for f in files:
            argv += ["--questions", str(f)]
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        t0 = time.perf_counter()
        done = subprocess.run(argv, capture_output=True, text=True, check=True, env=env)
        got = json.loads(done.stdout.strip().splitlines()[-1])
        got["wall_s"] = time.perf_counter() - t0
        progress = [x for x in done.stderr.splitlines() if x.startswith("knowledge:")]
        got["progress_lines"] = len(progress)  # type: ignore[assignment]
        if progress:
            print(f"{mode}: {progress[0]} ... {progress[-1]}", file=sys.stderr)
        return got

    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp)
        if a.first_build:
            results["first_build"] = run("first build", cache)
        else:  # warm the caches (the shared store may already hold the vectors)
            run("warm-up", cache)
        results["warm"] = run("warm cache", cache)
    results["bm25s"] = bm25_baseline(a.docs, files)
    w, b = results["warm"], results["bm25s"]
    results["ratio_p50"] = w["p50_ms"] / max(b["p50_ms"], 1e-9)  # type: ignore[index]
    print(json.dumps(results, indent=1))
    print(
        f"hybrid decision p50 {w['p50_ms']:.2f} ms p99 {w['p99_ms']:.2f} ms "  # type: ignore[index]
        f"(both sides in turn: p50 {w['sequential_p50_ms']:.2f} ms p99 "  # type: ignore[index]
        f"{w['sequential_p99_ms']:.2f} ms; CPU p50 {w['cpu_p50_ms']:.2f} ms; 1-min load "  # type: ignore[index]
        f"{w['load_avg_1m']:.1f} on {w['cores']:.0f} cores), "  # type: ignore[index]
        f"RSS {w['rss_mb']:.0f} MB, start-to-ready {w['ready_s']:.2f} s (warm cache); "  # type: ignore[index]
        f"bm25s p50 {b['p50_ms']:.3f} ms p99 {b['p99_ms']:.3f} ms; p50 ratio {results['ratio_p50']:.1f}x"  # type: ignore[index]
    )
    if a.out:
        a.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
