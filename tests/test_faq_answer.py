"""An FAQ answer's text pings nobody but the asker (commands/faq/answer.py)."""

from __future__ import annotations

from commands.faq.answer import WORD_JOINER, Asker, Hint, answer_html, has_words
from knowledge.index import Hit


def _hit(**kw: object) -> Hit:
    base: dict[str, object] = {
        "path": "compute/x.md",
        "section": "Resize",
        "title": "Instances",
        "url": "https://docs.safespring.com/compute/x/#resize",
        "score": 1.0,
        "snippet": "Tell @room before you resize; ask @alice:example.org.",
        "source": "docs",
    }
    return Hit.model_validate({**base, **kw})


def test_doc_text_loses_user_links_and_room_pings() -> None:
    asker = Asker("@bob:example.org", "Bob")
    hint = Hint("Need a person? Ask an engineer to open a ticket.", "Need a person? Ask ...")
    curated = _hit(
        source="faq",
        faq_answer="Ask [Alice](https://matrix.to/#/@alice:example.org) or tell @room first.",
    )
    for hit in (_hit(), curated):
        html, plain = answer_html(hit, asker, hint, auto=True)
        assert html.startswith('<a href="https://matrix.to/#/@bob:example.org">Bob</a>: ')
        assert html.count("matrix.to/#/@") == 1  # the asker's pill only
        assert plain.startswith("Bob: Instances › Resize (https://docs.safespring.com/")
        for text in (html, plain):
            assert "@room" not in text and f"@{WORD_JOINER}room" in text
        assert plain.endswith("Automatic answer from the docs. Need a person? Ask ...")
    html, plain = answer_html(_hit(), asker, Hint("", ""), auto=False)  # staff: no hint
    assert html.endswith("<i>From the docs.</i>") and plain.endswith("From the docs.")


def test_words_are_what_is_left_after_markup() -> None:
    assert not has_words("** `` ** <b></b> _ # >")
    assert has_words("**resize** a volume") and has_words("å")
