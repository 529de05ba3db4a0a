"""Building bot messages: every piece of user text goes through ``esc``."""

from __future__ import annotations

from html import escape


def esc(text: object) -> str:
    """Escape user-supplied text for HTML bodies (quotes too, for attributes)."""
    return escape(str(text), quote=True)


def link(url: str, text: str) -> str:
    return f'<a href="{esc(url)}">{esc(text)}</a>'


def code(text: str) -> str:
    return f"<code>{esc(text)}</code>"


def user_pill(user_id: str) -> str:
    """A mention link; the caller must also list the user in ``mentions`` to ping them."""
    return link(f"https://matrix.to/#/{user_id}", user_id)


def bullet_list(items: list[str]) -> str:
    """``items`` are already-safe HTML fragments."""
    return "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
