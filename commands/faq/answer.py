"""How an FAQ answer reads and whom it reaches.

The asker, and only the asker, is notified: the answer names them in ``m.mentions`` and opens
with their pill, and it is sent as ``m.text`` because the default push rule
``.m.rule.suppress_notices`` comes before ``.m.rule.is_user_mention``, so a notice mentioning
someone notifies nobody. Doc text is quoted with its user links and "@room" defused (with
``m.mentions`` present clients skip the legacy body-matching rules, but older ones do not).
The closing hint says what this asker can really do to reach a person, read from the
command registry: ``!ticket`` exists only when escalation is on, and its role says whether
customers may use it (``[rt] customers_may_escalate``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from markdown_it import MarkdownIt

from bot.context import EventContext
from bot.html import code, esc, link
from bot.ids import MXID_IN_TEXT, user_link
from bot.matrix import MatrixError
from bot.roles import Place
from knowledge.index import Hit

_MD = MarkdownIt("commonmark", {"html": False})
# A user link as markdown-it renders one (`@` may come percent-encoded).
_USER_A_RE = re.compile(r'<a href="https://matrix\.to/#/(?:@|%40)[^"]*">(.*?)</a>', re.S | re.I)
_ROOM_RE = re.compile(r"@(?=room\b)", re.I)
_PILL_TEXT_RE = re.compile(
    r'<a\s[^>]*href="https://matrix\.to/#/(?:@|%40)[^"]*"[^>]*>(.*?)</a>', re.S
)
_TAG_RE = re.compile(r"<[^>]*>")
_WORDS_RE = re.compile(r"[^\W_]")  # a letter or digit; markup (*, _, `, >, #) is none
WORD_JOINER = "\u2060"  # invisible: "@\u2060room" reads as "@room" and matches no push rule


@dataclass(frozen=True, slots=True)
class Asker:
    user_id: str
    name: str

    @property
    def pill(self) -> str:
        return link(user_link(self.user_id), self.name)


@dataclass(frozen=True, slots=True)
class Hint:
    html: str  # safe HTML, "" for no hint
    plain: str


def quiet(text: str) -> str:
    """Text that pings nobody: "@room" gets an invisible joiner after the "@"."""
    return _ROOM_RE.sub("@" + WORD_JOINER, text)


def quiet_html(html: str) -> str:
    """Safe HTML that pings nobody: user links become their text, "@room" is defused."""
    return quiet(_USER_A_RE.sub(r"\1", html))


def asker_of(ctx: EventContext) -> Asker:
    ev = ctx.event
    return Asker(ev.sender, quiet(ctx.matrix.display_name(ev.room_id, ev.sender)))


def without_mentions(ctx: EventContext, text: str) -> str:
    """``text`` without the people it mentions: pills' display names and bare user ids are
    not part of a question."""
    html = ctx.event.content.get("formatted_body")
    if isinstance(html, str):
        for name in _PILL_TEXT_RE.findall(html):
            plain = _TAG_RE.sub("", name).strip()
            if plain:
                text = text.replace(plain, " ", 1)
    return MXID_IN_TEXT.sub(" ", text)


def has_words(text: str) -> bool:
    """Whether anything but markup and whitespace is left (`!faq ** ``` ``` has nothing)."""
    return bool(_WORDS_RE.search(_TAG_RE.sub(" ", text)))


async def _roots_thread(ctx: EventContext) -> bool:
    """Whether the asker started the thread the answer goes to (customers may only escalate
    their own threads)."""
    ev = ctx.event
    if not ev.thread_root:
        return True
    try:
        root = await ctx.matrix.get_event(ev.room_id, ev.thread_root)
    except MatrixError:
        return False  # unsure: do not promise a command that may be refused
    return root.sender == ev.sender


async def person_hint(ctx: EventContext) -> Hint:
    """How this asker reaches a person from here; nothing for staff (they are the persons)."""
    if ctx.is_staff:
        return Hint("", "")
    prefix = ctx.config.bot.command_prefix
    registry: Any = ctx.services.extras.get("registry")
    ticket = registry.commands.get("ticket") if registry is not None else None
    here = ctx.place == Place.support
    if ticket is None:  # escalation is off: no ticket to promise
        text = (
            "Need a person? Wait for staff here."
            if here
            else "Need a person? Ask in the support room."
        )
        return Hint(esc(text), text)
    if ticket.role <= ctx.role and await _roots_thread(ctx):
        cmd = prefix + "ticket"
        if here:
            return Hint(
                f"Need a person? Type {code(cmd)} or wait for staff.",
                f"Need a person? Type {cmd} or wait for staff.",
            )
        text = f"Need a person? Type {cmd} in your thread in the support room."
        return Hint(esc(text), text)
    text = (
        "Need a person? Ask an engineer to open a ticket."
        if here
        else "Need a person? In the support room, ask an engineer to open a ticket."
    )
    return Hint(esc(text), text)


def title_of(hit: Hit) -> str:
    return f"{hit.title} › {hit.section}" if hit.section and hit.section != hit.title else hit.title


def answer_html(hit: Hit, asker: Asker, hint: Hint, *, auto: bool) -> tuple[str, str]:
    """The asker's pill, the section title as a link, one short paragraph, how to reach a
    person."""
    title = quiet(title_of(hit))
    head = link(hit.url, title) if hit.url else esc(title)
    if hit.faq_answer:
        body = _MD.render(hit.faq_answer).strip()
        body = quiet_html(body.removeprefix("<p>").removesuffix("</p>"))
    else:
        body = esc(quiet(hit.snippet))
    lead = "Automatic answer from the docs." if auto else "From the docs."
    tail = f"<i>{lead}{' ' + hint.html if hint.html else ''}</i>"
    html = f"{asker.pill}: <b>{head}</b><br>{body}<br>{tail}"
    text = quiet(_TAG_RE.sub("", _MD.render(hit.faq_answer)).strip()) if hit.faq_answer else ""
    plain = (
        f"{asker.name}: {title}{' (' + hit.url + ')' if hit.url else ''}\n"
        f"{text or quiet(hit.snippet)}\n"
        f"{lead}{' ' + hint.plain if hint.plain else ''}"
    )
    return html, plain


def candidates_html(hits: list[Hit], asker: Asker, hint: Hint, lead: str) -> tuple[str, str]:
    """When unsure: the closest sections, each with a short excerpt."""
    items = []
    lines = []
    for h in hits:
        title = quiet(title_of(h))
        head = link(h.url, title) if h.url else esc(title)
        items.append(f"<li>{head}: {esc(quiet(h.snippet[:160]))}</li>")
        lines.append(f"- {title}{' (' + h.url + ')' if h.url else ''}: {quiet(h.snippet[:160])}")
    tail = f"<i>{hint.html}</i>" if hint.html else ""
    html = f"{asker.pill}: {esc(lead)}<ul>{''.join(items)}</ul>{tail}"
    plain = "\n".join([f"{asker.name}: {lead}", *lines, *([hint.plain] if hint.plain else [])])
    return html, plain


def nothing_html(asker: Asker, hint: Hint) -> tuple[str, str]:
    lead = "Nothing in the docs matches."
    html = f"{asker.pill}: {lead}{' ' + hint.html if hint.html else ''}"
    return html, f"{asker.name}: {lead}{' ' + hint.plain if hint.plain else ''}"
