"""``backchannel secrets scan [FILE]``: run the credential detector over pastes, print verdicts.

Input is JSON lines ``{"id", "text"}`` (detected from the first non-blank line) or, otherwise,
plain text taken as one message. Output is one JSON line per message:
``{"id", "flagged", "kinds", "redacted"}`` where ``redacted`` is the text with every found value
replaced, so the output itself is safe to keep or share. A bad JSON line is reported on stderr
with its line number (never its content: it may hold the secret) and the scan goes on.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO

from pydantic import BaseModel, ConfigDict, ValidationError

from commands.moderation.protections.credentials_detector import redact

PROGRESS_EVERY = 10_000


class ScanInput(BaseModel):
    """One JSON line of input; extra fields (labels, kinds) are allowed and ignored."""

    model_config = ConfigDict(extra="ignore")
    id: str | int | None = None
    text: str


class ScanResult(BaseModel):
    id: str | int | None
    flagged: bool
    kinds: list[str]
    redacted: str


def add_parsers(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    secrets = subparsers.add_parser("secrets", help="the leaked-credential detector")
    sub = secrets.add_subparsers(dest="secrets_command", required=True)
    scan = sub.add_parser(
        "scan",
        help="scan JSON lines {id, text} (or plain text) and print {id, flagged, kinds, redacted}",
    )
    scan.add_argument("file", nargs="?", type=Path, default=None, help="default: stdin")
    scan.set_defaults(func=cmd_scan)


def scan_one(item: ScanInput) -> ScanResult:
    redacted, kinds = redact(item.text)
    return ScanResult(
        id=item.id, flagged=bool(kinds), kinds=[k.value for k in kinds], redacted=redacted
    )


def _is_json_object(line: str) -> bool:
    try:
        return isinstance(json.loads(line), dict)
    except ValueError:
        return False


def read_inputs(lines: Iterable[str], name: str, errors: list[str]) -> Iterator[ScanInput]:
    """JSON lines if the first non-blank line is a JSON object, else the whole text as one."""
    it = iter(lines)
    head: list[str] = []
    for line in it:
        head.append(line)
        if line.strip():
            break
    first = head[-1] if head else ""
    if not _is_json_object(first):
        yield ScanInput(id=name, text="".join([*head, *it]))
        return
    for number, line in enumerate([first, *it], start=len(head)):
        if not line.strip():
            continue
        try:
            yield ScanInput.model_validate(json.loads(line))
        except (ValueError, ValidationError) as exc:
            what = exc.errors()[0]["msg"] if isinstance(exc, ValidationError) else "not JSON"
            errors.append(f"{name}:{number}: skipped ({what}; want {{'id', 'text'}})")


def scan_stream(src: IO[str], name: str, out: IO[str], err: IO[str]) -> int:
    errors: list[str] = []
    n = flagged = 0
    show_progress = err.isatty()
    for item in read_inputs(src, name, errors):
        result = scan_one(item)
        out.write(result.model_dump_json() + "\n")
        n += 1
        flagged += result.flagged
        if show_progress and n % PROGRESS_EVERY == 0:
            print(f"... {n} scanned, {flagged} flagged", file=err)
    for line in errors:
        print(line, file=err)
    print(f"{name}: {n} scanned, {flagged} flagged, {len(errors)} skipped", file=err)
    return 1 if errors else 0


def cmd_scan(args: argparse.Namespace) -> int:
    if args.file is None:
        return scan_stream(sys.stdin, "-", sys.stdout, sys.stderr)
    try:
        with args.file.open(encoding="utf-8") as fh:
            return scan_stream(fh, str(args.file), sys.stdout, sys.stderr)
    except (OSError, UnicodeDecodeError) as exc:
        print(f"{args.file}: cannot read: {exc.__class__.__name__}", file=sys.stderr)
        return 2
