"""`backchannel secrets scan`: JSON lines or plain text in, one verdict per message out."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bot.cli import main

CORPUS2 = Path(__file__).parent / "data" / "credential_corpus2"


def _run(stdin: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot.cli", "secrets", "scan", *args],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def test_json_lines_in_verdicts_out() -> None:
    lines = [
        {"id": "a", "text": "export OS_PASSWORD=Granit4821!\nexport OS_USERNAME=ops@x.se"},
        {"id": 7, "text": "is S3 down in sto2?"},
    ]
    proc = _run("".join(json.dumps(x) + "\n" for x in lines))
    assert proc.returncode == 0, proc.stderr
    out = [json.loads(line) for line in proc.stdout.splitlines()]
    assert out == [
        {
            "id": "a",
            "flagged": True,
            "kinds": ["OS_PASSWORD line"],
            "redacted": "export OS_PASSWORD=[REDACTED]\nexport OS_USERNAME=ops@x.se",
        },
        {"id": 7, "flagged": False, "kinds": [], "redacted": "is S3 down in sto2?"},
    ]


def test_plain_text_from_stdin_is_one_message() -> None:
    proc = _run("curl -u kalle:Vinter2024x https://api.customer.se\nand it says 401\n")
    assert proc.returncode == 0
    (row,) = [json.loads(line) for line in proc.stdout.splitlines()]
    assert row["flagged"] is True
    assert "Vinter2024x" not in proc.stdout + proc.stderr
    assert row["redacted"].startswith("curl -u kalle:[REDACTED] https://")


def test_bad_lines_are_reported_by_number_never_by_content(tmp_path: Path) -> None:
    secret = "-----BEGIN OPENSSH PRIVATE KEY-----"
    path = tmp_path / "in.jsonl"
    path.write_text(
        f'{{"id": "ok", "text": "hi"}}\n{{"id": "bad", "txt": "{secret}"}}\nnot json {secret}\n'
    )
    proc = _run("", str(path))
    assert proc.returncode == 1
    assert [json.loads(line)["id"] for line in proc.stdout.splitlines()] == ["ok"]
    assert f"{path}:2: skipped" in proc.stderr and f"{path}:3: skipped" in proc.stderr
    assert secret not in proc.stderr


def test_unreadable_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["secrets", "scan", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read" in capsys.readouterr().err


def test_scans_the_corpus_without_echoing_values(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every flagged TUNE row comes back redacted; the count matches the detector's own run."""
    src = (CORPUS2 / "tune.jsonl").read_text()
    monkeypatch.setattr(sys, "stdin", __import__("io").StringIO(src))
    assert main(["secrets", "scan"]) == 0
    out = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    rows = [json.loads(line) for line in src.splitlines()]
    assert [o["id"] for o in out] == [r["id"] for r in rows]
    for o, r in zip(out, rows, strict=True):
        assert o["flagged"] == (r["label"] == "secret"), r["id"]
        if o["flagged"]:
            assert "[REDACTED]" in o["redacted"]
