"""Policy list rules (MSC2313): reading rule events, glob matching, and the config keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from commands.moderation.policy.rules import BanRules, Rule, glob_match, rule_from_state
from commands.moderation.settings import ModerationSettings

LIST = "!list:example.org"


def event(
    etype: str = "m.policy.rule.user", key: str = "rule:1", **content: object
) -> dict[str, object]:
    return {"type": etype, "state_key": key, "content": content, "event_id": "$e"}


def rule(entity: str, kind: str = "user", key: str | None = None, rec: str = "m.ban") -> Rule:
    found = rule_from_state(
        LIST, event(f"m.policy.rule.{kind}", key or entity, entity=entity, recommendation=rec)
    )
    assert found is not None
    return found


@pytest.mark.parametrize(
    ("glob", "value", "hit"),
    [
        ("@spam:example.org", "@spam:example.org", True),
        ("@spam:example.org", "@spam2:example.org", False),
        ("@spam*:example.org", "@spammer:example.org", True),
        ("@spam*:example.org", "@spam:example.org", True),  # * may be empty
        ("@spam?:example.org", "@spam:example.org", False),  # ? is exactly one
        ("@spam?:example.org", "@spam1:example.org", True),
        ("@spam?:example.org", "@spam12:example.org", False),
        ("*", "@anyone:anywhere", True),
        ("@*:evil.org", "@x:evil.org.example.com", False),  # anchored at both ends
        ("@*:evil.org", "@x:notevil.org", False),
        # [ ] are literal, not a character class
        ("@a[bc]:x.org", "@ab:x.org", False),
        ("@a[bc]:x.org", "@a[bc]:x.org", True),
        ("@a[!b]:x.org", "@a[!b]:x.org", True),
        ("@a]:x.org", "@a]:x.org", True),
        # regex metacharacters are literal too
        ("@a.b:x.org", "@axb:x.org", False),
        ("@a+b(c)|d$:x.org", "@a+b(c)|d$:x.org", True),
        ("@a\\*:x.org", "@a\\zz:x.org", True),  # a backslash escapes nothing
        # user ids are case-sensitive
        ("@Spam:example.org", "@spam:example.org", False),
        ("@SPAM*", "@spammer:example.org", False),
    ],
)
def test_glob(glob: str, value: str, hit: bool) -> None:
    assert glob_match(glob, value) is hit


def test_server_globs_ignore_case_user_globs_do_not() -> None:
    rules = BanRules([rule("*.Evil.ORG", "server"), rule("@Bad:good.org")])
    assert [r.entity for r in rules.matching("@x:chat.evil.org")] == ["*.Evil.ORG"]
    assert rules.matching("@x:evil.org") == []  # "*." needs a subdomain
    assert [r.entity for r in rules.matching("@Bad:good.org")] == ["@Bad:good.org"]
    assert rules.matching("@bad:good.org") == []


def test_exact_and_glob_rules_and_the_server_part_with_a_port() -> None:
    rules = BanRules(
        [
            rule("evil.org", "server"),
            rule("@troll:example.org"),
            rule("@troll*", key="glob"),
            rule("EXAMPLE.net:8448", "server"),
            rule("#room:evil.org", "room"),  # recorded, never a ban of a user
            rule("@nice:example.org", rec="org.example.watch"),  # not a ban
        ]
    )
    assert len(rules) == 4
    assert [r.state_key for r in rules.matching("@troll:example.org")] == [
        "@troll:example.org",
        "glob",
    ]
    assert [r.entity for r in rules.matching("@a:evil.org")] == ["evil.org"]
    assert rules.matching("@a:evil.org:8448") == []  # the port is part of the server name
    assert [r.entity for r in rules.matching("@a:example.net:8448")] == ["EXAMPLE.net:8448"]
    assert rules.matching("@nice:example.org") == []
    assert rules.first("@x:elsewhere.org") is None


def test_rule_events_stable_and_legacy_and_removed() -> None:
    for etype in ("m.policy.rule.user", "m.room.rule.user", "org.matrix.mjolnir.rule.user"):
        for rec in ("m.ban", "org.matrix.mjolnir.ban"):
            r = rule_from_state(
                LIST, event(etype, entity="@a:b.org", recommendation=rec, reason="spam")
            )
            assert r is not None and r.kind == "user" and r.is_ban and r.reason == "spam"
    server = rule_from_state(
        LIST, event("org.matrix.mjolnir.rule.server", entity="b.org", recommendation="m.ban")
    )
    assert server is not None and server.kind == "server" and server.is_ban
    assert server.reason == ""
    # removed (empty content), malformed, or not a rule at all: no rule
    assert rule_from_state(LIST, event()) is None
    assert rule_from_state(LIST, event(entity="", recommendation="m.ban")) is None
    assert rule_from_state(LIST, event(entity=["@a:b"], recommendation="m.ban")) is None
    assert rule_from_state(LIST, event(entity="@a:b.org")) is None
    assert rule_from_state(LIST, event(entity="x" * 600, recommendation="m.ban")) is None
    assert rule_from_state(LIST, event("m.room.topic", entity="@a", recommendation="m.ban")) is None
    assert rule_from_state(LIST, {"type": "m.policy.rule.user", "content": {}}) is None
    # a reason of the wrong type is no reason; a long one is cut
    odd = rule_from_state(LIST, event(entity="@a:b.org", recommendation="m.ban", reason=5))
    assert odd is not None and odd.reason == ""
    long = rule_from_state(LIST, event(entity="@a:b.org", recommendation="m.ban", reason="r" * 900))
    assert long is not None and len(long.reason) == 500


CONFIG = """
[matrix]
homeserver = "http://127.0.0.1:8008"
user_id = "@bot:example.org"
password = "x"

[rooms]
support = "!support:example.org"
staff = "!staff:example.org"

[moderation.policy_lists]
rooms = {rooms}
"""


def test_config_accepts_ids_and_aliases_and_names_a_bad_entry(tmp_path: Path) -> None:
    path = tmp_path / "bot.toml"
    path.write_text(CONFIG.format(rooms='["!abc:example.org", "#bans:matrix.org", "!v12opaque"]'))
    settings = load_config(path).section("moderation", ModerationSettings)
    assert settings.policy_lists.rooms == ["!abc:example.org", "#bans:matrix.org", "!v12opaque"]
    for bad in ('["bans:matrix.org"]', '["#nocolon"]', '["!a:b", "!a:b"]', '["@user:x.org"]'):
        path.write_text(CONFIG.format(rooms=bad))
        with pytest.raises(ConfigError) as exc:
            load_config(path)
        [problem] = exc.value.problems
        assert problem.where == "moderation.policy_lists.rooms"
        assert "room id" in problem.message or "listed twice" in problem.message
