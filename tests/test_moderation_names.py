"""Who a message pings by display name (the legacy push rules), without Matrix."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from bot.events import Event, Kind
from commands.moderation.protections.common import mentioned
from commands.moderation.protections.mentions import MentionProtection
from commands.moderation.protections.names import MemberNames
from commands.moderation.settings import MentionSettings

T0 = 1_800_000_000_000
# Localparts of two characters are too short to ping (the rule matches them too).
PEOPLE = {
    "@p1:hs": "Astrid Lindqvist",
    "@p2:hs": "Björn",
    "@p3:hs": "Chen Wei",
    "@p4:hs": "[ACME] Dana",
    "@p5:hs": "Erik",
    "@p6:hs": "Fatima",
    "@p7:hs": "Gustav",
    "@p8:hs": "Hanna",
    "@p9:hs": "Ivar",
    "@q1:hs": "Jonna",
    "@q2:hs": "Karin",
    "@q3:hs": "Lars",
    "@support1:hs": "Support",  # generic: never counts
    "@q4:hs": "Jo",  # too short: never counts
    "@anon:hs": None,  # no display name: the localpart still pings
}


def index() -> MemberNames:
    names = MemberNames()
    names.load(PEOPLE)
    return names


def msg(body: str, *, sender: str = "@cust:hs", **content: Any) -> Event:
    return Event(
        event_id="$x",
        room_id="!s:hs",
        sender=sender,
        ts=T0,
        kind=Kind.message,
        type="m.room.message",
        content={"msgtype": "m.text", "body": body, **content},
        body=body,
        msgtype="m.text",
    )


def test_whole_words_case_insensitive_multiword_and_punctuation() -> None:
    n = index()
    assert n.pinged("astrid lindqvist, chen wei and BJÖRN: please look") == {
        "@p1:hs",
        "@p3:hs",
        "@p2:hs",
    }
    assert n.pinged("[acme] dana here") == {"@p4:hs"}
    # a name inside a longer word pings nobody; a first name alone is not "Astrid Lindqvist"
    assert n.pinged("Eriksson and Larsen and Astrid") == set()
    assert n.pinged("erik_x larsfoo") == set()
    assert n.pinged("ask lars.") == {"@q3:hs"}


def test_localparts_short_and_generic_names() -> None:
    n = index()
    assert n.pinged("anon, are you there") == {"@anon:hs"}  # .m.rule.contains_user_name
    assert n.pinged("our support admin Jo says jo") == set()
    assert n.pinged("support1 hello") == {"@support1:hs"}  # the localpart is specific


def test_rename_leave_and_shared_names() -> None:
    n = index()
    n.put("@p5:hs", "Erik the Red")
    assert n.pinged("erik") == set()
    assert n.pinged("erik the red?") == {"@p5:hs"}
    n.remove("@q3:hs")
    assert n.pinged("lars") == set()
    n.put("@q5:hs", "Karin")  # two Karins: the name counts once
    assert len(n.pinged("karin")) == 1
    n.remove("@q2:hs")
    assert n.pinged("karin") == {"@q5:hs"}


def test_only_without_m_mentions() -> None:
    n = index()
    body = "Astrid Lindqvist Björn Chen Wei Erik Fatima"
    assert mentioned(msg(body), n)[0] == {
        "@p1:hs",
        "@p2:hs",
        "@p3:hs",
        "@p5:hs",
        "@p6:hs",
    }
    # an event with m.mentions (even empty) does not trigger the legacy rules
    assert mentioned(msg(body, **{"m.mentions": {}}), n)[0] == set()
    assert mentioned(msg(body))[0] == set()


def stub(names: MemberNames) -> Any:
    return SimpleNamespace(
        services=SimpleNamespace(roles=SimpleNamespace(is_staff=lambda u: False)),
        matrix=SimpleNamespace(user_id="@bot:hs"),
        names=names,
    )


TWELVE = (
    "Astrid Lindqvist, Björn, Chen Wei, [ACME] Dana, Erik, Fatima, Gustav, Hanna, Ivar, Jonna, "
    "Karin, Lars: is the S3 endpoint down for you too?"
)


def test_protection_counts_display_names() -> None:
    n = index()
    p = MentionProtection(stub(n), MentionSettings())
    v = p.assess(msg(TWELVE))
    assert v is not None and "12 people mentioned" in v.reason and v.redact
    assert p.assess(msg("thanks Astrid Lindqvist and Björn, it works now")) is None
    # the sender's own name is not a ping
    assert p.assess(msg(TWELVE, sender="@q3:hs")) is not None  # still 11
    off = MentionProtection(stub(n), MentionSettings(display_names=False))
    assert off.assess(msg(TWELVE)) is None


def test_own_name_does_not_count() -> None:
    n = index()
    p = MentionProtection(stub(n), MentionSettings(max_mentions=11))
    assert p.assess(msg(TWELVE)) is not None
    assert p.assess(msg(TWELVE, sender="@q3:hs")) is None
