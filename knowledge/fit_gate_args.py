"""Arguments of `backchannel kb fit` / `python -m knowledge.fit_gate`: kept apart from the fitting
code so building the CLI parser imports no numpy."""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--questions", action="append", required=True, help="FILE[:fit|:check]")
    p.add_argument("--docs", type=Path, default=None)
    p.add_argument("--config", "-c", type=Path, default=None)
    p.add_argument("--out", type=Path, default=None, help="e.g. knowledge/gate_model.json")
    p.add_argument("--cv", type=int, default=0, help="also print nested-CV figures, K folds")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--report-on", action="append", default=None, help="held-out FILE[:part]")
