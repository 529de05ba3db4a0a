"""The detector as the core's secret rule sees it: kinds by name, for text and for files.

The core finds this module through the `backchannel.secrets` entry point (it never imports a
capability): bot/secrets.py uses the kinds functions so the places that keep or pass on text (FAQ questions and gaps, ticket transcripts and comments) can
check right where they store, whatever the moderation switches say.
"""

from __future__ import annotations

from commands.moderation.protections.credentials_detector import (
    find_secrets,
    kinds,
    redact_text,
    scan_attachment,
)

__all__ = ["file_kinds", "redact_text", "text_kinds"]


def text_kinds(text: str) -> list[str]:
    """Names of the credential kinds in `text` (empty: none); never any part of a value."""
    return [k.value for k in kinds(find_secrets(text))]


def file_kinds(data: bytes, filename: str = "", content_type: str | None = None) -> list[str]:
    """Names of the credential kinds in an uploaded file (scanned when it is text)."""
    return [k.value for k in kinds(list(scan_attachment(data, filename, content_type).findings))]
