"""Generate the second credential corpus: a TUNE half and a CHECK half.

    python tests/data/credential_corpus2/generate.py

Each half comes from its own template module (written separately, see README) and its own
seed, so the CHECK half shares no template text and no value with the TUNE half. Output:
`tune.jsonl` and `check.jsonl`, one `{"id", "label", "kind", "text"}` per line, deterministic.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import check_templates  # noqa: E402
import tune_templates  # noqa: E402
from values import Values  # noqa: E402

_MARK = re.compile(r"§(\w+?)(?:\.(\d+))?§")
_HEXN = re.compile(r"hex(\d+)")

# How many messages each template yields (different random values each time).
SECRET_COPIES = 2
CLEAN_COPIES = 3
SEEDS = {"tune": 1401, "check": 98214}


def fill(values: Values, template: str) -> str:
    cache: dict[tuple[str, str], str] = {}

    def one(m: re.Match[str]) -> str:
        name, idx = m.group(1), m.group(2)
        hexn = _HEXN.fullmatch(name)

        def make() -> str:
            return values.hex(int(hexn.group(1))) if hexn else getattr(values, name)()

        if idx is None:
            return make()
        if (name, idx) not in cache:
            cache[(name, idx)] = make()
        return cache[(name, idx)]

    return _MARK.sub(one, template)


def build(half: str) -> list[dict[str, str]]:
    mod = tune_templates if half == "tune" else check_templates
    values = Values(SEEDS[half])
    rows: list[dict[str, str]] = []
    for label, templates, copies in (
        ("secret", mod.SECRET, SECRET_COPIES),
        ("clean", mod.CLEAN, CLEAN_COPIES),
    ):
        for t_index, (kind, template) in enumerate(templates):
            for copy in range(copies):
                rows.append(
                    {
                        "id": f"{half}-{label}-{t_index:03d}-{copy}",
                        "label": label,
                        "kind": kind,
                        "text": fill(values, template),
                    }
                )
    return rows


def main() -> None:
    for half in SEEDS:
        rows = build(half)
        with (HERE / f"{half}.jsonl").open("w") as fh:
            for row in rows:
                fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        n_secret = sum(r["label"] == "secret" for r in rows)
        print(f"{half}: {n_secret} secret, {len(rows) - n_secret} clean")


if __name__ == "__main__":
    main()
