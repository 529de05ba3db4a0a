"""Score a detector on the corpora: precision, recall, false-positive rate, misses by kind.

    python tests/data/credential_corpus2/evaluate.py [--show] [--halves=tune,old]

`score(find, rows)` is shared with benchmarks/bench_credentials.py; `find(text)` is any
function returning a (possibly empty) list of findings.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
OLD = HERE.parent / "credential_corpus" / "corpus.jsonl"
HALVES = {"tune": HERE / "tune.jsonl", "check": HERE / "check.jsonl", "old": OLD}


def load(name: str) -> list[dict[str, object]]:
    with HALVES[name].open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


@dataclass
class Score:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    tn: int = 0
    missed: Counter[str] = field(default_factory=Counter)
    total: Counter[str] = field(default_factory=Counter)
    miss_ids: list[str] = field(default_factory=list)
    fp_ids: list[str] = field(default_factory=list)

    @property
    def precision(self) -> float:
        return self.tp / max(1, self.tp + self.fp)

    @property
    def recall(self) -> float:
        return self.tp / max(1, self.tp + self.fn)

    @property
    def fpr(self) -> float:
        return self.fp / max(1, self.fp + self.tn)

    def line(self, name: str) -> str:
        return (
            f"{name:6s} secret={self.tp + self.fn:4d} clean={self.fp + self.tn:4d} "
            f"precision={self.precision:.3f} recall={self.recall:.3f} FPR={self.fpr:.2%} "
            f"(missed {self.fn}, false alarms {self.fp})"
        )


def score(find: Callable[[str], list[object]], rows: Iterable[dict[str, object]]) -> Score:
    s = Score()
    for row in rows:
        hit = bool(find(str(row["text"])))
        kind = str(row.get("kind") or ",".join(row.get("kinds") or []) or "?")  # type: ignore[arg-type]
        if row["label"] == "secret":
            s.total[kind] += 1
            if hit:
                s.tp += 1
            else:
                s.fn += 1
                s.missed[kind] += 1
                s.miss_ids.append(str(row["id"]))
        elif hit:
            s.fp += 1
            s.fp_ids.append(str(row["id"]))
        else:
            s.tn += 1
    return s


def main() -> None:
    sys.path.insert(0, str(HERE.parents[2]))
    from commands.moderation.protections.credentials_detector import find_secrets

    show = "--show" in sys.argv
    picked = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--halves=")]
    for name in picked[0].split(",") if picked else HALVES:
        s = score(find_secrets, load(name))
        print(s.line(name))
        if s.missed:
            print("       missed by kind:", dict(s.missed))
        if show:
            print("       misses:", s.miss_ids)
            print("       false alarms:", s.fp_ids)


if __name__ == "__main__":
    main()
