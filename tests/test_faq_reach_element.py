"""FAQ answers reach the asker, as Element computes it (issue 13).

Three matrix-js-sdk 34.13 clients (Element's SDK and push processor) in an encrypted support
room: the customer who asks, another customer, and an engineer. The answer must highlight the
asker and nobody else, and notify the others no more than any message in the room does. The
closing hint follows what the asker can do: `!ticket` when customers may escalate, "ask an
engineer to open a ticket" when they may not, nothing about tickets when escalation is off.
"""

from __future__ import annotations

import itertools
from pathlib import Path
from typing import Any

import pytest

from bot.ids import user_link
from harness.js_client import JsClient, JsMessage, js_available
from harness.matrix_helpers import World, running_bot
from harness.rt_server import RTInstance
from harness.shared_data import DOCS
from harness.synapse_server import Synapse
from harness.world import build_world
from tests.test_ticket_e2e import rt_section

pytestmark = [
    pytest.mark.skipif(js_available() is not None, reason=str(js_available())),
    pytest.mark.skipif(not DOCS.is_dir(), reason="shared docs corpus not present"),
]

QUESTION = "how do i create application credentials from the command line?"
_n = itertools.count()


async def _js(world: World, tmp_path: Path, user_id: str, password: str) -> JsClient:
    js = await JsClient(world.server.url, user_id, password, tmp_path / f"js{next(_n)}.log").start()
    assert await js.join(world.support)  # encrypted
    return js


async def _js_customer(world: World, tmp_path: Path) -> JsClient:
    account = world.server.register(f"reach{next(_n)}x{id(world) % 10000}")
    resp = world.server.api(
        "POST",
        f"/_matrix/client/v3/rooms/{world.support}/invite",
        world.admin.account.access_token,
        {"user_id": account.user_id},
    )
    assert "_status" not in resp, resp
    return await _js(world, tmp_path, account.user_id, account.password)


def _config(world: World, tmp_path: Path, rt: dict[str, Any] | None) -> Any:
    sections: dict[str, Any] = {
        "knowledge": {"docs_dir": str(DOCS), "cache_dir": str(tmp_path / "kb")},
        # two customers asking in a row must not trip the new-member link/flood limits
        "moderation": {"flood": {"enabled": False}},
    }
    if rt is not None:
        sections["rt"] = rt
    return world.config(**sections)


async def _ask(js: JsClient, world: World, text: str, **kw: Any) -> JsMessage:
    ask = await js.send(world.support, text, **kw)
    return await js.wait_reply(ask, world.bot.user_id, timeout=60)


async def test_answers_highlight_the_asker_only_and_hint_what_they_can_do(
    synapse: Synapse, rt: RTInstance, tmp_path: Path
) -> None:
    world = await build_world(synapse, tmp_path, encrypted=True)
    bot = world.bot.user_id
    clients: list[JsClient] = []
    try:
        async with running_bot(_config(world, tmp_path, rt_section(rt))):
            asker = await _js_customer(world, tmp_path)
            other = await _js_customer(world, tmp_path)
            eng = world.engineer
            engineer = await _js(world, tmp_path, eng.user_id, eng.account.password)
            clients += [asker, other, engineer]

            ask = await asker.send(world.support, QUESTION)
            answer = await asker.wait_reply(ask, bot, timeout=60)
            assert answer.encrypted and answer.thread_root == ask
            assert answer.msgtype == "m.text"  # a notice would notify nobody, the asker included
            assert answer.mentions == {"user_ids": [asker.user_id]}
            assert f'href="{user_link(asker.user_id)}"' in (answer.formatted_body or "")
            assert "docs.safespring.com/compute/app-creds/" in (answer.body or "")
            # customers_may_escalate is false: an engineer opens the ticket
            assert "Ask an engineer to open a ticket." in (answer.body or "")
            assert "!ticket" not in (answer.body or "")

            mine = await asker.push_actions(answer.event_id)
            assert mine.notify and mine.highlight and mine.rule_id == ".m.rule.is_user_mention"
            for person in (other, engineer):
                got = await person.push_actions(answer.event_id)
                room_default = await person.push_actions(ask)  # any message in this room
                assert not got.highlight and got.sound is None
                assert (got.notify, got.rule_id) == (room_default.notify, room_default.rule_id)

            # !faq answers the same way; markup or mentions alone get the usage line.
            got = await _ask(other, world, "!faq how do i attach a volume to an instance")
            assert got.mentions == {"user_ids": [other.user_id]}
            assert (await other.push_actions(got.event_id)).highlight
            assert not (await asker.push_actions(got.event_id)).highlight
            pill = f'<a href="{user_link(bot)}">Support Bot</a>'
            for body, html in (
                ("!faq ** `` **", None),
                ("!faq Support Bot", f"!faq {pill}"),
                (f"!faq {bot}  ", None),
            ):
                usage = await _ask(asker, world, body, formatted_body=html)
                assert (usage.body or "").startswith("Usage: !faq <your question>"), usage.body

        # Customers may escalate: the hint names !ticket.
        async with running_bot(
            _config(world, tmp_path, rt_section(rt, customers_may_escalate=True))
        ):
            got = await _ask(asker, world, QUESTION)
            assert "Type !ticket or wait for staff." in (got.body or "")
            assert (await asker.push_actions(got.event_id)).highlight

        # Escalation off: nothing about tickets.
        async with running_bot(_config(world, tmp_path, None)):
            got = await _ask(other, world, "!faq " + QUESTION)
            assert "ticket" not in (got.body or "").lower()
            assert "Wait for staff here." in (got.body or "")
    finally:
        for js in clients:
            await js.stop()
        await world.stop()
