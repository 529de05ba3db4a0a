"""HTML to plain text, once: for our own simple HTML and for HTML written by others."""

from __future__ import annotations

import re
from html import unescape

_BREAK = re.compile(r"(?i)<br\s*/?>|</(?:p|pre|div|li|tr|h\d|blockquote)>")
_TAG = re.compile(r"<[^>]*>")


def html_to_plain(html: str) -> str:
    """A readable plain body from our own (simple, trusted) HTML: bullets and link targets kept."""
    text = re.sub(r"<br\s*/?>|</p>|</li>|</tr>", "\n", html)
    text = re.sub(r"<li>", "• ", text)
    text = re.sub(r'<a href="([^"]*)">([^<]*)</a>', r"\2 (\1)", text)
    text = re.sub(r"<[^>]+>", "", text)
    return unescape(text).strip()


def html_text(fragment: str) -> str:
    """The text of HTML written by others (a client, RT): line breaks kept, entities decoded."""
    return unescape(_TAG.sub("", _BREAK.sub("\n", fragment)))
