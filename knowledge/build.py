"""Building the knowledge base: the curated entries, the lexical index and its on-disk cache,
the semantic side. ``knowledge.index.KnowledgeBase`` calls these; its names stay importable there.
"""

from __future__ import annotations

import hashlib
import pickle
import re
import time
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from knowledge.dense import DenseIndex
from knowledge.embed import ModelError
from knowledge.hybrid import MODEL_FILE, GateModel
from knowledge.ingest import Section, content_dir, iter_markdown, load_tree
from knowledge.matcher import BM25F, Vocabulary, analyze_doc, pairs, tokenize
from knowledge.page_questions import PageQuestions
from knowledge.settings import KnowledgeSettings

if TYPE_CHECKING:
    from knowledge.index import KnowledgeBase

# Bump when the index layout or analysis changes: old caches are then ignored.
INDEX_VERSION = "kb-23"
DEFAULT_FAQ = Path(__file__).with_name("faq.toml")

Progress = Callable[[str], None]


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


def build_knowledge(
    kb_cls: type[KnowledgeBase],
    settings: KnowledgeSettings,
    cache_dir: Path,
    progress: Progress | None = None,
) -> KnowledgeBase:
    say = progress or (lambda _msg: None)
    kb = kb_cls._build_lexical(settings, cache_dir, say)
    if settings.semantic:
        kb.attach_semantic(cache_dir, say)
    return kb


def attach_semantic(kb: KnowledgeBase, cache_dir: Path, say: Progress) -> None:
    """Embed the sections (only those not in the vector cache) and load the fitted gate.
    Without the model package the lexical engine answers alone, and says so."""
    t0 = time.perf_counter()
    try:
        questions = PageQuestions.load() if kb.settings.page_questions else None
        kb.dense = DenseIndex.build(kb.docs, Path(cache_dir), say, questions)
        kb.gate_model = GateModel.load() if MODEL_FILE.is_file() else None
    except (ModelError, OSError, ValueError) as e:
        kb.dense = None
        kb.gate_model = None
        say(f"knowledge: semantic signal unavailable ({e}); lexical ranking only")
        return
    say(f"knowledge: semantic signal ready in {time.perf_counter() - t0:.2f}s")


def build_lexical(
    kb_cls: type[KnowledgeBase], settings: KnowledgeSettings, cache_dir: Path, say: Progress
):
    t0 = time.perf_counter()
    fp = fingerprint_of(settings)
    cache = Path(cache_dir) / f"knowledge-{fp}.pickle"
    if cache.is_file():
        try:
            with cache.open("rb") as f:
                state = pickle.load(f)
            kb = kb_cls(settings=settings, **state)
            say(f"knowledge: loaded cached index {fp} ({len(kb.docs)} sections)")
            return kb
        except Exception as e:  # a stale or truncated cache is rebuilt, never fatal
            say(f"knowledge: cache unreadable ({e}); rebuilding")
    kb = kb_cls._build_fresh(settings, fp, say)
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


def state_of(kb: KnowledgeBase) -> dict[str, object]:
    return {
        "docs": kb.docs,
        "page_titles": kb.page_titles,
        "sections_index": kb.sections_index,
        "pages_index": kb.pages_index,
        "vocab": Vocabulary(kb.vocab.df),
        "fingerprint": kb.fingerprint,
    }


def build_fresh(
    kb_cls: type[KnowledgeBase], settings: KnowledgeSettings, fp: str, say: Progress
) -> KnowledgeBase:
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
            with_pairs({"title": analyze_doc(qtext), "heading": [], "body": analyze_doc(e.answer)})
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
    sections_index = BM25F.build(sec_fields, kb_cls.SECTION_WEIGHTS, kb_cls.SECTION_B)
    pages_index = BM25F.build(page_fields, kb_cls.PAGE_WEIGHTS, kb_cls.PAGE_B)
    return kb_cls(
        settings=settings,
        docs=docs,
        page_titles=page_titles,
        sections_index=sections_index,
        pages_index=pages_index,
        vocab=Vocabulary(surface),
        fingerprint=fp,
    )


# --- querying ---------------------------------------------------------------------------
