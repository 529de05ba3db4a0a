"""Leaked credentials: redact within a second, tell the sender (kind, never value), tell staff."""

from __future__ import annotations

import asyncio
import logging
from typing import ClassVar

from bot.context import EventContext
from bot.events import Event
from bot.html import esc, link, user_pill
from bot.text import html_text
from commands.moderation.moderator import Moderator, Refused
from commands.moderation.protections.common import BaseProtection, Verdict, formatted
from commands.moderation.protections.credentials_detector import Finding, find_secrets, kinds
from commands.moderation.protections.credentials_detector import Kind as SecretKind
from commands.moderation.settings import CredentialSettings

log = logging.getLogger(__name__)

# Above this size the detector can take more than ~10 ms: run it off the event loop.
OFFLOAD_CHARS = 8_000


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
        verdict = self._verdict(found)
        if verdict is None:
            return False
        if not self.exempt(ctx) and (not ev.backlog or self.acts_on_backlog):
            await self.enforce(ctx, verdict, shadow)
        return True

    async def enforce(self, ctx: EventContext, verdict: Verdict, shadow: bool) -> None:
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
        await self._tell_sender(ctx, kind_names, redacted=outcome.ok)

    async def _tell_sender(self, ctx: EventContext, kind_names: list[str], redacted: bool) -> None:
        docs = []
        for k in kind_names:
            url = self.settings.doc_for(k)
            if url not in docs:
                docs.append(url)
        what = " and ".join(f"<b>{esc(k)}</b>" for k in kind_names)
        removed = (
            "I removed your message from the support room"
            if redacted
            else "I could not remove your message from the support room; staff have been told"
        )
        advice = []
        for k in kind_names:
            tip = ADVICE.get(k, ADVICE_DEFAULT)
            if tip not in advice:
                advice.append(tip)
        message = (
            f"Hi {user_pill(ctx.event.sender)}, your message contained a credential ({what}). "
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
