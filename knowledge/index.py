"""The knowledge base: docs sections + curated entries, indexed, cached on disk by content hash."""

from __future__ import annotations

import heapq
import operator
import re
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from knowledge.build import (
    DEFAULT_FAQ,
    INDEX_VERSION,
    Doc,
    FaqEntry,
    Progress,
    attach_semantic,
    build_fresh,
    build_knowledge,
    build_lexical,
    fingerprint_of,
    load_faq,
    path_words,
    state_of,
    with_pairs,
)
from knowledge.dense import DenseIndex
from knowledge.hybrid import LEGACY_DENSE_PRIOR, GateModel
from knowledge.ingest import page_url
from knowledge.matcher import BM25F, Query, Vocabulary, analyze_doc, analyze_query
from knowledge.settings import KnowledgeSettings

__all__ = [
    "DEFAULT_FAQ",
    "INDEX_VERSION",
    "Decision",
    "Doc",
    "FaqEntry",
    "Hit",
    "KnowledgeBase",
    "Progress",
    "fingerprint_of",
    "load_faq",
    "make_snippet",
    "path_words",
    "with_pairs",
]


class Hit(BaseModel):
    path: str  # relative to content/; for a curated entry its doc page, or "faq/<id>"
    section: str | None
    title: str
    heading_path: list[str] = Field(default_factory=list)
    url: str | None
    score: float
    snippet: str
    source: Literal["faq", "docs"]
    faq_answer: str | None = None
    faq_id: str | None = None


class Decision(BaseModel):
    answer: bool
    reason: str
    hits: list[Hit]
    best: Hit | None
    features: dict[str, float | int | str | bool]


_second = operator.itemgetter(1)


_SENT_RE = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9`\"'(])")


def make_snippet(text: str, limit: int = 320) -> str:
    """First sentences of the first real paragraph, plain text, at most `limit` characters."""
    paras = [p.strip() for p in text.split("\n\n") if p.strip() and "|" not in p.strip()[:60]]
    start = next((i for i, p in enumerate(paras) if len(p) >= 40), 0)
    para = ""
    # A lead-in line ("Install the client:") says little alone: take the next paragraph too.
    for p in paras[start:]:
        sep = "" if not para or para.endswith((".", "!", "?", ":", ";")) else "."
        para = f"{para}{sep} {p}".strip()
        if len(para) >= 120:
            break
    para = " ".join(para.split())
    if len(para) <= limit:
        return para
    out = ""
    for sent in _SENT_RE.split(para):
        if len(out) + len(sent) + 1 > limit:
            break
        out = f"{out} {sent}".strip()
    return out or para[: limit - 1].rsplit(" ", 1)[0] + "…"


class KnowledgeBase:
    """Built once (or loaded from cache), then read-only: safe to share across threads."""

    # Field weights: a word in a heading says far more about a section than one in its body.
    SECTION_WEIGHTS: ClassVar[dict[str, float]] = {
        "title": 3.0,
        "heading": 3.0,
        "body": 1.0,
        "code": 0.3,
        "head2": 3.0,
        "body2": 1.0,
    }
    SECTION_B: ClassVar[dict[str, float]] = {
        "title": 0.3,
        "heading": 0.5,
        "body": 0.75,
        "code": 0.75,
        "head2": 0.5,
        "body2": 0.75,
    }
    PAGE_WEIGHTS: ClassVar[dict[str, float]] = {
        "title": 3.0,
        "heading": 1.0,
        "body": 1.0,
        "head2": 2.0,
        "body2": 1.0,
    }
    PAGE_B: ClassVar[dict[str, float]] = {
        "title": 0.3,
        "heading": 0.5,
        "body": 0.75,
        "head2": 0.5,
        "body2": 0.75,
    }
    PAGE_SHARE = 1.0  # how much the whole page's relevance adds to each of its sections
    LEGACY_PRIOR = 0.95
    HEAD_BONUS = 0.15
    RERANK_DEPTH = 30
    CANDIDATES = 400

    def __init__(
        self,
        settings: KnowledgeSettings,
        docs: list[Doc],
        page_titles: list[str],
        sections_index: BM25F,
        pages_index: BM25F,
        vocab: Vocabulary,
        fingerprint: str,
    ) -> None:
        self.settings = settings
        self.docs = docs
        self.page_titles = page_titles
        self.sections_index = sections_index
        self.pages_index = pages_index
        self.vocab = vocab
        self.fingerprint = fingerprint
        # Pages of a retired service answer the same words as their successors: prefer the
        # current docs when both match equally.
        # Curated entries win over doc sections that match about as well (faq_preference).
        faq_boost = 1.0 / max(settings.faq_preference, 0.05)
        self.prior = [
            faq_boost
            if d.source == "faq"
            else (self.LEGACY_PRIOR if "legacy" in d.section.path else 1.0)
            for d in docs
        ]
        # How much of a section's own heading the question explains (a heading is a promise
        # of what the section answers).
        idf = sections_index.idfs()
        self.head_terms: list[tuple[list[tuple[str, float]], float]] = []
        for d in docs:
            hs = [
                (t, idf.get(t, 0.0))
                for t in set(analyze_doc(d.section.heading or d.section.page_title))
            ]
            self.head_terms.append((hs, sum(w for _, w in hs)))
        self.doc_paths = [d.section.path for d in docs]
        self._snippets: dict[int, str] = {}
        self.page_docs: list[list[int]] = [[] for _ in page_titles]
        for i, d in enumerate(docs):
            self.page_docs[d.page].append(i)
        # The semantic side (knowledge/dense.py, knowledge/hybrid.py): attached after the
        # lexical index is built or loaded; None runs the lexical engine alone.
        self.dense: DenseIndex | None = None
        self.gate_model: GateModel | None = None
        self.path_docs: dict[str, list[int]] = {}
        for i, p in enumerate(self.doc_paths):
            self.path_docs.setdefault(p, []).append(i)
        page_of_doc = np.array([d.page for d in docs], dtype=np.int64)
        change = np.ones(len(docs), dtype=bool)
        change[1:] = page_of_doc[1:] != page_of_doc[:-1]
        self.page_starts = np.flatnonzero(change)  # first section of each page
        self.doc_group = np.cumsum(change) - 1  # which of those pages a section is on
        self.dense_prior = np.array(
            [LEGACY_DENSE_PRIOR if "legacy" in p else 1.0 for p in self.doc_paths],
            dtype=np.float32,
        )

    # --- building (knowledge/build.py) -----------------------------------------------------

    @classmethod
    def build(
        cls,
        settings: KnowledgeSettings,
        cache_dir: Path,
        progress: Progress | None = None,
    ) -> KnowledgeBase:
        return build_knowledge(cls, settings, cache_dir, progress)

    def attach_semantic(self, cache_dir: Path, say: Progress) -> None:
        """Embed the sections (only those not in the vector cache) and load the fitted gate.
        Without the model package the lexical engine answers alone, and says so."""
        attach_semantic(self, cache_dir, say)

    @classmethod
    def _build_lexical(cls, settings: KnowledgeSettings, cache_dir: Path, say: Progress):
        return build_lexical(cls, settings, cache_dir, say)

    def _state(self) -> dict[str, object]:
        return state_of(self)

    @classmethod
    def _build_fresh(cls, settings: KnowledgeSettings, fp: str, say: Progress) -> KnowledgeBase:
        return build_fresh(cls, settings, fp, say)

    def analyze(self, text: str) -> Query:
        return analyze_query(text, self.vocab)

    def score(
        self,
        q: Query,
        limit: int = 50,
        pages_out: dict[int, float] | None = None,
        docs_out: dict[int, float] | None = None,
    ) -> list[tuple[int, float]]:
        """(doc index, score), best first, at most one doc per page (curated entries share the
        page they cite). `pages_out` receives the page-level scores (the gate reuses them)."""
        terms = [(t.term, t.weight) for t in q.terms]
        sec = self.sections_index.score(terms)
        page = self.pages_index.score(terms)
        if pages_out is not None:
            pages_out.update(page)
        share = self.PAGE_SHARE
        prior = self.prior
        docs = self.docs
        # Candidates: the best sections and the best pages. A fixed number, so the Python-level
        # work per question stays flat as the docs grow.
        cand_secs = heapq.nlargest(self.CANDIDATES, sec.items(), key=_second)
        cand_pages = heapq.nlargest(self.CANDIDATES // 4, page.items(), key=_second)
        combined: dict[int, float] = {}
        for d, sc in cand_secs:
            combined[d] = (sc + share * page.get(docs[d].page, 0.0)) * prior[d]
        # A page relevant as a whole can be the answer where no one section matches well.
        for p, sc in cand_pages:
            top = self.page_docs[p][0]
            if top not in combined:
                combined[top] = (sec.get(top, 0.0) + share * sc) * prior[top]
        if self.HEAD_BONUS:
            qset = {t.term for t in q.terms}
            for d in heapq.nlargest(self.RERANK_DEPTH, combined, key=combined.__getitem__):
                hs, tot = self.head_terms[d]
                if tot:
                    got = sum(w for t, w in hs if t in qset)
                    combined[d] *= 1.0 + self.HEAD_BONUS * got / tot
        if docs_out is not None:
            docs_out.update(combined)  # every candidate section, for the hybrid's fusion
        best_per_page: dict[str, tuple[int, float]] = {}
        paths = self.doc_paths
        for d, sc in combined.items():
            key = paths[d]
            old = best_per_page.get(key)
            if old is None or sc > old[1]:
                best_per_page[key] = (d, sc)
        return heapq.nlargest(limit, best_per_page.values(), key=lambda x: x[1])

    def hit(self, doc_index: int, score: float) -> Hit:
        d = self.docs[doc_index]
        s = d.section
        base = self.settings.base_url
        if d.source == "faq":
            assert d.faq is not None
            url = None
            if d.faq.doc:
                url = page_url(base, d.faq.doc)
            return Hit(
                path=s.path,
                section=s.heading,
                title=s.page_title,
                heading_path=s.heading_path,
                url=url,
                score=round(score, 4),
                snippet=self.snippet(doc_index),
                source="faq",
                faq_answer=d.faq.answer,
                faq_id=d.faq.id,
            )
        return Hit(
            path=s.path,
            section=s.heading,
            title=s.page_title,
            heading_path=s.heading_path,
            url=s.url(base),
            score=round(score, 4),
            snippet=self.snippet(doc_index),
            source="docs",
        )

    def snippet(self, doc_index: int) -> str:
        got = self._snippets.get(doc_index)
        if got is None:
            got = make_snippet(self.docs[doc_index].section.text, self.settings.snippet_chars)
            self._snippets[doc_index] = got
        return got

    def rank(self, text: str, k: int = 10) -> list[Hit]:
        if self.dense is not None and self.gate_model is not None:
            from knowledge.hybrid import evidence, fuse

            fused = fuse(self, evidence(self, text), self.gate_model.fusion_a)
            return [self.hit(d, s) for d, s in fused[:k]]
        q = self.analyze(text)
        return [self.hit(d, s) for d, s in self.score(q)[:k]]

    def decide(self, text: str) -> Decision:
        if self.dense is not None and self.gate_model is not None:
            from knowledge.hybrid import decide as hybrid_decide

            return hybrid_decide(self, text)
        from knowledge.gate import decide

        return decide(self, text)
