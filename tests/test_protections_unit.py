"""Decision logic of the protections, without Matrix: ladders, links, mentions, durations."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from bot.events import Event, Kind
from bot.registry import UsageError
from commands.moderation.commands import parse_duration
from commands.moderation.protections.common import host_allowed, hosts, ladder_step, mentioned
from commands.moderation.protections.credentials import CredentialProtection
from commands.moderation.protections.flood import FloodProtection
from commands.moderation.protections.mentions import MentionProtection
from commands.moderation.protections.names import MemberNames
from commands.moderation.protections.spam import SpamProtection
from commands.moderation.settings import (
    FloodSettings,
    MentionSettings,
    ModerationSettings,
    SpamSettings,
)

STAFF = {"@eng1:hs", "@eng2:hs", "@eng3:hs", "@eng4:hs"}
T0 = 1_800_000_000_000


def stub(joined: dict[str, float] | None = None) -> Any:
    joined = joined or {}
    return SimpleNamespace(
        joined_at=lambda room, user: joined.get(user),
        services=SimpleNamespace(roles=SimpleNamespace(is_staff=lambda u: u in STAFF)),
        matrix=SimpleNamespace(user_id="@bot:hs"),
        names=MemberNames(),
    )


def msg(body: str, *, sender: str = "@cust:hs", ts: int = T0, **content: Any) -> Event:
    return Event(
        event_id=f"$x{ts}",
        room_id="!s:hs",
        sender=sender,
        ts=ts,
        kind=Kind.message,
        type="m.room.message",
        content={"msgtype": content.pop("msgtype", "m.text"), "body": body, **content},
        body=body,
        msgtype="m.text",
    )


def test_flood_ladder_warn_mute_kick() -> None:
    p = FloodProtection(stub(), FloodSettings(max_messages=3, window_seconds=10))
    steps = []
    for i in range(12):
        v = p.assess(msg(f"m{i}", ts=T0 + i * 100))
        if v:
            steps.append(v.step)
            assert "messages in 10 s" in v.reason
    assert steps == ["warn", "mute", "kick"]


def test_flood_slow_talk_and_other_users_do_not_add_up() -> None:
    p = FloodProtection(stub(), FloodSettings(max_messages=3, window_seconds=10))
    for i in range(20):
        assert p.assess(msg("calm", ts=T0 + i * 4000)) is None
        assert p.assess(msg("x", sender=f"@u{i}:hs", ts=T0 + i)) is None


def test_flood_lines() -> None:
    p = FloodProtection(stub(), FloodSettings(max_lines=20, window_seconds=10))
    assert p.assess(msg("\n".join(["log"] * 15))) is None
    v = p.assess(msg("\n".join(["log"] * 15), ts=T0 + 500))
    assert v and "30 lines" in v.reason


def test_ladder_repeats_last_step() -> None:
    assert [ladder_step(["warn", "kick"], n) for n in (1, 2, 3, 4)] == [
        "warn",
        "kick",
        "kick",
        "kick",
    ]


def test_hosts_and_allowlist() -> None:
    ev = msg(
        "see https://docs.safespring.com/x and www.evil.example/y",
        formatted_body='<a href="https://status.safespring.com/">s</a> '
        '<a href="https://matrix.to/#/@a:hs">a</a>',
    )
    hs = hosts(ev)
    assert hs == ["docs.safespring.com", "www.evil.example", "status.safespring.com"]
    allowed = SpamSettings().allowed_domains
    assert [h for h in hs if not host_allowed(h, allowed)] == ["www.evil.example"]
    assert not host_allowed("evilsafespring.com", allowed)


def test_new_member_limits() -> None:
    joined = {"@new:hs": T0 / 1000 - 3600}
    p = SpamProtection(stub(joined), SpamSettings())
    assert p.assess(msg("https://bit.example/x", sender="@new:hs")).redact  # type: ignore[union-attr]
    assert p.assess(msg("https://docs.safespring.com/a", sender="@new:hs")) is None
    assert p.assess(msg("https://bit.example/x", sender="@old:hs")) is None  # not new
    late = msg("https://bit.example/x", sender="@new:hs", ts=T0 + 25 * 3600 * 1000)
    assert p.assess(late) is None  # 25 h after joining: no longer new
    image = msg("cat.png", sender="@new:hs", msgtype="m.image", url="mxc://hs/abc")
    image = image.model_copy(update={"msgtype": "m.image"})
    assert p.assess(image).reason == "new member: media"  # type: ignore[union-attr]


def test_blocked_words_and_links() -> None:
    p = SpamProtection(
        stub(),
        SpamSettings(blocked_words=[r"\bcrypto ?airdrop\b"], blocked_links=[r"(^|\.)bit\.ly$"]),
    )
    assert p.assess(msg("free Crypto Airdrop today")).redact  # type: ignore[union-attr]
    assert p.assess(msg("short link https://bit.ly/abc")).redact  # type: ignore[union-attr]
    assert p.assess(msg("docs at https://docs.safespring.com")) is None


def test_mentions() -> None:
    p = MentionProtection(stub(), MentionSettings(max_staff_mentions=2))
    three = msg("help", **{"m.mentions": {"user_ids": ["@eng1:hs", "@eng2:hs", "@eng3:hs"]}})
    v = p.assess(three)
    assert v and v.redact and v.step == "warn" and "3 staff" in v.reason
    assert p.assess(msg("@eng1:hs @eng2:hs can you look?")) is None
    room = p.assess(msg("everyone look", **{"m.mentions": {"room": True}}))
    assert room and "@room" in room.reason
    # the word alone (no intentional mention) pings nobody
    assert p.assess(msg("how do I disable @room notifications?")) is None


def test_mentioned_counts_pills_and_bare_ids() -> None:
    ev = msg(
        "@a:hs hi",
        formatted_body='<a href="https://matrix.to/#/@b:hs">B</a>',
        **{"m.mentions": {"user_ids": ["@c:hs"]}},
    )
    assert mentioned(ev) == ({"@a:hs", "@b:hs", "@c:hs"}, False)


def test_credential_verdict_names_kinds_only() -> None:
    p = CredentialProtection(stub(), ModerationSettings().credentials)
    v = p.assess(msg("export OS_PASSWORD=Granit4821!"))
    assert v and v.redact and v.reason == "credential: OS_PASSWORD line"
    assert "Granit" not in repr(v)
    html_only = msg("see below", formatted_body="<pre>export OS_PASSWORD=Granit4821!</pre>")
    assert p.assess(html_only) is not None


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("10", 600), ("2h", 7200), ("1d", 86400)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["soon", "0m", "31d", "-5m"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


ENV_FILE = b"APP_ENV=prod\nexport OS_PASSWORD=Granit4821!\nDEBUG=0\n"


def file_msg(name: str, *, size: int | None = None, encrypted: bool = False) -> Event:
    info: dict[str, Any] = {"mimetype": "application/octet-stream"}
    if size is not None:
        info["size"] = size
    where: dict[str, Any] = (
        {"file": {"url": "mxc://hs/enc", "key": {"k": "K"}, "iv": "IV", "hashes": {"sha256": "H"}}}
        if encrypted
        else {"url": "mxc://hs/plain"}
    )
    return msg(name, msgtype="m.file", info=info, **where).model_copy(update={"msgtype": "m.file"})


class FakeMedia:
    """ctx.matrix for scan_file: serves one file, decrypts by reversing the bytes."""

    def __init__(self, data: bytes, fail: bool = False) -> None:
        self.data, self.fail, self.fetched = data, fail, []  # type: list[str]

    async def download(self, mxc: str) -> Any:
        self.fetched.append(mxc)
        if self.fail:
            raise ConnectionError("gone")
        return SimpleNamespace(data=self.data, content_type="application/octet-stream")

    @staticmethod
    def decrypt_media(data: bytes, file: dict[str, Any], what: str) -> bytes:
        assert file["key"] == {"k": "K"}
        return data[::-1]


def file_ctx(ev: Event, media: FakeMedia) -> Any:
    errors: list[str] = []
    metrics = SimpleNamespace(
        errors=SimpleNamespace(
            labels=lambda n: errors.append(n) or SimpleNamespace(inc=lambda: None)
        )
    )
    return SimpleNamespace(
        event=ev, matrix=media, services=SimpleNamespace(metrics=metrics), errors=errors
    )


async def test_credentials_in_an_uploaded_file_plain_and_encrypted() -> None:
    from commands.moderation.protections.credentials import attachment_of

    p = CredentialProtection(stub(), ModerationSettings().credentials)
    ev = file_msg(".env", size=len(ENV_FILE))
    att = attachment_of(ev)
    assert att and att.url == "mxc://hs/plain" and att.file is None and att.filename == ".env"
    found = await p.scan_file(file_ctx(ev, FakeMedia(ENV_FILE)), att)
    assert [f.kind.value for f in found] == ["OS_PASSWORD line"]
    assert "Granit" not in repr(found)
    enc = file_msg(".env", encrypted=True)
    att = attachment_of(enc)
    assert att and att.url == "mxc://hs/enc" and att.file is not None
    found = await p.scan_file(file_ctx(enc, FakeMedia(ENV_FILE[::-1])), att)
    assert [f.kind.value for f in found] == ["OS_PASSWORD line"]
    assert attachment_of(msg("export OS_PASSWORD=Granit4821!")) is None  # text: scan() does it


async def test_uploaded_file_not_fetched_when_huge_let_through_when_unreachable() -> None:
    from commands.moderation.protections.credentials import MAX_DOWNLOAD_BYTES, attachment_of

    p = CredentialProtection(stub(), ModerationSettings().credentials)
    huge = file_msg("dump.log", size=MAX_DOWNLOAD_BYTES + 1)
    media = FakeMedia(ENV_FILE)
    assert await p.scan_file(file_ctx(huge, media), attachment_of(huge)) == []  # type: ignore[arg-type]
    assert media.fetched == []
    gone = file_msg(".env")
    ctx = file_ctx(gone, FakeMedia(ENV_FILE, fail=True))
    assert await p.scan_file(ctx, attachment_of(gone)) == []  # type: ignore[arg-type]
    assert ctx.errors == ["credential_file"]
    binary = file_msg("photo.bin")
    assert (
        await p.scan_file(
            file_ctx(binary, FakeMedia(b"\x00\x01OS_PASSWORD=Granit4821!")), attachment_of(binary)
        )
        == []
    )  # type: ignore[arg-type]
