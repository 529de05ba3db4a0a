"""Leaked credentials: redact within a second, tell the sender (kind, never value), tell staff."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, ClassVar

from bot.context import EventContext
from bot.events import Event
from bot.html import esc, link, user_pill
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
from commands.moderation.protections.credentials_detector import Kind as SecretKind
from commands.moderation.settings import CredentialSettings

log = logging.getLogger(__name__)

# Above this size the detector can take more than ~10 ms: run it off the event loop.
OFFLOAD_CHARS = 8_000
# Uploaded files are scanned from the start up to MAX_ATTACHMENT_BYTES; one that says it is far
# bigger (a 200 MB log, an ISO) is not downloaded at all: a pasted config or .env is small.
MAX_DOWNLOAD_BYTES = 8 * MAX_ATTACHMENT_BYTES
# Images, audio and video are never text; a .env, clouds.yaml or kubeconfig arrives as m.file.
FILE_MSGTYPES = frozenset({"m.file"})


ADVICE_DEFAULT = "Create a new one, switch your clients to it, then revoke the old one."
ADVICE: dict[str, str] = {
    SecretKind.S3_PAIR.value: "Create a new S3 key pair, update your clients (s3cmd, rclone, "
    "backups), then delete the old pair.",
    SecretKind.S3_SECRET.value: "Create a new S3 key pair, update your clients, then delete "
    "the old pair.",
    SecretKind.APP_CRED.value: "Create a new application credential, switch to it, then "
    "delete the old one (openstack application credential delete).",
    SecretKind.OS_PASSWORD.value: "Change your OpenStack/portal password; consider an "
    "application credential for scripts instead of your password.",
    SecretKind.CLOUDS_YAML.value: "Change your OpenStack/portal password; consider an "
    "application credential in clouds.yaml instead of your password.",
    SecretKind.OS_TOKEN.value: "Revoke the token (openstack token revoke) or wait for it to "
    "expire, and check what was done with it.",
    SecretKind.PRIVATE_KEY.value: "Generate a new key pair, replace the public key wherever "
    "the old one is trusted (authorized_keys, OpenStack keypairs, TLS certificates), then "
    "remove the old one.",
    SecretKind.KUBE_TOKEN.value: "Revoke the token (delete the service-account token or "
    "re-issue the kubeconfig) and create a new one.",
    SecretKind.KUBE_CLIENT_KEY.value: "Re-issue the kubeconfig / client certificate and "
    "revoke the old one.",
    SecretKind.TSM_PASSWORD.value: "Change the node password (dsmc set password) or ask us to "
    "reset it, then update every client that uses the node.",
    SecretKind.PRESIGNED_URL.value: "The link works for anyone until it expires: delete or move "
    "the object (or rotate the key / Swift temp-URL key that signed it) if it must stop now.",
    SecretKind.WEBHOOK_URL.value: "Anyone with the URL can post as the integration: delete the "
    "webhook and create a new one.",
    SecretKind.PASSWORD_HASH.value: "Hashes can be cracked offline: change the password and "
    "replace the hash.",
}


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
        a ticket, so once found it stops here whatever the action.
        """
        ev = ctx.event
        enabled, shadow = self.mode
        if not enabled or ev.kind != "message" or ev.room_id != self.moderator.support:
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
        if not self.exempt(ctx) and (not ev.backlog or self.acts_on_backlog):
            await self.enforce(ctx, verdict, shadow, what="file" if in_file else "message")
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

    async def _tell_sender(
        self, ctx: EventContext, kind_names: list[str], redacted: bool, what: str = "message"
    ) -> None:
        docs = []
        for k in kind_names:
            url = self.settings.doc_for(k)
            if url not in docs:
                docs.append(url)
        which = " and ".join(f"<b>{esc(k)}</b>" for k in kind_names)
        removed = (
            f"I removed your {what} from the support room"
            if redacted
            else f"I could not remove your {what} from the support room; staff have been told"
        )
        advice = []
        for k in kind_names:
            tip = ADVICE.get(k, ADVICE_DEFAULT)
            if tip not in advice:
                advice.append(tip)
        message = (
            f"Hi {user_pill(ctx.event.sender)}, your {what} contained a credential ({which}). "
            f"{removed}, but it was visible to everyone in the room (other "
            "organisations too) and may already be in their clients or notifications: "
            "<b>treat it as exposed and rotate it now</b>. "
            + " ".join(esc(a) for a in advice)
            + " How to: "
            + ", ".join(link(u, u) for u in docs)
            + ". If you need help, ask in the room without pasting the secret."
        )
        try:
            await ctx.matrix.send_dm(ctx.event.sender, message)
        except Exception:
            log.warning("could not DM %s about a credential", ctx.event.sender)
            ctx.services.metrics.errors.labels("moderation_dm").inc()
            await ctx.services.tell_staff(
                f"⚠️ could not DM {user_pill(ctx.event.sender)} about their leaked credential"
            )
