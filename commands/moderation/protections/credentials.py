"""Leaked credentials, in every room the bot handles and in DMs: swallowed, redacted, sender told.

A message (or edit, or text file) carrying a credential stops here: no command, FAQ answer,
ticket transcript or gap list ever sees it. In the support room (and the staff room) it is
redacted through the Moderator (audited, staff told) and the sender gets a DM; in a DM the bot
tries to redact it, tells the sender in that DM, and keeps nothing (no audit row, no staff line).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from bot.context import EventContext
from bot.events import Event
from bot.html import user_pill
from bot.roles import Place
from bot.text import html_text
from commands.moderation.moderator import Moderator, Refused
from commands.moderation.protections.common import BaseProtection, Verdict, formatted
from commands.moderation.protections.credentials_detector import (
    MAX_ATTACHMENT_BYTES,
    Finding,
    find_secrets,
    kinds,
    scan_attachment,
)
from commands.moderation.protections.credentials_notice import dm_notice, room_notice
from commands.moderation.settings import CredentialSettings

log = logging.getLogger(__name__)

# Above this size the detector can take more than ~10 ms: run it off the event loop.
OFFLOAD_CHARS = 8_000
# Uploaded files are scanned from the start up to MAX_ATTACHMENT_BYTES; one that says it is far
# bigger (a 200 MB log, an ISO) is not downloaded at all: a pasted config or .env is small.
MAX_DOWNLOAD_BYTES = 8 * MAX_ATTACHMENT_BYTES
# Images, audio and video are never text; a .env, clouds.yaml or kubeconfig arrives as m.file.
FILE_MSGTYPES = frozenset({"m.file"})


def scan(ev: Event) -> list[Finding]:
    """Findings in the plain body, or else in the HTML body's text (clients may differ)."""
    found = find_secrets(ev.body)
    if not found:
        fragment = formatted(ev)
        if fragment and fragment != ev.body:
            found = find_secrets(html_text(fragment))
    return found


@dataclass(frozen=True)
class Attachment:
    """Where a file message's bytes are; never the bytes themselves."""

    url: str  # mxc://
    file: dict[str, Any] | None  # EncryptedFile (key, iv, hashes) in an encrypted room
    filename: str
    mimetype: str | None
    size: int | None  # as the sender's client declared it


def attachment_of(ev: Event) -> Attachment | None:
    """The file of an m.file message (plain or end-to-end encrypted), or None."""
    if ev.kind != "message" or ev.msgtype not in FILE_MSGTYPES or ev.is_edit:
        return None
    content = ev.content
    raw_info = content.get("info")
    info: dict[str, Any] = raw_info if isinstance(raw_info, dict) else {}
    file = content.get("file")
    if isinstance(file, dict) and isinstance(file.get("url"), str):
        url, keys = file["url"], file
    elif ev.media_url is not None:
        url, keys = ev.media_url, None
    else:
        return None
    size = info.get("size")
    mimetype = info.get("mimetype")
    return Attachment(
        url=url,
        file=keys,
        filename=str(content.get("filename") or ev.body or ""),
        mimetype=mimetype if isinstance(mimetype, str) else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )


class CredentialProtection(BaseProtection):
    name: ClassVar[str] = "credentials"
    settings: CredentialSettings

    def __init__(self, moderator: Moderator, settings: CredentialSettings) -> None:
        super().__init__(moderator, settings)
        self.acts_on_backlog = settings.redact_backlog  # type: ignore[misc]

    def exempt(self, ctx: EventContext) -> bool:
        if ctx.event.sender == self.moderator.matrix.user_id:
            return True
        return self.settings.exempt_staff and ctx.is_staff

    def assess(self, ev: Event) -> Verdict | None:
        if ev.kind != "message":
            return None
        return self._verdict(scan(ev))

    @staticmethod
    def _verdict(found: list[Finding]) -> Verdict | None:
        if not found:
            return None
        names = ", ".join(k.value for k in kinds(found))
        return Verdict(reason=f"credential: {names}", redact=True)

    async def handle(self, ctx: EventContext) -> bool:
        """Act on a secret when allowed; swallow it in every case.

        Shadow mode, staff exemption and the backlog only decide whether the bot
        *acts*. A message carrying a secret is never answered, stored or copied into
        a ticket, so once found it stops here whatever the action, in whatever place
        the router hands it over (support room, staff room, DM).
        """
        ev = ctx.event
        enabled, shadow = self.mode
        if not enabled or ev.kind != "message":
            return False
        if ev.sender == self.moderator.matrix.user_id:
            return False
        size = len(ev.body) + len(formatted(ev))
        found = await asyncio.to_thread(scan, ev) if size > OFFLOAD_CHARS else scan(ev)
        attachment = attachment_of(ev)
        in_file: list[Finding] = []
        if attachment is not None:
            # Scanned for exempt senders and in the backlog too: like a message, a file with a
            # secret is swallowed (never answered or passed on) whatever the action.
            in_file = await self.scan_file(ctx, attachment)
        verdict = self._verdict(found + in_file)
        if verdict is None:
            return False
        what = "file" if in_file else "message"
        if ev.backlog and not self.acts_on_backlog:
            return True
        if ctx.place is Place.dm:
            await self.in_dm(ctx, verdict, shadow, what)
        elif not self.exempt(ctx):
            await self.enforce(ctx, verdict, shadow, what=what)
        return True

    async def scan_file(self, ctx: EventContext, attachment: Attachment) -> list[Finding]:
        """Findings in an uploaded file; none when it is not text or cannot be fetched.

        The bytes stay in this function: they are not logged, stored or sent anywhere, and
        findings hold only kinds and offsets.
        """
        ev = ctx.event
        if attachment.size is not None and attachment.size > MAX_DOWNLOAD_BYTES:
            log.info("file in %s not scanned: %d bytes", ev.event_id, attachment.size)
            return []
        try:
            media = await ctx.matrix.download(attachment.url)
            data = media.data
            if attachment.file is not None:
                data = await asyncio.to_thread(
                    ctx.matrix.decrypt_media, data, attachment.file, f"decrypt {ev.event_id}"
                )
        except Exception as exc:  # a file that cannot be fetched is let through, as before
            log.warning(
                "could not fetch the file in %s to scan it: %s", ev.event_id, type(exc).__name__
            )
            ctx.services.metrics.errors.labels("credential_file").inc()
            return []
        result = await asyncio.to_thread(
            scan_attachment, data, attachment.filename, attachment.mimetype or media.content_type
        )
        if result.truncated:
            log.info("file in %s scanned up to %d bytes only", ev.event_id, MAX_ATTACHMENT_BYTES)
        return list(result.findings)

    async def enforce(
        self, ctx: EventContext, verdict: Verdict, shadow: bool, what: str = "message"
    ) -> None:
        ev = ctx.event
        mod = self.moderator
        kind_names = verdict.reason.removeprefix("credential: ").split(", ")
        log.info("credential (%s) in %s from %s", ", ".join(kind_names), ev.event_id, ev.sender)
        try:
            outcome = await mod.act(
                "redact",
                target=ev.sender,
                actor=mod.matrix.user_id,
                protection=self.name,
                reason=verdict.reason,
                room_id=ev.room_id,
                event_id=ev.event_id,
                shadow=shadow,
            )
        except Refused:
            return
        if shadow or not self.settings.dm_sender:
            return
        await self._tell_sender(ctx, kind_names, redacted=outcome.ok, what=what)

    async def in_dm(self, ctx: EventContext, verdict: Verdict, shadow: bool, what: str) -> None:
        """A secret sent to the bot in a DM: redact it if the bot may, tell the sender there.

        Nothing is recorded (no audit row, no staff line): only the sender and the bot saw it.
        The bot has the power to redact in the DMs it opens (both members get 100), usually not
        in one the sender opened; failing to redact never stops the notice.
        """
        ev = ctx.event
        kind_names = verdict.reason.removeprefix("credential: ").split(", ")
        if shadow:
            log.info(
                "shadow: credential (%s) in DM %s, not acted on", ", ".join(kind_names), ev.event_id
            )
            return
        redacted = True
        try:
            await ctx.matrix.redact(ev.room_id, ev.event_id, verdict.reason)
        except Exception as exc:  # no power in this DM, or the server refused: tell anyway
            redacted = False
            log.info("could not redact %s in a DM: %s", ev.event_id, type(exc).__name__)
        log.info(
            "credential (%s) in DM %s from %s, %s",
            ", ".join(kind_names),
            ev.event_id,
            ev.sender,
            "redacted" if redacted else "not redacted",
        )
        if not self.settings.dm_sender:
            return
        html = dm_notice(self.settings, ev.sender, kind_names, redacted=redacted, what=what)
        try:
            await ctx.matrix.send(ev.room_id, html)
        except Exception:
            log.warning("could not answer %s about a credential in their DM", ev.sender)
            ctx.services.metrics.errors.labels("moderation_dm").inc()

    async def _tell_sender(
        self, ctx: EventContext, kind_names: list[str], redacted: bool, what: str = "message"
    ) -> None:
        ev = ctx.event
        room = "the staff room" if ctx.place is Place.staff else "the support room"
        message = room_notice(
            self.settings, ev.sender, kind_names, redacted=redacted, what=what, room=room
        )
        try:
            await ctx.matrix.send_dm(ev.sender, message)
        except Exception:
            log.warning("could not DM %s about a credential", ev.sender)
            ctx.services.metrics.errors.labels("moderation_dm").inc()
            await ctx.services.tell_staff(
                f"⚠️ could not DM {user_pill(ev.sender)} about their leaked credential"
            )
