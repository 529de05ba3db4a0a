"""Keep every message the bot sends under Synapse's event size limit.

Synapse refuses an event whose JSON exceeds 65,536 bytes (signatures, hashes
and ``unsigned`` included); in an encrypted room the ciphertext is base64 and
about a third larger than the content. A long reply (``!kb gaps --limit 50``
with long stored questions) must not fail for size: it is cut at a tag
boundary, open tags are closed, and a line says it was shortened.
"""

from __future__ import annotations

import json
from html.parser import HTMLParser
from typing import Any

# Plaintext content budget: leaves room for the envelope and for megolm's base64 growth.
MAX_CONTENT_BYTES = 40_000
NOTE_HTML = "<br><i>(shortened: the full answer was too long for one message)</i>"
NOTE_PLAIN = "\n(shortened: the full answer was too long for one message)"
_VOID = frozenset({"br", "hr", "img", "input", "meta", "link", "wbr", "col", "area", "source"})


def size(content: dict[str, Any]) -> int:
    return len(json.dumps(content, ensure_ascii=False).encode())


def fit(content: dict[str, Any], limit: int = MAX_CONTENT_BYTES) -> dict[str, Any]:
    """``content`` itself when small enough, else a copy with bodies shortened to fit."""
    if size(content) <= limit:
        return content
    out = dict(content)
    inner = out.get("m.new_content")
    for _ in range(8):  # each pass shrinks the bodies by the overshoot; 1-2 passes in practice
        over = size(out) - limit
        if over <= 0:
            return out
        targets = [out] + ([dict(inner)] if isinstance(inner, dict) else [])
        share = over // len(targets) + 256
        for i, part in enumerate(targets):
            _shrink(part, share)
            if i == 1:
                out["m.new_content"] = part
    # Pathological (huge non-body fields): drop the formatting rather than fail.
    out.pop("formatted_body", None)
    out.pop("format", None)
    out["body"] = _cut_text(str(out.get("body", "")), limit // 4)
    return out


def _shrink(part: dict[str, Any], by: int) -> None:
    body = part.get("body")
    raw_html = part.get("formatted_body")
    html = raw_html if isinstance(raw_html, str) else ""
    has_html = bool(html)
    # Split the cut between the two bodies in proportion to their sizes.
    b_len = len(body.encode()) if isinstance(body, str) else 0
    h_len = len(html.encode()) if has_html else 0
    total = max(1, b_len + h_len)
    if isinstance(body, str) and b_len:
        part["body"] = _cut_text(body, max(0, b_len - by * b_len // total))
    if has_html:
        part["formatted_body"] = cut_html(html, max(0, h_len - by * h_len // total))


def _cut_text(text: str, max_bytes: int) -> str:
    if len(text.encode()) <= max_bytes:
        return text
    keep = text.encode()[: max(0, max_bytes - len(NOTE_PLAIN.encode()))]
    return keep.decode(errors="ignore").rstrip() + NOTE_PLAIN


class _Cutter(HTMLParser):
    """Walks HTML keeping whole tags and text until the byte budget is spent."""

    def __init__(self, budget: int) -> None:
        super().__init__(convert_charrefs=False)
        self.budget = budget
        self.out: list[str] = []
        self.used = 0
        self.open: list[str] = []
        self.full = False

    def _take(self, piece: str, closing_cost: int = 0) -> bool:
        n = len(piece.encode())
        if self.full or self.used + n + closing_cost > self.budget:
            self.full = True
            return False
        self.out.append(piece)
        self.used += n
        return True

    def _closers(self) -> int:
        return sum(len(t) + 3 for t in self.open)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        text = self.get_starttag_text() or f"<{tag}>"
        if self._take(text, self._closers() + len(tag) + 3) and tag not in _VOID:
            self.open.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._take(self.get_starttag_text() or f"<{tag}/>", self._closers())

    def handle_endtag(self, tag: str) -> None:
        if tag in self.open and not self.full:
            while self.open:
                top = self.open.pop()
                self.out.append(f"</{top}>")
                self.used += len(top) + 3
                if top == tag:
                    break

    def handle_data(self, data: str) -> None:
        if self.full:
            return
        room = self.budget - self.used - self._closers()
        raw = data.encode()
        if len(raw) <= room:
            self._take(data, self._closers())
            return
        self.out.append(raw[: max(0, room)].decode(errors="ignore"))
        self.used = self.budget
        self.full = True

    def handle_entityref(self, name: str) -> None:
        self._take(f"&{name};", self._closers())

    def handle_charref(self, name: str) -> None:
        self._take(f"&#{name};", self._closers())


def cut_html(html: str, max_bytes: int) -> str:
    """At most about ``max_bytes`` of ``html``: whole tags only, every open tag closed, a note."""
    if len(html.encode()) <= max_bytes:
        return html
    cutter = _Cutter(max(0, max_bytes - len(NOTE_HTML)))
    cutter.feed(html)
    cutter.close()
    closers = "".join(f"</{t}>" for t in reversed(cutter.open))
    return "".join(cutter.out) + closers + NOTE_HTML
