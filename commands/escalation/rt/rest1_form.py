"""RT REST 1.0's text format: forms we send, answers we read (RT's own rules, measured on
RT 4.4.6 whose REST 1.0 code is byte-identical in 5.0.3; ../shared/notes/rt44-for-tests.md).

A request is a form `Key: value` in the field `content`; a value continues on lines that start
with whitespace, so an unindented `Status: resolved` line in chat text would become a field
(measured: it changed the status; a `Cc:` line mailed the reply there). `compose_form` is the
only place a form is built. An answer is `RT/<version> <code> <text>`, a blank line, then `#`
comment lines and/or `Key: value` records separated by `--`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from commands.escalation.rt.errors import RTRejected

_STATUS_RE = re.compile(r"^RT/(\S+) (\d{3}) ?(.*)$")
# Characters RT's list splitter (vsplit) and path stripping give a meaning in a file name.
_FILENAME_BAD_RE = re.compile(r"[,\"'\\/{}\x00-\x1f]")
RT_DATE_FORMATS = ("%Y-%m-%d %H:%M:%S", "%a %b %d %H:%M:%S %Y")


def one_line(value: object) -> str:
    """A single-line field value: line breaks (any kind) become spaces, NUL is dropped.

    A newline in Subject, a CF value or a Status would otherwise start a new `Key:` line.
    """
    text = str(value).replace("\x00", "")
    return " ".join(re.split(r"[\r\n\v\f\x1c-\x1e\x85\u2028\u2029]+", text)).strip()


def text_value(text: str) -> list[str]:
    """The continuation lines for a multi-line value that RT gives back byte for byte.

    RT's form_parse keeps a line in the value only when it is empty or starts with whitespace,
    then strips the *shortest* leading whitespace of those lines from all of them. So: every
    line gets one leading space (nothing in the text can start a key, `--` or `#` line), and a
    first line of a single space pins that shortest indent to exactly one space, so the text's
    own indentation (code, transcripts) survives. The key line itself is left empty ("Text:"),
    as RT would strip the leading whitespace of a value on the key line.
    """
    text = text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    return [" "] + [" " + line for line in text.split("\n")]


def compose_form(
    fields: Iterable[tuple[str, object]], texts: Mapping[str, str] | None = None
) -> str:
    """The only place a REST 1.0 form is built: one-line fields, then multi-line texts."""
    lines: list[str] = []
    seen: set[str] = set()
    for key, value in fields:
        if key.lower() in seen:  # RT turns a repeated key into an ARRAY(0x..) value
            raise ValueError(f"REST 1.0 form: key {key!r} twice")
        seen.add(key.lower())
        lines.append(f"{one_line(key)}: {one_line(value)}")
    for key, value in (texts or {}).items():
        lines.append(f"{one_line(key)}:")
        lines.extend(text_value(value))
    return "\n".join(lines) + "\n"


def safe_filename(name: str) -> str:
    """A file name RT's `Attachment:` list keeps as one name (no commas, quotes, slashes)."""
    cleaned = _FILENAME_BAD_RE.sub("_", one_line(name)).strip()
    return cleaned or "file"


def parse_form(body: str) -> list[dict[str, str]]:
    """RT's answer payload as records of Key -> value (RT's own parse rules, `--` separated).

    `#` comment lines are not values; see `Answer.comments`.
    """
    records: list[dict[str, str]] = []
    current: dict[str, str] = {}
    lines = body.split("\n")
    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        if line == "--":
            if current:
                records.append(current)
            current = {}
            continue
        if not line or line.startswith("#"):
            continue
        m = re.match(r"^([^\s:][^:]*?):(?:\s+(.*))?$", line)
        if not m:
            continue
        values = [m.group(2) or ""]
        while i < len(lines) and (lines[i] == "" or lines[i][:1].isspace()):
            values.append(lines[i])
            i += 1
        while len(values) > 1 and values[-1] == "":
            values.pop()
        # RT's rule: strip the shortest leading whitespace of the continuation lines.
        indents = [len(v) - len(v.lstrip()) for v in values[1:] if v[:1].isspace()]
        ws = min(indents) if indents else 0
        values = [values[0]] + [v[ws:] if v[:ws].isspace() else v for v in values[1:]]
        while values and values[0] == "":
            values.pop(0)
        current[m.group(1)] = "\n".join(values)
    if current:
        records.append(current)
    return records


def parse_rt_date(value: str | None) -> datetime | None:
    """RT's two date spellings ('2026-12-01 18:48:07' in histories, always UTC; 'Tue Dec 01
    18:48:07 2026' in show, in the bot user's timezone, which docs/RT.md asks to be UTC)."""
    value = (value or "").strip()
    if not value or value == "Not set":
        return None
    for fmt in RT_DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


@dataclass
class Answer:
    """One REST 1.0 answer: the in-body status and the payload after it."""

    version: str
    code: int
    reason: str
    payload: str
    raw: str

    @property
    def comments(self) -> list[str]:
        return [ln[1:].strip() for ln in self.payload.split("\n") if ln.startswith("#")]

    def records(self) -> list[dict[str, str]]:
        return parse_form(self.payload)


def parse_answer(raw: str) -> Answer:
    """Split the status line off. An empty body is code 0 (RT does that for a no-op edit); a
    body without a status line (a Mason error with a stack trace) raises RTRejected."""
    if raw == "":
        return Answer("", 0, "empty answer", "", raw)
    first, _, rest = raw.partition("\n")
    m = _STATUS_RE.match(first.strip())
    if not m:
        # A Mason error: the first line says what; the stack after it is for RT's log.
        head = first.strip()[:300] or raw.strip()[:300]
        raise RTRejected(f"RT REST 1.0 error without status line: {head}", status=200)
    payload = rest[1:] if rest.startswith("\n") else rest
    return Answer(m.group(1), int(m.group(2)), m.group(3).strip(), payload, raw)
