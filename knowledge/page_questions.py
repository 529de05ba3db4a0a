"""Customer-style questions per docs page or section, as extra search vectors (doc2query).

Customers ask about a symptom or a goal ("my disk is full, can it grow?"), not in a page's
words ("Extending a volume"); a question-to-question match is what the sentence model does
best. The tables in knowledge/questions/*.jsonl were written by reading the docs alone: no
evaluation message was looked at while writing them, so every labelled set stays unseen by
them. A question for a section scores that section; a page-level one (`section: null`)
scores the page as a whole, like the page outline.
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from pydantic import BaseModel, Field

DEFAULT_DIR = Path(__file__).with_name("questions")


class PageQuestionRow(BaseModel):
    """One line of a questions table."""

    path: str = Field(description="page, relative to the docs' content folder")
    section: str | None = None
    questions: list[str]


def heading_key(heading: str | None) -> str:
    """Headings compared without markup, case or punctuation (`**S3** Select` = `S3 select`)."""
    return re.sub(r"[^0-9a-z]+", " ", (heading or "").lower()).strip()


class PageQuestions:
    def __init__(self, rows: list[PageQuestionRow]) -> None:
        self.by_section: dict[tuple[str, str], list[str]] = defaultdict(list)
        self.by_page: dict[str, list[str]] = defaultdict(list)
        for row in rows:
            qs = [q.strip() for q in row.questions if q.strip()]
            if row.section:
                self.by_section[(row.path, heading_key(row.section))].extend(qs)
            else:
                self.by_page[row.path].extend(qs)

    @classmethod
    def load(cls, folder: Path = DEFAULT_DIR) -> PageQuestions:
        rows: list[PageQuestionRow] = []
        for f in sorted(folder.glob("*.jsonl")) if folder.is_dir() else []:
            for n, line in enumerate(f.read_text(encoding="utf-8").splitlines(), 1):
                if line.strip():
                    try:
                        rows.append(PageQuestionRow.model_validate_json(line))
                    except ValueError as e:
                        raise ValueError(f"{f.name}:{n}: {e}") from e
        return cls(rows)

    def for_section(self, path: str, heading: str | None) -> list[str]:
        return self.by_section.get((path, heading_key(heading)), []) if heading else []

    def unmatched(self, known: set[tuple[str, str]]) -> list[tuple[str, str]]:
        """Section questions whose heading is no longer in the docs (they then score the page)."""
        return sorted(k for k in self.by_section if k not in known)

    def for_page(self, path: str, known: set[tuple[str, str]]) -> list[str]:
        """Page-level questions, plus those of sections the docs no longer have."""
        out = list(self.by_page.get(path, []))
        for (p, h), qs in self.by_section.items():
            if p == path and (p, h) not in known:
                out.extend(qs)
        return out

    def fingerprint_bytes(self) -> bytes:
        parts = [f"{k}\0{q}" for k, qs in sorted(self.by_section.items()) for q in qs]
        parts += [f"{k}\0{q}" for k, qs in sorted(self.by_page.items()) for q in qs]
        return "\n".join(parts).encode()
