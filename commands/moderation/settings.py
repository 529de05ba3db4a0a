"""`[moderation]`: the automatic protections (each with on/off and shadow mode) and the audit."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator

from bot.settings_base import Section
from commands.moderation.protections.credentials_detector import Kind as SecretKind

Step = Literal["warn", "mute", "kick"]

DOCS = "https://docs.safespring.com/"
DEFAULT_DOC_LINKS: dict[str, str] = {
    SecretKind.S3_PAIR.value: DOCS + "storage/getting-started/",
    SecretKind.S3_SECRET.value: DOCS + "storage/getting-started/",
    SecretKind.APP_CRED.value: DOCS + "compute/app-creds/",
    SecretKind.OS_PASSWORD.value: DOCS + "compute/app-creds/",
    SecretKind.OS_TOKEN.value: DOCS + "compute/app-creds/",
    SecretKind.CLOUDS_YAML.value: DOCS + "compute/app-creds/",
    SecretKind.PRIVATE_KEY.value: DOCS + "compute/howto/keypairs/",
    SecretKind.KUBE_TOKEN.value: DOCS + "kubernetes/authentication/",
    SecretKind.KUBE_CLIENT_KEY.value: DOCS + "kubernetes/authentication/",
    SecretKind.TSM_PASSWORD.value: DOCS + "backup/howto/password/",
}


def _check_regexes(values: list[str]) -> list[str]:
    for v in values:
        try:
            re.compile(v)
        except re.error as exc:
            raise ValueError(f"bad regular expression {v!r}: {exc}") from exc
    return values


def _steps(*steps: Step) -> list[Step]:
    return list(steps)


class ProtectionSwitch(Section):
    """Shared by every protection. `!protections on/off/shadow` overrides these at runtime."""

    enabled: bool = True
    # Shadow mode: post "would have ..." lines to the staff room and act on nothing.
    shadow: bool = False


class CredentialSettings(ProtectionSwitch):
    # Redacting a leaked secret protects the sender; it is not a punishment, so by default it
    # also happens for messages from the downtime backlog.
    redact_backlog: bool = True
    exempt_staff: bool = True
    dm_sender: bool = True
    doc_url: str = Field(default=DOCS, description="link sent when no kind-specific page exists")
    doc_links: dict[str, str] = Field(default_factory=lambda: dict(DEFAULT_DOC_LINKS))

    @field_validator("doc_links")
    @classmethod
    def _known_kinds(cls, v: dict[str, str]) -> dict[str, str]:
        known = {k.value for k in SecretKind}
        unknown = sorted(set(v) - known)
        if unknown:
            raise ValueError(f"unknown credential kinds {unknown}; known: {sorted(known)}")
        return v

    def doc_for(self, kind: str) -> str:
        return self.doc_links.get(kind, self.doc_url)


class FloodSettings(ProtectionSwitch):
    window_seconds: float = Field(default=10.0, gt=0, le=3600)
    max_messages: int = Field(default=8, ge=2, description="messages per window before a strike")
    # High enough that one pasted log (the daily bread of a support room) is never a flood.
    max_lines: int = Field(default=150, ge=2, description="lines per window before a strike")
    # One strike per breach: the n-th strike (within strike_memory_minutes) takes ladder[n-1];
    # strikes past the end repeat the last step.
    ladder: list[Step] = Field(default_factory=lambda: _steps("warn", "mute", "kick"), min_length=1)
    strike_memory_minutes: float = Field(default=60.0, gt=0)
    mute_minutes: float = Field(default=10.0, gt=0)


class SpamSettings(ProtectionSwitch):
    blocked_words: list[str] = Field(default_factory=list, description="regexes, case-insensitive")
    blocked_links: list[str] = Field(
        default_factory=list, description="regexes matched against the link's host name"
    )
    allowed_domains: list[str] = Field(
        default_factory=lambda: ["docs.safespring.com", "status.safespring.com", "safespring.com"],
        description="these hosts and their subdomains are never counted or blocked",
    )
    new_member_hours: float = Field(default=24.0, ge=0)
    new_member_max_links: int = Field(default=0, ge=0, description="per message")
    new_member_max_mentions: int = Field(default=3, ge=0, description="per message")
    new_member_media: bool = False

    _check = field_validator("blocked_words", "blocked_links")(_check_regexes)


class MentionSettings(ProtectionSwitch):
    max_staff_mentions: int = Field(default=3, ge=1, description="staff pinged in one message")
    max_mentions: int = Field(default=10, ge=1, description="anyone pinged in one message")
    room_mention: bool = Field(default=False, description="may customers use @room")
    # Count members pinged by display name or localpart in messages without m.mentions (the
    # legacy push rules notify them); names shorter than this never count.
    display_names: bool = True
    min_name_length: int = Field(default=3, ge=1)
    ladder: list[Step] = Field(default_factory=lambda: _steps("warn", "warn", "mute"), min_length=1)
    strike_memory_minutes: float = Field(default=60.0, gt=0)
    mute_minutes: float = Field(default=10.0, gt=0)


# A room id ("!opaque:server", or "!opaque" in room version 12) or an alias ("#name:server").
POLICY_ROOM = re.compile(r"^(![^\s:]+(:\S+)?|#[^\s:]+:\S+)$")


class PolicyListSettings(ProtectionSwitch):
    """Policy lists (MSC2313 `m.policy.rule.*` rooms): their ban rules become support-room bans."""

    rooms: list[str] = Field(default_factory=list, description="room ids or aliases of the lists")
    resync_minutes: float = Field(
        default=15.0, gt=0, description="re-read every list in full this often (a safety net)"
    )

    @field_validator("rooms")
    @classmethod
    def _room_ids(cls, v: list[str]) -> list[str]:
        for room in v:
            if not POLICY_ROOM.match(room):
                raise ValueError(
                    f"{room!r} is not a room id (!id:server) or a room alias (#name:server)"
                )
        dupes = sorted({r for r in v if v.count(r) > 1})
        if dupes:
            raise ValueError(f"listed twice: {dupes}")
        return v


class ModerationSettings(Section):
    """Automatic protections and moderator commands. Staff and the bot are never acted on."""

    enabled: bool = True
    # Muting lowers the user's power level below events_default (0 by default).
    mute_power_level: int = Field(default=-1, le=-1)
    default_mute_minutes: float = Field(default=60.0, gt=0)
    max_redact: int = Field(default=50, ge=1, le=500, description="cap of !redact @user N")
    credentials: CredentialSettings = Field(default_factory=CredentialSettings)
    flood: FloodSettings = Field(default_factory=FloodSettings)
    spam: SpamSettings = Field(default_factory=SpamSettings)
    mentions: MentionSettings = Field(default_factory=MentionSettings)
    policy_lists: PolicyListSettings = Field(default_factory=PolicyListSettings)
