"""`backchannel ask` and `backchannel kb eval|gaps`: the knowledge base from the shell."""

from __future__ import annotations

import argparse
import os
import sqlite3
import sys
from pathlib import Path

from knowledge.settings import KnowledgeSettings

DB_NAME = "backchannel.sqlite3"


def _settings_and_dirs(args: argparse.Namespace) -> tuple[KnowledgeSettings, Path, Path | None]:
    """Knowledge settings, cache dir and data dir from --config and/or --docs."""
    settings = KnowledgeSettings()
    data_dir: Path | None = None
    if getattr(args, "config", None):
        from bot.cli import _load

        config = _load(args.config)
        settings = config.knowledge
        data_dir = config.bot.data_dir
    if getattr(args, "docs", None):
        settings = settings.model_copy(update={"docs_dir": args.docs})
    if settings.cache_dir is not None:
        cache = settings.cache_dir
    elif data_dir is not None:
        cache = data_dir / "knowledge-cache"
    else:
        base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
        cache = base / "backchannel"
    return settings, cache, data_dir


def _kb(args: argparse.Namespace):  # -> KnowledgeBase, imported lazily: `--help` stays fast
    from knowledge.index import KnowledgeBase

    settings, cache, _ = _settings_and_dirs(args)
    if settings.docs_dir is None:
        print("no docs: pass --docs DIR or a --config with [knowledge] docs_dir", file=sys.stderr)
    return KnowledgeBase.build(settings, cache, progress=lambda m: print(m, file=sys.stderr))


def cmd_ask(args: argparse.Namespace) -> int:
    kb = _kb(args)
    d = kb.decide(args.question)
    print(f"{'ANSWER' if d.answer else 'SILENT'}: {d.reason}")
    for i, h in enumerate(d.hits[: args.top], 1):
        where = h.section or "(page top)"
        print(f"{i}. {h.score:8.3f}  [{h.source}] {h.title} > {where}\n   {h.url or h.path}")
    if d.best is not None and d.answer:
        print()
        print(d.best.faq_answer or d.best.snippet)
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from knowledge.evaluate import evaluate_questions, format_metrics
    from knowledge.fit_gate import load_spec

    if args.cv:
        from knowledge.fit_gate import cmd_eval_cv

        return cmd_eval_cv(_kb(args), args)
    if len(args.questions) != 1:
        print("several --questions files need --cv K", file=sys.stderr)
        return 2
    try:
        questions = load_spec(args.questions[0])
    except (OSError, KeyError, ValueError) as e:
        print(f"cannot read --questions {args.questions[0]}: {e}", file=sys.stderr)
        return 2
    kb = _kb(args)
    m = evaluate_questions(kb, questions, args.output)
    print(f"wrote {args.output}", file=sys.stderr)
    if m is not None:
        print(format_metrics(m))
    return 0


def _cmd_fit(args: argparse.Namespace) -> int:
    from knowledge.fit_gate import cmd_fit

    return cmd_fit(args)


def gaps_from_db(db: Path, limit: int = 50) -> list[tuple[str, int, str]]:
    """(question, count, why) for questions that got silence or a 👎, most frequent first."""
    if not db.is_file():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        has = {
            r[0]
            for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
        }
        if "kb_gaps" not in has:
            return []
        rows = con.execute(
            "SELECT question, COUNT(*) AS n, GROUP_CONCAT(DISTINCT why) FROM kb_gaps "
            "GROUP BY lower(question) ORDER BY n DESC, MAX(ts) DESC LIMIT ?",
            (limit,),
        ).fetchall()
    finally:
        con.close()
    return [(r[0], int(r[1]), r[2] or "") for r in rows]


def cmd_gaps(args: argparse.Namespace) -> int:
    _, _, data_dir = _settings_and_dirs(args)
    db = args.db or ((data_dir or Path("data")) / DB_NAME)
    rows = gaps_from_db(db, args.limit)
    if not rows:
        print("no gaps recorded")
        return 0
    for q, n, why in rows:
        print(f"{n:4d}  {q}  ({why})")
    return 0


def add_ask_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = subparsers.add_parser("ask", help="rank the docs for a question and show the decision")
    p.add_argument("question")
    p.add_argument("--config", "-c", type=Path, default=None)
    p.add_argument("--docs", type=Path, default=None, help="mkdocs tree (overrides the config)")
    p.add_argument("--top", type=int, default=5)
    p.set_defaults(func=cmd_ask)


def add_kb_parser(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    kb = subparsers.add_parser("kb", help="knowledge base tools")
    sub = kb.add_subparsers(dest="kb_command", required=True)
    ev = sub.add_parser("eval", help="run a question file, write ranked results, print metrics")
    ev.add_argument(
        "--questions",
        action="append",
        required=True,
        help="labelled JSONL (FILE[:fit|:check] for a half of its fixed split); repeat with --cv",
    )
    ev.add_argument("--output", type=Path, required=True)
    ev.add_argument("--docs", type=Path, default=None)
    ev.add_argument("--config", "-c", type=Path, default=None)
    ev.add_argument(
        "--cv",
        type=int,
        default=0,
        metavar="K",
        help="nested K-fold cross-validation of the whole fitting procedure (knowledge/fit_gate.py);"
        " --output gets the out-of-fold results of the first repeat",
    )
    ev.add_argument("--repeats", type=int, default=3, help="repeats of the --cv split")
    ev.set_defaults(func=cmd_eval)
    fit = sub.add_parser("fit", help="fit the hybrid gate (knowledge/fit_gate.py) and write it")
    from knowledge.fit_gate_args import add_arguments

    add_arguments(fit)
    fit.set_defaults(func=_cmd_fit)
    gaps = sub.add_parser("gaps", help="questions that got silence or 👎, most frequent first")
    gaps.add_argument("--config", "-c", type=Path, default=None)
    gaps.add_argument("--db", type=Path, default=None, help=f"the bot's {DB_NAME}")
    gaps.add_argument("--limit", type=int, default=50)
    gaps.set_defaults(func=cmd_gaps)


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """The hook bot/cli.py's FEATURE_CLIS calls."""
    add_ask_parser(subparsers)
    add_kb_parser(subparsers)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="backchannel")
    add_parsers(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
