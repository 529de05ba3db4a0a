"""The bot's one secret-safety rule, as a question any part can ask: does this text carry a credential?

A message carrying a secret is never stored, echoed, quoted, logged, answered or copied to RT.
The credentials protection (first in the router's chain) swallows such messages in every room
and DM before any handler sees them. This module is the second line, for the code that keeps
or forwards text (FAQ questions and the gap list, ticket transcripts and thread comments): it
asks right where it stores, so a secret stays out even when moderation, or the credentials
protection, is switched off or in shadow mode.

The core does not import capabilities: the detector comes from the `backchannel.secrets`
entry point (bot/capability.py), as capabilities do.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from functools import cache

from bot.capability import SECRETS_GROUP, secret_detector

log = logging.getLogger(__name__)

TextKinds = Callable[[str], list[str]]
FileKinds = Callable[[bytes, str, str | None], list[str]]

WITHHELD = "[message withheld: contained a credential]"
WITHHELD_FILE = "[file withheld: contained a credential]"
# Above this size the detector can take more than ~10 ms: run it off the event loop.
OFFLOAD_CHARS = 8_000


@cache
def _detector() -> tuple[TextKinds, FileKinds] | None:
    try:
        module = secret_detector()
        if module is not None:
            return module.text_kinds, module.file_kinds
    except (ImportError, AttributeError):
        pass
    log.error("no credential detector (entry point %s): stored text is not checked", SECRETS_GROUP)
    return None


def text_kinds(text: str) -> list[str]:
    """Kinds of credential in `text` (names only); empty when there is none."""
    det = _detector()
    return det[0](text) if det and text else []


async def scan_text(*texts: str) -> list[str]:
    """Kinds in any of `texts`, off the event loop when they are long."""
    kinds: list[str] = []
    for text in texts:
        if not text:
            continue
        found = (
            await asyncio.to_thread(text_kinds, text)
            if len(text) > OFFLOAD_CHARS
            else (text_kinds(text))
        )
        kinds.extend(k for k in found if k not in kinds)
    return kinds


async def scan_file(data: bytes, filename: str = "", content_type: str | None = None) -> list[str]:
    """Kinds in an uploaded file (text files only; a key container counts as a key)."""
    det = _detector()
    if det is None or not data:
        return []
    return await asyncio.to_thread(det[1], data, filename, content_type)
