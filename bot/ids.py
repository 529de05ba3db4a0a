"""Matrix ids and matrix.to links, once (patterns from the spec's grammar, loosely)."""

from __future__ import annotations

import re
from urllib.parse import quote

# The config's and the moderator commands' check: "@localpart:server", nothing more.
MXID_PATTERN = r"^@[^:\s]+:\S+$"
MXID = re.compile(MXID_PATTERN)
# Strict historical grammar (what the access registry stores).
STRICT_MXID = re.compile(r"^@[A-Za-z0-9._=/+-]+:[A-Za-z0-9.-]+(:\d{1,5})?$")
# A bare MXID inside message text (not part of an e-mail address or another id).
MXID_IN_TEXT = re.compile(r"(?<![\w@])@[a-z0-9._=/+-]+:[a-z0-9.-]+(?::\d+)?", re.I)
# A user pill as clients write it.
PILL = re.compile(r"https://matrix\.to/#/(@[^\"'<>?\s]+)")


def server_of(user_id: str) -> str | None:
    return user_id.split(":", 1)[1] if ":" in user_id else None


def user_link(user_id: str) -> str:
    """matrix.to link of a user; '@' and ':' stay readable, anything else is quoted."""
    return f"https://matrix.to/#/{quote(user_id, safe='@:')}"


def matrix_to(room_id: str, event_id: str | None = None, via: str | None = None) -> str:
    """matrix.to link of a room or of one event in it, every part URL-quoted."""
    link = f"https://matrix.to/#/{quote(room_id, safe='')}"
    if event_id:
        link += f"/{quote(event_id, safe='')}"
    if via:
        link += f"?via={quote(via, safe='')}"
    return link
