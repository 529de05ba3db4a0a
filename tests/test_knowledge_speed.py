"""Speed changes of the hybrid engine (issue 13) change nothing it decides."""

from __future__ import annotations

import json

import pytest

from harness.shared_data import DOCS, SHARED
from knowledge import hybrid
from knowledge.index import KnowledgeBase
from knowledge.settings import KnowledgeSettings

pytestmark = pytest.mark.skipif(not DOCS.is_dir(), reason="shared docs corpus not present")


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    kb = KnowledgeBase.build(KnowledgeSettings(docs_dir=DOCS), tmp_path_factory.mktemp("kbs"))
    assert kb.dense is not None and kb.gate_model is not None
    return kb


def test_lexical_beside_the_model_run_decides_exactly_as_in_turn(
    kb: KnowledgeBase, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines = (SHARED / "eval" / "faq-dev.jsonl").read_text().splitlines()
    texts = [json.loads(x)["text"] for x in lines[::5] if x.strip()]
    assert len(texts) == 42
    beside = [kb.decide(t).model_dump() for t in texts]
    monkeypatch.setattr(hybrid, "OVERLAP_DENSE", False)
    in_turn = [kb.decide(t).model_dump() for t in texts]
    assert beside == in_turn  # every hit, score, feature and reason


def test_an_error_beside_the_model_run_reaches_the_caller(kb: KnowledgeBase) -> None:
    assert kb.dense is not None

    def broken() -> None:
        raise ValueError("lexical side failed")

    with pytest.raises(ValueError, match="lexical side failed"):
        kb.dense.encode_beside("how do i resize a volume", broken)
    vec, got = kb.dense.encode_beside("how do i resize a volume", lambda: 7)
    assert got == 7 and (vec == kb.dense.encode("how do i resize a volume")).all()
