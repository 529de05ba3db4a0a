"""Replies over Synapse's 64 KiB event limit are shortened, never refused (issue 10)."""

from __future__ import annotations

from html.parser import HTMLParser

from bot import msgsize
from harness.matrix_helpers import World, running_bot


def long_gaps_html(n: int = 50, question_len: int = 2000) -> str:
    items = "".join(
        f"<li><b>{i}×</b> {'why does my vm &amp; volume not attach ' * (question_len // 40)}</li>"
        for i in range(n)
    )
    return f"Questions without an answer:<ul>{items}</ul>"


class _Balance(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.stack: list[str] = []

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag != "br":
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, (tag, self.stack)
        self.stack.pop()


def test_small_content_is_untouched() -> None:
    content = {"msgtype": "m.notice", "body": "hi", "formatted_body": "<b>hi</b>"}
    assert msgsize.fit(content) is content


def test_long_html_is_cut_at_a_tag_boundary_and_balanced() -> None:
    html = long_gaps_html()
    content = {
        "msgtype": "m.notice",
        "body": html,
        "format": "org.matrix.custom.html",
        "formatted_body": html,
    }
    fitted = msgsize.fit(content)
    assert msgsize.size(fitted) <= msgsize.MAX_CONTENT_BYTES
    assert fitted["formatted_body"].endswith(msgsize.NOTE_HTML)
    checker = _Balance()
    checker.feed(fitted["formatted_body"])
    assert checker.stack == []
    assert "&amp" not in fitted["formatted_body"].rsplit("&amp;", 1)[-1]  # no entity cut in half


async def test_an_oversized_reply_reaches_synapse_shortened(world: World) -> None:
    async with running_bot(world.config(matrix={"encryption": False})) as app:
        html = long_gaps_html()
        assert len(html.encode()) > 65536
        event_id = await app.services.matrix.send(world.support, html)
        got = await world.customer.wait_for(lambda e: e.event_id == event_id, timeout=30)
        assert got.body.endswith(msgsize.NOTE_PLAIN.strip())
