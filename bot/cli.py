"""``backchannel`` command line: run, check-config, and the features' own commands."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from pathlib import Path

from bot.capability import add_cli_parsers
from bot.config import Config, ConfigError, load_config
from bot.logfilter import install as install_log_filter


def _load(path: Path) -> Config:
    try:
        return load_config(path)
    except ConfigError as exc:
        print(f"{path}: {len(exc.problems)} problem(s):", file=sys.stderr)
        for problem in exc.problems:
            print(f"  {problem}", file=sys.stderr)
        raise SystemExit(2) from exc


def cmd_check_config(args: argparse.Namespace) -> int:
    config = _load(args.file)
    problems: list[str] = []
    if args.online:
        from bot.online_checks import check_online

        problems = asyncio.run(check_online(config))
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    if problems:
        return 2
    print(f"{args.file}: OK")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    config = _load(args.config)
    logging.basicConfig(
        level=config.bot.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # nio logs every event at INFO and whole sync bodies (pasted secrets too) at DEBUG.
    logging.getLogger("nio").setLevel(max(logging.WARNING, logging.getLogger().level))
    install_log_filter()  # event content and credentials never reach the log (issue 14)
    from bot.app import App

    try:
        asyncio.run(App(config).run_forever())
    except Exception:
        # A dead task or a failed start: exit non-zero so a supervisor restarts the bot.
        logging.getLogger("backchannel").exception("stopped on a failure")
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="backchannel", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the bot")
    run.add_argument("--config", "-c", type=Path, required=True)
    run.set_defaults(func=cmd_run)
    check = sub.add_parser("check-config", help="validate a config file (exit 2 on problems)")
    check.add_argument("file", type=Path)
    check.add_argument(
        "--online", action="store_true", help="also check the homeserver and RT credentials"
    )
    check.set_defaults(func=cmd_check_config)
    # Capabilities' subcommands (``access ...``, ``kb ...``): entry points, group backchannel.cli.
    add_cli_parsers(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
