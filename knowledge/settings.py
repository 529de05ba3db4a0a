"""Settings of the knowledge base; mounted at `[knowledge]` in the TOML config."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from bot.settings_base import Section


class KnowledgeSettings(Section):
    """Where the docs are, how sure the bot must be to answer, and how often it may."""

    docs_dir: Path | None = Field(
        default=None,
        description="Checkout of the mkdocs docs repository (with mkdocs.yml) or its content/ "
        "folder. None: only the curated FAQ entries are searched.",
    )
    base_url: str = "https://docs.safespring.com/"
    faq_file: Path | None = Field(
        default=None, description="Curated entries; None uses knowledge/faq.toml shipped with us."
    )
    cache_dir: Path | None = Field(
        default=None, description="Where the built index is cached; None: the bot's data dir."
    )

    # Answer-or-silence thresholds (calibrated on the dev set; see knowledge/gate.py).
    min_confidence: float = Field(default=0.805, ge=0.0, le=1.0)
    unsure_confidence: float = Field(
        default=0.4, ge=0.0, le=1.0, description="!faq shows the top 3 below min_confidence."
    )
    semantic: bool = Field(
        default=True,
        description="Fuse a sentence-embedding signal (all-MiniLM-L6-v2, int8 ONNX) with the "
        "lexical ranking and answer through the fitted gate (knowledge/gate_model.json). "
        "False: the lexical engine alone.",
    )
    page_questions: bool = Field(
        default=True,
        description="Add the customer-style questions of knowledge/questions/*.jsonl (written "
        "from the docs alone) as extra vectors of the sections and pages they ask about.",
    )
    answer_threshold: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Hybrid gate threshold; None uses the one chosen by cross-validation.",
    )
    faq_preference: float = Field(
        default=0.95,
        ge=0.0,
        le=2.0,
        description="A curated entry wins when its score is at least this share of the best doc's.",
    )

    # Passive auto-answers in the support room.
    auto_answer: bool = True
    snippet_chars: int = Field(default=320, ge=80, le=2000)
    per_user_per_hour: int = Field(default=3, ge=0, description="auto answers per asker per hour")
    per_room_per_hour: int = Field(default=20, ge=0, description="auto answers per room per hour")
    backlog_max_age_s: int = Field(
        default=900,
        ge=0,
        description="questions sent while the bot was down get an auto answer only if this recent",
    )
    watch_interval_s: int = Field(
        default=300, ge=0, description="how often to check the docs tree for changes; 0: never"
    )
