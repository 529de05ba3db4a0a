"""The answer-or-silence gate and the ranking on the real docs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.shared_data import DOCS
from knowledge.gate import classify_message
from knowledge.index import KnowledgeBase
from knowledge.settings import KnowledgeSettings

needs_docs = pytest.mark.skipif(not DOCS.is_dir(), reason="shared docs corpus not present")


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> KnowledgeBase:
    return KnowledgeBase.build(KnowledgeSettings(docs_dir=DOCS), tmp_path_factory.mktemp("kbcache"))


@pytest.mark.parametrize(
    "text",
    [
        "hi",
        "thanks!",
        "thx, that worked 👍",
        "ok cool",
        "good morning all",
        "have a nice weekend everyone",
        "brb, lunch",
        "lgtm, ship it",
        "sorry wrong channel",
        "@maria the grafana alert for disk usage is firing on web03 again",
        "@jonas did you merge the terraform change for the db servers?",
        "can someone review my PR for the ansible role before 3?",
        "our vm in sto1 is slow again",
        "horizon feels really slow this morning",
        "deploying v2.3.1 to prod now, shout if something breaks",
        "i'll restart the nginx pods after lunch",
        "fyi we will migrate the rest of our workloads to sto2 next week",
    ],
)
def test_not_a_question(text: str) -> None:
    got = classify_message(text)
    assert got is not None and got[0] == "not a question", (text, got)


@pytest.mark.parametrize(
    "text",
    [
        "is anyone from support here?",
        "hello? anyone here",
        "can you increase my quota to 64 vcpus on prod.acme.se?",
        "can you whitelist 203.0.113.45 for api access in sto2 please",
        "could someone unlock our backup node XK2J9QPL4M7A?",
        "please delete the project test.acme.se for us, it's empty now",
        "please add my colleague erik@acme.se to our backup portal account",
        "our march invoice looks wrong, we were charged for 12 instances but only run 8",
        "why was my vm rebooted at 03:12? instance id 5b60d85c-8898-459a-804a-9ca593097104",
    ],
)
def test_needs_a_human(text: str) -> None:
    got = classify_message(text)
    assert got is not None and got[0] == "needs a human", (text, got)


@pytest.mark.parametrize(
    "text",
    [
        "how do i create a app cred w/ the cli",
        "pvc stuck in Pending, pod wont start",
        "run manual backup of /home w dsmc",
        "temporary download link for a customer that expires after an hour",
        "example of deploying an app with https + lets encrypt on ske",
        "can i move a vm from our test project over to prod?",
    ],
)
def test_questions_pass_the_message_gate(text: str) -> None:
    assert classify_message(text) is None


@needs_docs
@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("how do i create a app cred w/ the cli", "compute/app-creds.md"),
        ("storage classes availble for pvcs in ske?", "kubernetes/persistent-volumes.md"),
        ("wich gpu card is in your gpu flavours", "compute/gpu.md"),
        ("restore files to another location with the backup client", "backup/recovery/basics.md"),
    ],
)
def test_ranking_with_slang_and_typos(kb: KnowledgeBase, text: str, path: str) -> None:
    hits = kb.rank(text, k=3)
    assert path in [h.path for h in hits], [h.path for h in hits]


@needs_docs
def test_decisions_answer_and_silence(kb: KnowledgeBase) -> None:
    d = kb.decide("how do i create application credentials from the command line?")
    assert d.answer, d.reason
    assert d.best is not None and d.best.path == "compute/app-creds.md"
    assert d.best.url and d.best.url.startswith("https://docs.safespring.com/compute/app-creds/#")
    assert d.best.snippet and len(d.best.snippet) <= 400
    assert "margin" in d.reason and 0 < len(d.hits) <= 10
    for text in ("thanks!", "is anyone from support here?", "how do i exit vim"):
        assert not kb.decide(text).answer, text


@needs_docs
def test_curated_entries_win_when_they_match(kb: KnowledgeBase) -> None:
    d = kb.decide("what are your support hours?")
    assert d.best is not None and d.best.source == "faq"
    assert d.best.faq_answer and "08" in d.best.faq_answer
    assert d.answer, d.reason


def test_faq_only_without_docs(tmp_path: Path) -> None:
    kb = KnowledgeBase.build(KnowledgeSettings(), tmp_path)
    d = kb.decide("is there a status page?")
    assert d.best is not None and d.best.faq_id == "status-page"


@needs_docs
def test_cache_is_keyed_by_content(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    (docs / "content").mkdir(parents=True)
    (docs / "mkdocs.yml").write_text("site_name: x\ndocs_dir: content\n")
    page = docs / "content" / "a.md"
    page.write_text("# Alpha\n\n## Frobnicate the widget\n\nRun frobnicate on the widget.\n")
    lines: list[str] = []
    kb1 = KnowledgeBase.build(KnowledgeSettings(docs_dir=docs), tmp_path / "c", lines.append)
    kb2 = KnowledgeBase.build(KnowledgeSettings(docs_dir=docs), tmp_path / "c", lines.append)
    assert kb1.fingerprint == kb2.fingerprint
    assert any("cached" in m for m in lines)
    page.write_text("# Alpha\n\n## Defrobnicate the gadget\n\nRun it.\n")
    kb3 = KnowledgeBase.build(KnowledgeSettings(docs_dir=docs), tmp_path / "c", lines.append)
    assert kb3.fingerprint != kb1.fingerprint
    assert kb3.rank("defrobnicate gadget")[0].section == "Defrobnicate the gadget"
    assert len(list((tmp_path / "c").glob("knowledge-*.pickle"))) == 1


async def test_service_reloads_when_the_docs_change(tmp_path: Path) -> None:
    from knowledge.service import KnowledgeService

    docs = tmp_path / "docs"
    (docs / "content").mkdir(parents=True)
    (docs / "mkdocs.yml").write_text("site_name: x\ndocs_dir: content\n")
    page = docs / "content" / "a.md"
    page.write_text("# Alpha\n\n## Frobnicate the widget\n\nRun frobnicate on the widget.\n")
    svc = KnowledgeService(KnowledgeSettings(docs_dir=docs, watch_interval_s=0), tmp_path / "cache")
    kb1 = await svc.load()
    assert svc.ready.is_set() and not await svc.changed()
    page.write_text("# Alpha\n\n## Defrobnicate the gadget\n\nRun it.\n")
    assert await svc.changed()
    kb2 = await svc.load()
    assert kb2 is svc.kb and kb2.fingerprint != kb1.fingerprint
    d = await svc.decide("how do i defrobnicate the gadget?")
    assert d is not None and d.best is not None and d.best.section == "Defrobnicate the gadget"
