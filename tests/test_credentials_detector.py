"""The credential detector on the realistic corpus: precision/recall floors, and no value leaks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from commands.moderation.protections.credentials_detector import (
    Finding,
    Kind,
    find_secrets,
    is_placeholder,
    mask,
)

CORPUS = Path(__file__).parent / "data" / "credential_corpus" / "corpus.jsonl"

# Floors, not targets: the measured figures are printed (pytest -s) and kept in the corpus README.
MIN_PRECISION = 0.97
MIN_RECALL = 0.95
MIN_KIND_ACCURACY = 0.90
MIN_CLEAN = 200
MIN_SECRET = 50


def _rows() -> list[dict[str, object]]:
    with CORPUS.open() as fh:
        return [json.loads(line) for line in fh if line.strip()]


def test_corpus_size() -> None:
    rows = _rows()
    assert sum(r["label"] == "clean" for r in rows) >= MIN_CLEAN
    assert sum(r["label"] == "secret" for r in rows) >= MIN_SECRET
    assert len({r["id"] for r in rows}) == len(rows)


def test_precision_and_recall() -> None:
    tp = fp = fn = tn = kind_ok = 0
    misses: list[str] = []
    false_alarms: list[str] = []
    for row in _rows():
        findings = find_secrets(str(row["text"]))
        if row["label"] == "secret":
            if findings:
                tp += 1
                if set(row["kinds"]) <= {f.kind.value for f in findings}:  # type: ignore[arg-type]
                    kind_ok += 1
            else:
                fn += 1
                misses.append(str(row["id"]))
        elif findings:
            fp += 1
            false_alarms.append(f"{row['id']}: {findings}")
        else:
            tn += 1
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    fp_rate = fp / (fp + tn)
    kind_accuracy = kind_ok / tp
    print(
        f"\ncredential corpus: {tp + fn} secret / {fp + tn} clean messages; "
        f"precision={precision:.3f} recall={recall:.3f} false-positive rate={fp_rate:.3%} "
        f"kind accuracy={kind_accuracy:.3f}"
    )
    assert precision >= MIN_PRECISION, false_alarms
    assert recall >= MIN_RECALL, misses
    assert kind_accuracy >= MIN_KIND_ACCURACY


def test_findings_never_show_the_value() -> None:
    for row in _rows():
        if row["label"] != "secret":
            continue
        text = str(row["text"])
        findings = find_secrets(text)
        for f in findings:
            value = text[f.start : f.end].strip()
            assert len(value) >= 4
            for shown in (repr(f), str(f), repr(findings), f"{f}", str(f.__reduce_ex__(2))):
                assert value not in shown
            assert value not in mask(text, findings)


def test_finding_has_no_value_field() -> None:
    assert set(Finding.__slots__) == {"kind", "start", "end", "rule"}  # type: ignore[attr-defined]


def test_mask_replaces_every_span() -> None:
    text = "export OS_PASSWORD=Granit4821!\nexport OS_USERNAME=ops@customer.se"
    findings = find_secrets(text)
    assert [f.kind for f in findings] == [Kind.OS_PASSWORD]
    assert (
        mask(text, findings) == "export OS_PASSWORD=[REDACTED]\nexport OS_USERNAME=ops@customer.se"
    )


@pytest.mark.parametrize(
    "value",
    [
        "<password>",
        "****",
        "xxxx",
        "changeme",
        "${OS_PASSWORD}",
        "$OS_PASSWORD_INPUT",
        "{{ pw }}",
        "YOUR_SECRET_KEY",
        "REDACTED",
        "DATA+OMITTED",
        "/etc/adsm/TSM.PWD",
        "%(password)s",
        "",
    ],
)
def test_placeholders(value: str) -> None:
    assert is_placeholder(value)


@pytest.mark.parametrize("value", ["Granit4821!", "hN3kq8ZbV2mXr7TyLp0W", "Backup2024"])
def test_not_placeholders(value: str) -> None:
    assert not is_placeholder(value)


def test_empty_and_plain_text() -> None:
    assert find_secrets("") == []
    assert find_secrets("hello, is S3 down?") == []
