"""Run a labelled question file through the knowledge base and score it (see shared/eval)."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydantic import BaseModel, Field

from knowledge.index import KnowledgeBase


class Expected(BaseModel):
    path: str
    section: str | None = None


class Question(BaseModel):
    id: str
    text: str
    expected: list[Expected] | None = None


class RankedItem(BaseModel):
    path: str
    section: str | None
    url: str | None
    score: float


class Result(BaseModel):
    id: str
    answered: bool
    latency_ms: float
    ranked: list[RankedItem]


class Metrics(BaseModel):
    n: int
    answerable: int
    silent: int
    hit_at_1: float
    hit_at_3: float
    mrr_at_10: float
    precision: float
    coverage: float
    false_answer_rate: float
    answered: int = 0
    p50_ms: float = 0.0
    p99_ms: float = 0.0
    misses: list[str] = Field(default_factory=list)


def read_questions(path: Path) -> list[Question]:
    out: list[Question] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(Question.model_validate_json(line))
    return out


def run(kb: KnowledgeBase, questions: Iterable[Question]) -> Iterator[Result]:
    for q in questions:
        t0 = time.perf_counter()
        decision = kb.decide(q.text)
        ms = (time.perf_counter() - t0) * 1000.0
        yield Result(
            id=q.id,
            answered=decision.answer,
            latency_ms=round(ms, 3),
            ranked=[
                RankedItem(path=h.path, section=h.section, url=h.url, score=h.score)
                for h in decision.hits[:10]
            ],
        )


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return 0.0
    s = sorted(values)
    i = min(len(s) - 1, max(0, round(p / 100.0 * (len(s) - 1))))
    return s[i]


def score(questions: list[Question], results: list[Result]) -> Metrics | None:
    """The measures of shared/eval/README.md; None when no question carries `expected`."""
    by_id = {r.id: r for r in results}
    labelled = [q for q in questions if q.expected is not None and q.id in by_id]
    if not labelled:
        return None
    answerable = [q for q in labelled if q.expected]
    silent = [q for q in labelled if not q.expected]
    h1 = h3 = mrr = 0.0
    right_answers = answered = false_answers = 0
    misses: list[str] = []
    for q in labelled:
        r = by_id[q.id]
        gold = {e.path for e in q.expected or []}
        rank = next((i + 1 for i, item in enumerate(r.ranked[:10]) if item.path in gold), None)
        if gold:
            h1 += rank == 1
            h3 += rank is not None and rank <= 3
            mrr += 1.0 / rank if rank else 0.0
            if rank != 1:
                misses.append(q.id)
        if r.answered:
            answered += 1
            top_right = bool(r.ranked) and r.ranked[0].path in gold
            right_answers += top_right
            false_answers += not gold
    lat = [by_id[q.id].latency_ms for q in labelled]
    na = max(len(answerable), 1)
    return Metrics(
        n=len(labelled),
        answerable=len(answerable),
        silent=len(silent),
        hit_at_1=h1 / na,
        hit_at_3=h3 / na,
        mrr_at_10=mrr / na,
        precision=right_answers / answered if answered else 0.0,
        coverage=right_answers / na,
        false_answer_rate=false_answers / len(silent) if silent else 0.0,
        answered=answered,
        p50_ms=_percentile(lat, 50),
        p99_ms=_percentile(lat, 99),
        misses=misses,
    )


def format_metrics(m: Metrics) -> str:
    return (
        f"questions {m.n} (answerable {m.answerable}, silent {m.silent}), answered {m.answered}\n"
        f"hit@1 {m.hit_at_1:.3f}  hit@3 {m.hit_at_3:.3f}  MRR@10 {m.mrr_at_10:.3f}\n"
        f"precision {m.precision:.3f}  coverage {m.coverage:.3f}  "
        f"false-answer {m.false_answer_rate:.3f}\n"
        f"latency p50 {m.p50_ms:.2f} ms  p99 {m.p99_ms:.2f} ms"
    )


def evaluate_file(kb: KnowledgeBase, questions_file: Path, output: Path) -> Metrics | None:
    return evaluate_questions(kb, read_questions(questions_file), output)


def evaluate_questions(
    kb: KnowledgeBase, questions: list[Question], output: Path
) -> Metrics | None:
    results: list[Result] = []
    output.parent.mkdir(parents=True, exist_ok=True)
    with output.open("w", encoding="utf-8") as f:
        for r in run(kb, questions):
            results.append(r)
            f.write(json.dumps(r.model_dump(), ensure_ascii=False) + "\n")
    return score(questions, results)
