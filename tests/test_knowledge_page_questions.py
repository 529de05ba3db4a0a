"""Customer-style questions per docs section (knowledge/questions), used as extra vectors."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.shared_data import DOCS
from knowledge.dense import DenseIndex
from knowledge.index import KnowledgeBase
from knowledge.page_questions import DEFAULT_DIR, PageQuestionRow, PageQuestions, heading_key
from knowledge.settings import KnowledgeSettings

needs_docs = pytest.mark.skipif(not DOCS.is_dir(), reason="shared docs corpus not present")


def test_heading_key_ignores_markup_case_and_punctuation() -> None:
    assert heading_key("**S3** Select") == heading_key("s3 select")
    assert heading_key("1. Configure the repository") == "1 configure the repository"
    assert heading_key(None) == ""


def test_a_bad_line_is_named(tmp_path: Path) -> None:
    (tmp_path / "x.jsonl").write_text('{"path": "a.md", "questions": ["q"]}\n{"path": 3}\n')
    with pytest.raises(ValueError, match=r"x\.jsonl:2"):
        PageQuestions.load(tmp_path)


def test_section_questions_whose_heading_went_score_the_page() -> None:
    pq = PageQuestions(
        [
            PageQuestionRow(path="a.md", section="Gone", questions=["old one"]),
            PageQuestionRow(path="a.md", section="Here", questions=["kept"]),
            PageQuestionRow(path="a.md", questions=["page wide"]),
        ]
    )
    known = {("a.md", "here")}
    assert pq.for_section("a.md", "HERE") == ["kept"]
    assert pq.for_page("a.md", known) == ["page wide", "old one"]
    assert pq.unmatched(known) == [("a.md", "gone")]


@needs_docs
def test_shipped_tables_name_real_pages_and_mostly_real_headings() -> None:
    pq = PageQuestions.load(DEFAULT_DIR)
    content = DOCS / "content"
    paths = {p for p, _ in pq.by_section} | set(pq.by_page)
    assert paths and all((content / p).is_file() for p in paths)
    assert (
        sum(len(q) for q in pq.by_section.values()) + sum(len(q) for q in pq.by_page.values())
        > 1000
    )


@needs_docs
def test_page_questions_pull_a_paraphrase_to_its_section(tmp_path: Path) -> None:
    """A question written for a section becomes one of its vectors: asked verbatim, that
    section scores its cosine at (nearly) 1."""
    kb = KnowledgeBase.build(KnowledgeSettings(docs_dir=DOCS), tmp_path)
    assert kb.dense is not None
    pq = PageQuestions.load(DEFAULT_DIR)
    (path, key), questions = next(iter(pq.by_section.items()))
    i = next(
        n
        for n, d in enumerate(kb.docs)
        if d.source == "docs" and d.section.path == path and heading_key(d.section.heading) == key
    )
    sec, _ = kb.dense.doc_scores(kb.dense.encode(questions[0]))
    assert sec[i] > 0.99
    without = DenseIndex.build(kb.docs, tmp_path, lambda _m: None, None)
    sec0, _ = without.doc_scores(without.encode(questions[0]))
    assert sec0[i] < sec[i]
