"""`kb eval`: output format and metrics on a tiny labelled file; `ask` and `kb gaps`."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from harness.shared_data import DOCS
from knowledge.cli import main
from knowledge.evaluate import Question, RankedItem, Result, score


def _q(id_: str, expected: list[str] | None) -> Question:
    exp = None if expected is None else [{"path": p, "section": None} for p in expected]
    return Question.model_validate({"id": id_, "text": "x", "expected": exp})


def _r(id_: str, answered: bool, paths: list[str]) -> Result:
    ranked = [RankedItem(path=p, section=None, url=None, score=1.0) for p in paths]
    return Result(id=id_, answered=answered, latency_ms=1.0, ranked=ranked)


def test_metrics_by_hand() -> None:
    questions = [
        _q("a", ["p1.md"]),
        _q("b", ["p2.md", "p3.md"]),
        _q("c", ["p4.md"]),
        _q("d", []),
        _q("e", []),
        _q("f", None),  # unlabelled lines are run but not scored
    ]
    results = [
        _r("a", True, ["p1.md", "x.md"]),  # rank 1, right answer
        _r("b", True, ["x.md", "y.md", "p3.md"]),  # rank 3, wrong answer
        _r("c", False, ["x.md"] * 10 + ["p4.md"]),  # beyond 10: miss
        _r("d", True, ["x.md"]),  # false answer
        _r("e", False, ["x.md"]),
        _r("f", True, ["x.md"]),
    ]
    m = score(questions, results)
    assert m is not None
    assert (m.n, m.answerable, m.silent, m.answered) == (5, 3, 2, 3)
    assert m.hit_at_1 == pytest.approx(1 / 3)
    assert m.hit_at_3 == pytest.approx(2 / 3)
    assert m.mrr_at_10 == pytest.approx((1 + 1 / 3) / 3)
    assert m.precision == pytest.approx(1 / 3)
    assert m.coverage == pytest.approx(1 / 3)
    assert m.false_answer_rate == pytest.approx(1 / 2)
    assert score([_q("z", None)], [_r("z", True, [])]) is None


@pytest.mark.skipif(not DOCS.is_dir(), reason="shared docs corpus not present")
def test_kb_eval_cli_output_and_metrics(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    qfile = tmp_path / "q.jsonl"
    lines = [
        {
            "id": "t-1",
            "text": "how do i create application credentials with the cli",
            "expected": [
                {
                    "path": "compute/app-creds.md",
                    "section": "Creating application credentials from the command line",
                }
            ],
        },
        {
            "id": "t-2",
            "text": "which storage classes are available for persistent volumes in ske",
            "expected": [{"path": "kubernetes/persistent-volumes.md", "section": None}],
        },
        {"id": "t-3", "text": "thanks, that worked", "expected": []},
        {"id": "t-4", "text": "is anyone from support here?", "expected": []},
    ]
    qfile.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    out = tmp_path / "out.jsonl"
    cache = tmp_path / "cache"
    import os

    os.environ["XDG_CACHE_HOME"] = str(cache)
    rc = main(["kb", "eval", "--questions", str(qfile), "--output", str(out), "--docs", str(DOCS)])
    assert rc == 0
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert [r["id"] for r in rows] == ["t-1", "t-2", "t-3", "t-4"]
    for r in rows:
        assert set(r) == {"id", "answered", "latency_ms", "ranked"}
        assert isinstance(r["answered"], bool) and r["latency_ms"] >= 0
        assert 0 < len(r["ranked"]) <= 10
        for item in r["ranked"]:
            assert set(item) == {"path", "section", "url", "score"}
            assert not item["path"].startswith("content/")
    assert rows[0]["ranked"][0]["path"] == "compute/app-creds.md"
    assert rows[0]["ranked"][0]["url"].endswith(
        "/compute/app-creds/#creating-application-credentials-from-the-command-line"
    )
    assert rows[0]["answered"] and not rows[2]["answered"] and not rows[3]["answered"]
    printed = capsys.readouterr().out
    assert "hit@1 1.000" in printed and "hit@3 1.000" in printed and "MRR@10 1.000" in printed
    assert "false-answer 0.000" in printed and "precision" in printed and "coverage" in printed

    assert main(["ask", "what is a b2 flavor", "--docs", str(DOCS)]) == 0
    assert "compute/flavors" in capsys.readouterr().out


def test_kb_gaps_reads_the_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = tmp_path / "backchannel.sqlite3"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE kb_gaps (question TEXT, why TEXT, ts INTEGER)")
    con.executemany(
        "INSERT INTO kb_gaps VALUES (?, ?, ?)",
        [
            ("how do i set a ptr record", "silence", 1),
            ("How do I set a PTR record", "silence", 2),
            ("rclone config?", "thumbs down", 3),
        ],
    )
    con.commit()
    con.close()
    assert main(["kb", "gaps", "--db", str(db)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[0] == "2" and "ptr record" in out[0].lower()
    assert "rclone" in out[1]
