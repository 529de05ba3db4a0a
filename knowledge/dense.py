"""Dense side of the hybrid: docs sections as chunk embeddings, cached per chunk by content.

A section is embedded as `page title > heading path: text`, cut into ~120-word chunks with a
stride of 90 words (a long section is about several things; one vector would blur them). A
section's dense score is its best chunk's cosine. Curated entries are embedded question by
question. Vectors are cached on disk keyed by sha256(model id + chunk text), so a docs change
re-embeds only the chunks whose text changed.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import hashlib
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from knowledge.embed import DIM, MODEL_ID, Embedder
from knowledge.page_questions import PageQuestions, heading_key

if TYPE_CHECKING:
    from knowledge.index import Doc

CHUNK_WORDS = 120
STRIDE = 90
BATCH = 16  # peak memory grows with batch x longest chunk; 16 keeps the build under ~600 MB
Progress = Callable[[str], None]
T = TypeVar("T")

_EMBEDDERS: dict[str, Embedder] = {}


def embedder_for(model_dir: Path) -> Embedder:
    """One model per process: loading it costs ~0.3 s and ~60 MB, rebuilding the index reuses it."""
    key = str(Path(model_dir).resolve())
    emb = _EMBEDDERS.get(key)
    if emb is None:
        emb = _EMBEDDERS[key] = Embedder(Path(model_dir))
    return emb


def give_back_memory() -> None:
    """Return freed heap to the OS after an embedding pass (glibc keeps it otherwise: the bot
    sat at ~360 MB after a first build instead of ~200 MB). A no-op where there is no glibc."""
    gc.collect()
    libc = ctypes.util.find_library("c")
    trim = getattr(ctypes.CDLL(libc), "malloc_trim", None) if libc else None
    if trim is not None:
        trim(0)


def store_dir(default: Path) -> Path:
    """Where vectors and the derived model live. BACKCHANNEL_EMBED_CACHE overrides (tests and
    CI share one store per session, so the docs are embedded once, not per fixture)."""
    env = os.environ.get("BACKCHANNEL_EMBED_CACHE")
    return Path(env) if env else Path(default)


def outline(docs: Sequence[Doc], i: int) -> str | None:
    """For a page's first section: the page title and all its headings, one chunk. What a page
    is about as a whole is in its outline; a paraphrase that matches no one section's words
    often matches that."""
    d = docs[i]
    if d.source != "docs" or (i > 0 and docs[i - 1].page == d.page):
        return None
    # the docs of one page are contiguous
    j = i
    heads = []
    while j < len(docs) and docs[j].page == d.page:
        if docs[j].section.heading:
            heads.append(docs[j].section.heading)
        j += 1
    return f"{d.section.page_title}: {'; '.join(heads)}" if heads else None


def doc_chunks(doc: Doc) -> list[str]:
    s = doc.section
    if doc.source == "faq" and doc.faq is not None:
        return [*doc.faq.questions, f"{doc.faq.questions[0]}: {s.text}"]
    head = " > ".join([s.page_title, *s.heading_path])
    words = s.text.split()
    if not words:
        return [head]
    out = []
    for start in range(0, max(len(words) - (CHUNK_WORDS - STRIDE), 1), STRIDE):
        out.append(f"{head}: {' '.join(words[start : start + CHUNK_WORDS])}")
    return out


def add_questions(
    docs: Sequence[Doc],
    chunks: list[list[str]],
    outlines: list[tuple[int, str]],
    questions: PageQuestions,
    say: Progress,
) -> None:
    """Section questions become chunks of their section; page-level ones (and those of a
    heading the docs no longer have) page-level vectors of the page's first section."""
    known = {
        (d.section.path, heading_key(d.section.heading))
        for d in docs
        if d.source == "docs" and d.section.heading
    }
    first: dict[str, int] = {}
    for i, d in enumerate(docs):
        if d.source != "docs":
            continue
        first.setdefault(d.section.path, i)
        chunks[i].extend(questions.for_section(d.section.path, d.section.heading))
    for path, i in first.items():
        outlines.extend((i, q) for q in questions.for_page(path, known))
    stale = questions.unmatched(known)
    if stale:
        say(f"knowledge: {len(stale)} question groups name a heading the docs lack; page-level")


def _key(text: str) -> str:
    return hashlib.sha256(f"{MODEL_ID}\0{text}".encode()).hexdigest()[:32]


class VectorStore:
    """key -> vector, one .npz file; written atomically. Old vectors are kept (a docs revert,
    or another docs tree sharing the store, costs nothing) until the store passes MAX_VECTORS;
    then only what the current index uses is kept."""

    MAX_VECTORS = 20_000  # ~30 MB

    def __init__(self, path: Path) -> None:
        self.path = path
        self.vectors: dict[str, np.ndarray] = {}
        if path.is_file():
            try:
                with np.load(path) as z:
                    keys, vecs = z["keys"], z["vectors"]
                self.vectors = {str(k): v for k, v in zip(keys, vecs, strict=True)}
            except Exception:  # a truncated store is rebuilt, never fatal
                self.vectors = {}

    def save(self, keep: set[str]) -> None:
        over = len(self.vectors) > self.MAX_VECTORS
        keys = sorted(k for k in self.vectors if k in keep or not over)
        vecs = np.stack([self.vectors[k] for k in keys]) if keys else np.zeros((0, DIM))
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp.npz")
        np.savez(tmp, keys=np.array(keys), vectors=vecs.astype(np.float32))
        tmp.replace(self.path)


class DenseIndex:
    """Chunk matrix in doc order; `doc_scores` gives every doc its best chunk cosine."""

    def __init__(
        self,
        matrix: np.ndarray,
        starts: np.ndarray,
        n_docs: int,
        emb: Embedder,
        outlines: np.ndarray,
        outline_docs: np.ndarray,
    ):
        self.matrix = matrix  # (chunks, DIM) float32, unit rows
        self.starts = starts  # first chunk of each doc (every doc has >= 1 chunk)
        self.n_docs = n_docs
        self.embedder = emb
        # Page outlines score the page as a whole, never one section: they raise a page's
        # dense score without pulling the shown section towards the page top.
        self.outlines = outlines
        self.outline_docs = outline_docs

    @classmethod
    def build(
        cls,
        docs: Sequence[Doc],
        cache_dir: Path,
        say: Progress,
        questions: PageQuestions | None = None,
    ) -> DenseIndex:
        root = store_dir(cache_dir)
        chunks = [doc_chunks(d) for d in docs]
        outlines = [(i, o) for i in range(len(docs)) if (o := outline(docs, i)) is not None]
        if questions is not None:
            add_questions(docs, chunks, outlines, questions, say)
        flat = [c for cs in chunks for c in cs] + [o for _, o in outlines]
        keys = [_key(c) for c in flat]
        store = VectorStore(root / f"vectors-{MODEL_ID}.npz")
        todo = sorted({k: i for i, k in enumerate(keys) if k not in store.vectors}.values())
        if todo:
            t0 = time.perf_counter()
            say(f"knowledge: embedding {len(todo)} of {len(flat)} chunks (others cached)")
            # A session of its own, dropped afterwards: onnxruntime's arena keeps the peak of
            # the batches (~650 MB) for the session's life, and the bot would carry it on.
            # Same model, options and batches: the vectors are the same.
            builder = Embedder(root)
            # Longest first within batches keeps padding waste low.
            todo.sort(key=lambda i: len(flat[i]))
            last = 0.0
            for b in range(0, len(todo), BATCH):
                idx = todo[b : b + BATCH]
                vecs = builder.encode([flat[i] for i in idx])
                for i, v in zip(idx, vecs, strict=True):
                    store.vectors[keys[i]] = v
                now = time.perf_counter()
                if now - last > 5 or b + BATCH >= len(todo):
                    last = now
                    done = min(b + BATCH, len(todo))
                    say(f"knowledge: embedded {done}/{len(todo)} chunks, {now - t0:.0f}s")
            del builder
            store.save(set(keys))
            give_back_memory()
        matrix = np.stack([store.vectors[k] for k in keys]).astype(np.float32)
        n_sec = len(flat) - len(outlines)
        starts = np.cumsum([0] + [len(cs) for cs in chunks[:-1]]).astype(np.int64)
        outline_docs = np.array([i for i, _ in outlines], dtype=np.int64)
        emb = embedder_for(root)
        return cls(matrix[:n_sec], starts, len(docs), emb, matrix[n_sec:], outline_docs)

    def encode(self, text: str) -> np.ndarray:
        return self.embedder.encode_one(text)

    def encode_beside(self, text: str, beside: Callable[[], T]) -> tuple[np.ndarray, T]:
        """`encode(text)` while `beside()` runs on another core (Embedder.encode_one_beside)."""
        return self.embedder.encode_one_beside(text, beside)

    def doc_scores(self, qv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(best chunk cosine per section, outline cosine per page-top section or -1)."""
        if self.n_docs == 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32)
        sec = np.maximum.reduceat(self.matrix @ qv, self.starts)
        page = np.full(self.n_docs, -1.0, dtype=np.float32)
        if len(self.outline_docs):
            # a page may have several page-level vectors (outline, page questions): the best
            np.maximum.at(page, self.outline_docs, self.outlines @ qv)
        return sec, page
