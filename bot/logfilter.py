"""Keep event content and credentials out of the log, whatever library writes the record.

matrix-nio logs whole events when they fail its schema ("Error validating event: ... On
instance: {...}", hundreds of lines per run) and whole sync bodies at DEBUG; other libraries
print request bodies or exception texts. One rule for every record: the formatted message,
the exception text and the stack text lose every dict-looking Matrix payload, and what is left
goes through the credential detector's redaction.

`install()` puts the cleaning in the record factory, so every record from every logger is
cleaned once, at creation, before any handler (present or added later, pytest's caplog too)
sees it. `SecretLogFilter` is the same cleaning as a `logging.Filter` for handlers set up
elsewhere.

The core does not import capabilities: the redactor is passed in, or taken from the
`backchannel.secrets` entry point (bot/capability.py), as capabilities are.
"""

from __future__ import annotations

import logging
import re
import traceback
from collections.abc import Callable

from bot.capability import SECRETS_GROUP, secret_detector

Redactor = Callable[[str], str]


# Keys that mark a payload as Matrix event/sync content (event, content, sync body, to-device).
_EVENT_KEYS = re.compile(
    r"""["'](?:content|body|formatted_body|event_id|origin_server_ts|sender|msgtype|unsigned|"""
    r"""m\.relates_to|m\.new_content|next_batch|rooms|timeline|to_device|ciphertext|"""
    r"""state_key|prev_content|account_data|device_one_time_keys_count|invite_state)["']\s*:"""
)
_NIO_VALIDATION = re.compile(r"^(Error validating event):", re.S)
# jsonschema's "Failed validating 'required' in schema['properties']['content']" names the
# rule and the path, never the value: the one line worth keeping from nio's warning.
_SCHEMA_LINE = re.compile(r"Failed validating '[^'\n]{1,40}' in schema[^\n]{0,200}")
_MARK = "_backchannel_clean"
MAX_PAYLOAD_SCAN = 1_000_000  # characters of one message examined for payloads


def _closing(text: str, start: int) -> int:
    """Index after the brace that closes the one at `start` (quotes respected), or -1."""
    depth = 0
    quote = ""
    i = start
    n = min(len(text), start + MAX_PAYLOAD_SCAN)
    while i < n:
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return -1


def strip_payloads(text: str) -> str:
    """Replace every outermost `{...}` that holds Matrix event keys with a size note.

    A payload cut off (no closing brace: truncated log line) is removed to the end.
    """
    if "{" not in text:
        return text
    out: list[str] = []
    pos = 0
    i = text.find("{")
    while i >= 0:
        end = _closing(text, i)
        chunk = text[i:] if end < 0 else text[i:end]
        if _EVENT_KEYS.search(chunk):
            out.append(text[pos:i])
            out.append(f"{{<payload removed: {len(chunk)} chars>}}")
            if end < 0:
                return "".join(out)
            pos = end
            i = text.find("{", end)
        else:
            i = text.find("{", i + 1)
    out.append(text[pos:])
    return "".join(out)


def clean(text: str, redact: Redactor | None) -> str:
    """A message safe to log: nio validation details reduced, payloads stripped, redacted."""
    m = _NIO_VALIDATION.match(text)
    if m:
        rule = _SCHEMA_LINE.search(text)
        text = f"{m.group(1)}: {rule.group() if rule else 'event does not match its schema'}"
    text = strip_payloads(text)
    if redact is not None:
        text = redact(text)
    return text


def clean_record(record: logging.LogRecord, redact: Redactor | None) -> None:
    """Rewrite `record` in place: message formatted and cleaned, exception text cleaned."""
    if getattr(record, _MARK, False):
        return
    try:
        message = record.getMessage()
    except Exception:  # a broken format string must not take the log line (or a secret) along
        message = f"{record.msg!s} (log arguments dropped: formatting failed)"
    record.msg = clean(message, redact)
    record.args = None
    if record.exc_info and not record.exc_text:
        record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
    if record.exc_text:
        record.exc_text = clean(record.exc_text, redact)
    if record.stack_info:
        record.stack_info = clean(record.stack_info, redact)
    setattr(record, _MARK, True)


class SecretLogFilter(logging.Filter):
    """The cleaning as a handler/logger filter; never drops a record."""

    def __init__(self, redact: Redactor | None) -> None:
        super().__init__()
        self.redact = redact

    def filter(self, record: logging.LogRecord) -> bool:
        clean_record(record, self.redact)
        return True


def load_redactor() -> Redactor | None:
    """`redact_text` of the installed credential detector, if there is one."""
    try:
        module = secret_detector()
        return None if module is None else module.redact_text
    except (ImportError, AttributeError):
        return None


_installed: SecretLogFilter | None = None
_previous_factory: list[Callable[..., logging.LogRecord]] = []


def install(redact: Redactor | None = None) -> SecretLogFilter:
    """Clean every record from now on (idempotent). Returns the filter that does it."""
    global _installed
    if _installed is not None:
        return _installed
    redactor = redact or load_redactor()
    flt = SecretLogFilter(redactor)
    previous = logging.getLogRecordFactory()
    _previous_factory.append(previous)

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        clean_record(record, redactor)
        return record

    logging.setLogRecordFactory(factory)
    root = logging.getLogger()
    root.addFilter(flt)  # records logged on the root logger itself
    for handler in root.handlers:
        handler.addFilter(flt)  # records made before install() and still queued
    _installed = flt
    if redactor is None:
        logging.getLogger(__name__).warning(
            "no credential redactor (entry point %s); only event payloads are removed from the log",
            SECRETS_GROUP,
        )
    return flt


def uninstall() -> None:
    """Undo `install()` (tests)."""
    global _installed
    if _installed is None:
        return
    flt, _installed = _installed, None
    root = logging.getLogger()
    root.removeFilter(flt)
    for handler in root.handlers:
        handler.removeFilter(flt)
    logging.setLogRecordFactory(_previous_factory.pop())
