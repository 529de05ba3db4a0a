"""The log filter: nio's "Error validating event" (and any library's payload dump) never logs a
secret. Real nio code paths: its validator directly, and a malformed event through Synapse."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import nio
import pytest

from bot import logfilter
from tests.conftest import World

SECRET = "Granit4821!xq"
KEY = "AKIAQWERTYUIOPASDFGH"
S3 = "Zx9vQ2mN8bL4kJ7hG5fD3sA1pO6iU0yT2rE4wQ8z"


@pytest.fixture
def installed() -> Iterator[logfilter.SecretLogFilter]:
    flt = logfilter.install()
    try:
        yield flt
    finally:
        logfilter.uninstall()


def _malformed_content() -> dict[str, object]:
    # A file message without "url": Synapse accepts it, nio's schema requires the url, and
    # jsonschema's message then prints the whole content ("On instance['content']: {...}").
    return {
        "msgtype": "m.file",
        "body": f"export OS_PASSWORD={SECRET}\naws_access_key_id={KEY}\naws_secret_access_key={S3}",
    }


def _assert_clean(records: list[logging.LogRecord], text: str) -> None:
    for value in (SECRET, KEY, S3):
        assert value not in text
    for r in records:
        assert r.args is None
        assert SECRET not in r.getMessage()


EVENT = {
    "type": "m.room.message",
    "event_id": "$abc",
    "sender": "@c:hs",
    "origin_server_ts": 1,
    "content": _malformed_content(),
}


def test_without_the_filter_nio_logs_the_secret(caplog: pytest.LogCaptureFixture) -> None:
    """The hazard is real: unfiltered, nio's warning carries the whole content."""
    with caplog.at_level(logging.WARNING, logger="nio"):
        nio.RoomMessage.parse_event(EVENT)
    assert SECRET in caplog.text and S3 in caplog.text


def test_nio_validator_warning_loses_the_event(
    installed: logfilter.SecretLogFilter, caplog: pytest.LogCaptureFixture
) -> None:
    event = EVENT
    with caplog.at_level(logging.WARNING, logger="nio"):
        parsed = nio.RoomMessage.parse_event(event)
    assert isinstance(parsed, nio.BadEvent)
    assert "Error validating event" in caplog.text
    _assert_clean(caplog.records, caplog.text)


async def test_malformed_event_through_synapse(
    world: World, installed: logfilter.SecretLogFilter, caplog: pytest.LogCaptureFixture
) -> None:
    """The customer's client sends a message nio cannot validate; the engineer's nio client
    receives it from Synapse and warns, and the warning carries no part of the content."""
    caplog.set_level(logging.WARNING, logger="nio")
    path = f"/_matrix/client/v3/rooms/{world.support}/send/m.room.message/bad-{id(caplog)}"
    resp = world.server.api("PUT", path, world.customer.account.access_token, _malformed_content())
    assert "event_id" in resp, resp
    for _ in range(50):
        if "Error validating event" in caplog.text:
            break
        await asyncio.sleep(0.1)
    assert "Error validating event" in caplog.text
    _assert_clean(caplog.records, caplog.text)


def test_payloads_and_secrets_in_any_record(
    installed: logfilter.SecretLogFilter, caplog: pytest.LogCaptureFixture
) -> None:
    log = logging.getLogger("some.library")
    sync = {
        "next_batch": "s1",
        "rooms": {"join": {"!r:hs": {"timeline": {"events": [{"content": {"body": SECRET}}]}}}},
    }
    with caplog.at_level(logging.DEBUG, logger="some.library"):
        log.debug("sync response: %s", sync)
        log.info("user pasted export OS_PASSWORD=%s", SECRET)
        try:
            raise ValueError(f"bad config line aws_secret_access_key = {S3}")
        except ValueError:
            log.exception("failed")
    assert "{<payload removed:" in caplog.text
    assert "OS_PASSWORD=[REDACTED]" in caplog.text
    _assert_clean(caplog.records, caplog.text)
    assert "[REDACTED]" in caplog.records[-1].exc_text  # type: ignore[operator]


def test_ordinary_records_are_untouched(
    installed: logfilter.SecretLogFilter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("bot.x").info("redacted %s in %s (%d ms)", "$ev", "!room:hs", 170)
        logging.getLogger("bot.x").info("config: %s", {"log_level": "INFO", "workers": 4})
    assert caplog.messages == [
        "redacted $ev in !room:hs (170 ms)",
        "config: {'log_level': 'INFO', 'workers': 4}",
    ]


def test_unformattable_record_is_kept_without_its_args(
    installed: logfilter.SecretLogFilter, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        logging.getLogger("bot.x").info("two %s %s", SECRET)
    assert caplog.records and SECRET not in caplog.text
