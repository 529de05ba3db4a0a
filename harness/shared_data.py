"""Where the shared test data (the Safespring docs corpus, the FAQ eval set) lives.

It is read in place, never copied into the project: ``BACKCHANNEL_SHARED`` if set,
else the ``shared`` folder next to the checkout, else /work/shared.
"""

from __future__ import annotations

import os
from pathlib import Path


def shared_dir() -> Path:
    candidates = [
        os.environ.get("BACKCHANNEL_SHARED"),
        Path(__file__).resolve().parents[2] / "shared",
        "/work/shared",
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "corpus" / "safespring-docs").is_dir():
            return Path(candidate)
    return Path(__file__).resolve().parents[2] / "shared"


SHARED = shared_dir()
DOCS = SHARED / "corpus" / "safespring-docs"
EVAL_DEV = SHARED / "eval" / "faq-dev.jsonl"
