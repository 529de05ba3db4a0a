"""Hybrid ranking and the fitted answer-or-silence gate.

Ranking: today's lexical ranking (BM25F + typos + curated entries) and the dense cosine are
fused over the union of both top-k pages: `a * lexical / lexical_top1 + (1 - a) * cosine`.

Gate: a logistic regression over evidence from both signals (see FEATURES), fitted with
knowledge/fit_gate.py under nested cross-validation and shipped as knowledge/gate_model.json.
The regex message classifier (gate.classify_message) is only a veto on answering: the model is
fitted on every message, so it learns to stay silent on chit-chat itself rather than relying on
a word list that only knows the dev set's wording.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel

from knowledge.gate import classify_message, confidence, features

if TYPE_CHECKING:
    from knowledge.index import KnowledgeBase

MODEL_FILE = Path(__file__).with_name("gate_model.json")
TOP_K = 20
SECTION_LEX_WEIGHT = 0.7
LEGACY_DENSE_PRIOR = 0.95  # redirect stubs of the retired backup docs: prefer the current page
OVERLAP_DENSE = True  # benchmarks/bench_faq_hybrid.py turns it off to measure what it buys

FEATURES = (
    "lconf",  # today's lexical confidence (gate.confidence)
    "cos1",  # cosine of the fused top section
    "cosmax",  # best cosine anywhere (is the question about the docs at all?)
    "agree",  # lexical and dense rankings put the same page first
    "fmargin",  # fused score lead over the best other page
    "cmargin",  # cosine lead of the top page over the best other page
    "intent",  # P(answerable) from a classifier on the message embedding
    "lexhit",  # the fused top page is in the lexical top 3
    "nwords",  # log(1 + words): one-word chat and long remarks fare differently
    "qlike",  # asks something: a "?" and/or a question word first (English, Swedish, Norwegian)
)
# Question-likeness (a feature, never a veto): "hur", "vad", "kan", "finns", "hvordan", "hva".
_QUESTION_START = re.compile(
    r"^\s*(how|what|whats|which|where|when|why|who|is|are|can|could|do|does|should|would|will|"
    r"any|hur|vad|kan|finns|hvordan|hva)\b",
    re.I,
)


def sigmoid(z: np.ndarray | float) -> np.ndarray | float:
    return 1.0 / (1.0 + np.exp(-z))


class LogReg(BaseModel):
    """Standardised logistic regression: p = sigmoid(((x - mean) / std) . coef + bias)."""

    mean: list[float]
    std: list[float]
    coef: list[float]
    bias: float

    def prob(self, x: np.ndarray) -> np.ndarray:
        z = ((x - np.asarray(self.mean)) / np.asarray(self.std)) @ np.asarray(self.coef)
        return sigmoid(z + self.bias)


class GateModel(BaseModel):
    version: int = 1
    fusion_a: float
    threshold: float
    features: list[str]
    gate: LogReg
    intent: LogReg
    fitted_on: list[str]
    notes: str = ""

    @classmethod
    def load(cls, path: Path = MODEL_FILE) -> GateModel:
        return cls.model_validate(json.loads(path.read_text(encoding="utf-8")))


@dataclass(slots=True)
class Evidence:
    """Everything about one message that does not depend on the fusion weight."""

    text: str
    lex_docs: dict[int, float]  # lexical score of every candidate section
    lex_ranked: list[tuple[int, float]]  # lexical, best section per page, best first
    lconf: float
    lex_feats: dict[str, float]
    qv: np.ndarray
    cos: np.ndarray  # per section (best chunk), legacy prior applied
    pcos: (
        np.ndarray
    )  # per section: the best cosine of its page (sections or outline), prior applied
    veto: tuple[str, str] | None


def _dense_scores(kb: KnowledgeBase, qv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(cos, pcos): see Evidence."""
    assert kb.dense is not None
    sec, outline = kb.dense.doc_scores(qv)
    best = np.maximum(sec, outline)
    # The sections of one page are contiguous: a segmented max (ufunc.at is ~10x slower).
    page_best = np.maximum.reduceat(best, kb.page_starts) if len(best) else best
    return sec * kb.dense_prior, page_best[kb.doc_group] * kb.dense_prior


_Lexical = tuple[
    dict[int, float], list[tuple[int, float]], dict[str, float], tuple[str, str] | None
]


def _lexical_side(kb: KnowledgeBase, text: str) -> _Lexical:
    """(lex_docs, lex_ranked, lex_feats, veto): see Evidence."""
    q = kb.analyze(text)
    pages: dict[int, float] = {}
    docs: dict[int, float] = {}
    ranked = kb.score(q, pages_out=pages, docs_out=docs)
    return docs, ranked, features(kb, q, ranked, pages), classify_message(text)


def evidence(kb: KnowledgeBase, text: str) -> Evidence:
    assert kb.dense is not None
    if OVERLAP_DENSE:
        # The lexical side (~2-3 ms of Python) runs on a second core while the model embeds
        # the question (~4-5 ms without the GIL). Each side computes exactly what it would
        # alone: the evidence is identical.
        qv, (docs, ranked, f, veto) = kb.dense.encode_beside(text, lambda: _lexical_side(kb, text))
    else:
        docs, ranked, f, veto = _lexical_side(kb, text)
        qv = kb.dense.encode(text)
    cos, pcos = _dense_scores(kb, qv)
    return Evidence(text, docs, ranked, confidence(f), f, qv, cos, pcos, veto)


def fuse(kb: KnowledgeBase, ev: Evidence, a: float) -> list[tuple[int, float]]:
    """(doc, fused score), one per page, best first, over the union of both top-k."""
    paths = kb.doc_paths
    lex_top = ev.lex_ranked[0][1] if ev.lex_ranked else 0.0
    cand: dict[str, set[int]] = {}
    for d, _ in ev.lex_ranked[:TOP_K]:
        cand.setdefault(paths[d], set()).add(d)
    order = np.argsort(-ev.pcos)
    seen = 0
    for d in order[: TOP_K * 8]:
        d = int(d)
        p = paths[d]
        if p not in cand:
            if seen >= TOP_K:
                continue
            cand[p] = set()
            seen += 1
        cand[p].add(d)
    out: list[tuple[int, float]] = []
    for ds in cand.values():
        # The section shown: best fused section score. The page's score: its best lexical
        # section and its best cosine anywhere on the page (sections or outline).
        lex = {d: (ev.lex_docs.get(d, 0.0) / lex_top if lex_top > 0 else 0.0) for d in ds}
        # Within a page the words the customer typed pick the section more reliably than the
        # cosine (sibling sections of one page read alike): a fixed lexical lean, page scores
        # (and so every page-level figure) are unaffected.
        w = max(a, SECTION_LEX_WEIGHT)
        shown = max(ds, key=lambda d: (w * lex[d] + (1 - w) * float(ev.cos[d]), -d))
        page = a * max(lex.values()) + (1 - a) * float(ev.pcos[shown])
        out.append((shown, page))
    out.sort(key=lambda x: -x[1])
    return out


def gate_features(
    kb: KnowledgeBase, ev: Evidence, fused: list[tuple[int, float]], intent: float
) -> dict[str, float]:
    f = dict.fromkeys(FEATURES, 0.0)
    f["lconf"] = ev.lconf
    f["intent"] = intent
    f["cosmax"] = float(ev.pcos.max()) if len(ev.pcos) else 0.0
    f["nwords"] = math.log1p(ev.lex_feats.get("n_words", 0.0))
    f["qlike"] = float("?" in ev.text) + float(bool(_QUESTION_START.search(ev.text)))
    if not fused:
        return f
    d1, s1 = fused[0]
    p1 = kb.doc_paths[d1]
    title1 = kb.docs[d1].section.page_title
    f["cos1"] = float(ev.pcos[d1])
    # The runner-up is the best page that is not a copy of the top one (the legacy backup docs
    # repeat the current pages under the same titles).
    s2 = next((s for d, s in fused[1:] if kb.docs[d].section.page_title != title1), 0.0)
    f["fmargin"] = s1 - s2
    other = next(
        (
            float(ev.pcos[int(d)])
            for d in np.argsort(-ev.pcos)[:200]
            if kb.docs[int(d)].section.page_title != title1
        ),
        0.0,
    )
    f["cmargin"] = float(ev.pcos[d1]) - other
    dense_top = kb.doc_paths[int(np.argmax(ev.pcos))]
    lex_top = kb.doc_paths[ev.lex_ranked[0][0]] if ev.lex_ranked else ""
    f["agree"] = float(dense_top == lex_top)
    f["lexhit"] = float(p1 in {kb.doc_paths[d] for d, _ in ev.lex_ranked[:3]})
    return f


def vector(f: dict[str, float], names: Sequence[str] = FEATURES) -> np.ndarray:
    return np.array([f[k] for k in names], dtype=np.float64)


def intent_input(qv: np.ndarray) -> np.ndarray:
    # Unit vectors have coordinates ~1/sqrt(384); scale so the ridge penalty means the same
    # as on standardised features.
    return qv * math.sqrt(len(qv))


def intent_score(model: GateModel, qv: np.ndarray) -> float:
    return float(model.intent.prob(intent_input(qv)[None, :])[0])


def decide(kb: KnowledgeBase, text: str, k: int = 10):  # -> Decision
    from knowledge.index import Decision

    model = kb.gate_model
    assert model is not None
    ev = evidence(kb, text)
    fused = fuse(kb, ev, model.fusion_a)
    hits = [kb.hit(d, s) for d, s in fused[:k]]
    best = hits[0] if hits else None
    f = gate_features(kb, ev, fused, intent_score(model, ev.qv))
    p = float(model.gate.prob(vector(f, model.features)[None, :])[0])
    feats: dict[str, float | int | str | bool] = {key: round(v, 4) for key, v in f.items()}
    for key in ("cover", "cover_sec", "margin", "unknown", "max_miss"):
        feats[key] = round(ev.lex_feats.get(key, 0.0), 4)
    feats["confidence"] = round(p, 4)
    threshold = (
        model.threshold if kb.settings.answer_threshold is None else kb.settings.answer_threshold
    )
    detail = (
        f"confidence {p:.2f} (cosine {f['cos1']:.2f}, intent {f['intent']:.2f}, "
        f"margin {f['fmargin']:.2f} over runner-up, lexical {f['lconf']:.2f})"
    )
    if ev.veto is not None:
        feats["message"] = ev.veto[0]
        return Decision(
            answer=False, reason=f"{ev.veto[0]}: {ev.veto[1]}", hits=hits, best=best, features=feats
        )
    if best is None:
        return Decision(
            answer=False, reason="nothing in the docs matches", hits=hits, best=None, features=feats
        )
    if p >= threshold:
        return Decision(answer=True, reason=detail, hits=hits, best=best, features=feats)
    return Decision(
        answer=False,
        reason=f"unsure: {detail} < {threshold:g}",
        hits=hits,
        best=best,
        features=feats,
    )
