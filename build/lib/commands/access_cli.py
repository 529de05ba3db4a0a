"""``backchannel orgs import|export``: load the access registry from a CRM export, or dump it."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys
from pathlib import Path
from typing import Literal

from bot.access import MIGRATIONS, AccessService, ImportSummary
from bot.access_models import ImportProblems
from bot.config import Config
from bot.context import utcnow
from bot.store import Store


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    orgs = subparsers.add_parser("orgs", help="the access registry: organisations and members")
    sub = orgs.add_subparsers(dest="orgs_command", required=True)
    imp = sub.add_parser(
        "import", help="add/replace organisations (and members) from TOML or CSV; all or nothing"
    )
    imp.add_argument("file", type=Path)
    imp.add_argument("--config", "-c", type=Path, required=True)
    imp.add_argument("--format", choices=["toml", "csv"], default=None, help="default: by suffix")
    imp.add_argument("--dry-run", action="store_true", help="validate only")
    imp.set_defaults(func=cmd_import)
    exp = sub.add_parser("export", help="write the registry as TOML (orgs + members) or CSV")
    exp.add_argument("--config", "-c", type=Path, required=True)
    exp.add_argument("--format", choices=["toml", "csv", "members-csv"], default="toml")
    exp.add_argument("--output", "-o", type=Path, default=None, help="default: stdout")
    exp.set_defaults(func=cmd_export)


def _config(path: Path) -> Config:
    from bot.cli import _load

    return _load(path)


async def _service(config: Config) -> AccessService:
    store = await Store.open(config.bot.data_dir / "backchannel.sqlite3")
    await store.migrate("access", MIGRATIONS)
    return AccessService(store, config.access, utcnow, prefix=config.bot.command_prefix)


def cmd_import(args: argparse.Namespace) -> int:
    config = _config(args.config)
    fmt: Literal["toml", "csv"] = args.format or (
        "csv" if args.file.suffix.lower() == ".csv" else "toml"
    )
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{args.file}: cannot read: {exc}", file=sys.stderr)
        return 2

    async def run() -> ImportSummary | None:
        from bot.access_models import parse_registry

        if args.dry_run:
            parse_registry(text, fmt)
            return None
        service = await _service(config)
        try:
            return await service.import_text(text, fmt, f"cli:{getpass.getuser()}")
        finally:
            await service.store.close()

    try:
        summary = asyncio.run(run())
    except ImportProblems as exc:
        for problem in exc.problems:
            print(
                f"{args.file}:{problem.line}: field {problem.field}: {problem.message}",
                file=sys.stderr,
            )
        print(f"{args.file}: {len(exc.problems)} problem(s); nothing was changed", file=sys.stderr)
        return 2
    if summary is None:
        print(f"{args.file}: OK (dry run, nothing written)")
    else:
        print(f"{args.file}: {summary}; the running bot re-checks members within a minute")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    config = _config(args.config)

    async def run() -> str:
        service = await _service(config)
        try:
            return await service.export(args.format)
        finally:
            await service.store.close()

    text = asyncio.run(run())
    if args.output:
        args.output.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0
