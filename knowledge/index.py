"""The knowledge base: docs sections + curated entries, indexed, cached on disk by content hash."""

from __future__ import annotations

import hashlib
import heapq
import operator
import pickle
import re
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
from pydantic import BaseModel, Field

from knowledge.dense import DenseIndex
from knowledge.embed import ModelError
from knowledge.hybrid import LEGACY_DENSE_PRIOR, MODEL_FILE, GateModel
from knowledge.ingest import Section, content_dir, iter_markdown, load_tree, page_url
from knowledge.matcher import (
    BM25F,
    Query,
    Vocabulary,
    analyze_doc,
    analyze_query,
    pairs,
    tokenize,
)
from knowledge.settings import KnowledgeSettings

# Bump when the index layout or analysis changes: old caches are then ignored.
INDEX_VERSION = "kb-23"
DEFAULT_FAQ = Path(__file__).with_name("faq.toml")

Progress = Callable[[str], None]


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


@dataclass(slots=True)
class FaqEntry:
    id: str
    questions: list[str]
    answer: str
    doc: str | None
    section: str | None


@dataclass(slots=True)
class Doc:
    """One ranked unit: a docs section or a curated entry."""

    section: Section
    source: Literal["faq", "docs"]
    page: int  # index into pages
    faq: FaqEntry | None = None


def load_faq(path: Path) -> list[FaqEntry]:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    return [
        FaqEntry(
            id=e["id"],
            questions=list(e["questions"]),
            answer=e["answer"].strip(),
            doc=e.get("doc"),
            section=e.get("section"),
        )
        for e in data.get("entry", [])
    ]


_second = operator.itemgetter(1)


def path_words(path: str) -> str:
    """The page's folders and file name as words: `kubernetes/security-compliance/x.md` says
    which product a page is about even where its text does not."""
    stem = path[:-3] if path.endswith(".md") else path
    return " ".join(p for p in re.split(r"[/_\-.]+", stem) if p not in ("index", "howto"))


def with_pairs(fields: dict[str, list[str]]) -> dict[str, list[str]]:
    """Add the adjacent-pair fields: head2 from title and headings, body2 from the body."""
    fields["head2"] = pairs(fields.get("title", [])) + pairs(fields.get("heading", []))
    fields["body2"] = pairs(fields.get("body", []))
    return fields


def fingerprint_of(settings: KnowledgeSettings) -> str:
    """Content hash of everything the index is built from."""
    h = hashlib.sha256(INDEX_VERSION.encode())
    h.update(settings.base_url.encode())
    faq = settings.faq_file or DEFAULT_FAQ
    h.update(faq.read_bytes() if faq.is_file() else b"")
    if settings.docs_dir is not None:
        cfg = settings.docs_dir / "mkdocs.yml"
        if cfg.is_file():
            h.update(cfg.read_bytes())
        root = content_dir(settings.docs_dir)
        for p in iter_markdown(root):
            h.update(p.relative_to(root).as_posix().encode() + b"\0")
            h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:24]


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

    # --- building ---------------------------------------------------------------------------

    @classmethod
    def build(
        cls,
        settings: KnowledgeSettings,
        cache_dir: Path,
        progress: Progress | None = None,
    ) -> KnowledgeBase:
        say = progress or (lambda _msg: None)
        kb = cls._build_lexical(settings, cache_dir, say)
        if settings.semantic:
            kb.attach_semantic(cache_dir, say)
        return kb

    def attach_semantic(self, cache_dir: Path, say: Progress) -> None:
        """Embed the sections (only those not in the vector cache) and load the fitted gate.
        Without the model package the lexical engine answers alone, and says so."""
        t0 = time.perf_counter()
        try:
            self.dense = DenseIndex.build(self.docs, Path(cache_dir), say)
            self.gate_model = GateModel.load() if MODEL_FILE.is_file() else None
        except (ModelError, OSError, ValueError) as e:
            self.dense = None
            self.gate_model = None
            say(f"knowledge: semantic signal unavailable ({e}); lexical ranking only")
            return
        say(f"knowledge: semantic signal ready in {time.perf_counter() - t0:.2f}s")

    @classmethod
    def _build_lexical(cls, settings: KnowledgeSettings, cache_dir: Path, say: Progress):
        t0 = time.perf_counter()
        fp = fingerprint_of(settings)
        cache = Path(cache_dir) / f"knowledge-{fp}.pickle"
        if cache.is_file():
            try:
                with cache.open("rb") as f:
                    state = pickle.load(f)
                kb = cls(settings=settings, **state)
                say(f"knowledge: loaded cached index {fp} ({len(kb.docs)} sections)")
                return kb
            except Exception as e:  # a stale or truncated cache is rebuilt, never fatal
                say(f"knowledge: cache unreadable ({e}); rebuilding")
        kb = cls._build_fresh(settings, fp, say)
        try:
            cache.parent.mkdir(parents=True, exist_ok=True)
            tmp = cache.with_suffix(".tmp")
            with tmp.open("wb") as f:
                pickle.dump(kb._state(), f, protocol=pickle.HIGHEST_PROTOCOL)
            tmp.replace(cache)
            for old in cache.parent.glob("knowledge-*.pickle"):
                if old != cache:
                    old.unlink(missing_ok=True)
        except OSError as e:
            say(f"knowledge: could not write cache: {e}")
        say(f"knowledge: index {fp} ready in {time.perf_counter() - t0:.2f}s")
        return kb

    def _state(self) -> dict[str, object]:
        return {
            "docs": self.docs,
            "page_titles": self.page_titles,
            "sections_index": self.sections_index,
            "pages_index": self.pages_index,
            "vocab": Vocabulary(self.vocab.df),
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def _build_fresh(cls, settings: KnowledgeSettings, fp: str, say: Progress) -> KnowledgeBase:
        docs: list[Doc] = []
        page_titles: list[str] = []
        page_fields: list[dict[str, list[str]]] = []
        surface: Counter[str] = Counter()

        if settings.docs_dir is not None:
            say(f"knowledge: reading {settings.docs_dir}")
            pages = load_tree(settings.docs_dir)
            say(f"knowledge: {len(pages)} pages parsed, indexing")
            for page in pages:
                pi = len(page_titles)
                page_titles.append(page.title)
                body: list[str] = []
                heads: list[str] = []
                for s in page.sections:
                    docs.append(Doc(section=s, source="docs", page=pi))
                    body.append(s.text)
                    if s.heading:
                        heads.append(s.heading)
                    surface.update(set(tokenize(f"{s.text} {s.heading or ''} {s.code}")))
                surface.update(set(tokenize(page.title)))
                page_fields.append(
                    with_pairs(
                        {
                            "title": analyze_doc(f"{page.title} {path_words(page.path)}"),
                            "heading": analyze_doc(" ".join(heads)),
                            "body": analyze_doc("\n".join(body)),
                        }
                    )
                )

        faq_path = settings.faq_file or DEFAULT_FAQ
        for e in load_faq(faq_path) if faq_path.is_file() else []:
            pi = len(page_titles)
            title = e.questions[0][:1].upper() + e.questions[0][1:] + "?"
            page_titles.append(title)
            sec = Section(
                path=e.doc or f"faq/{e.id}",
                page_title=title,
                heading=e.section,
                heading_path=[e.section] if e.section else [],
                anchor=None,
                level=0,
                text=e.answer,
                code="",
            )
            docs.append(Doc(section=sec, source="faq", page=pi, faq=e))
            qtext = " ".join(e.questions)
            surface.update(set(tokenize(f"{qtext} {e.answer}")))
            page_fields.append(
                with_pairs(
                    {"title": analyze_doc(qtext), "heading": [], "body": analyze_doc(e.answer)}
                )
            )

        sec_fields: list[dict[str, list[str]]] = []
        for d in docs:
            s = d.section
            if d.source == "faq":
                assert d.faq is not None
                sec_fields.append(
                    with_pairs(
                        {
                            "title": [],
                            "heading": analyze_doc(" ".join(d.faq.questions)),
                            "body": analyze_doc(s.text),
                            "code": [],
                        }
                    )
                )
            else:
                sec_fields.append(
                    with_pairs(
                        {
                            "title": analyze_doc(f"{s.page_title} {path_words(s.path)}"),
                            "heading": analyze_doc(" ".join(s.heading_path)),
                            "body": analyze_doc(s.text),
                            "code": analyze_doc(s.code),
                        }
                    )
                )
        sections_index = BM25F.build(sec_fields, cls.SECTION_WEIGHTS, cls.SECTION_B)
        pages_index = BM25F.build(page_fields, cls.PAGE_WEIGHTS, cls.PAGE_B)
        return cls(
            settings=settings,
            docs=docs,
            page_titles=page_titles,
            sections_index=sections_index,
            pages_index=pages_index,
            vocab=Vocabulary(surface),
            fingerprint=fp,
        )

    # --- querying ---------------------------------------------------------------------------

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
