"""What the bot tells someone who leaked a credential: the kind, never the value, and how to rotate."""

from __future__ import annotations

from bot.html import esc, link, user_pill
from commands.moderation.protections.credentials_detector import Kind as SecretKind
from commands.moderation.settings import CredentialSettings

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


def _unique(items: list[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _advice_and_docs(settings: CredentialSettings, kind_names: list[str]) -> str:
    advice = _unique([ADVICE.get(k, ADVICE_DEFAULT) for k in kind_names])
    docs = _unique([settings.doc_for(k) for k in kind_names])
    return (
        "<b>treat it as exposed and rotate it now</b>. "
        + " ".join(esc(a) for a in advice)
        + " How to: "
        + ", ".join(link(u, u) for u in docs)
        + "."
    )


def _which(kind_names: list[str]) -> str:
    return " and ".join(f"<b>{esc(k)}</b>" for k in kind_names)


def room_notice(
    settings: CredentialSettings,
    sender: str,
    kind_names: list[str],
    *,
    redacted: bool,
    what: str,
    room: str,
) -> str:
    """The DM to someone whose message in a shared room (`room`: "the support room") leaked."""
    removed = (
        f"I removed your {what} from {room}"
        if redacted
        else f"I could not remove your {what} from {room}; staff have been told"
    )
    return (
        f"Hi {user_pill(sender)}, your {what} contained a credential ({_which(kind_names)}). "
        f"{removed}, but it was visible to everyone in the room (other "
        "organisations too) and may already be in their clients or notifications: "
        + _advice_and_docs(settings, kind_names)
        + " If you need help, ask in the room without pasting the secret."
    )


def dm_notice(
    settings: CredentialSettings, sender: str, kind_names: list[str], *, redacted: bool, what: str
) -> str:
    """The answer to a DM that carried a credential: nothing of it was kept or acted on."""
    removed = (
        f"I removed your {what} from this chat"
        if redacted
        else f"I could not remove your {what} from this chat (please delete it yourself)"
    )
    return (
        f"Hi {user_pill(sender)}, your {what} contained a credential ({_which(kind_names)}). "
        f"{removed}, and I did not keep it, answer it or pass it on. It has still been sent "
        "to the homeserver, so "
        + _advice_and_docs(settings, kind_names)
        + " If you need help, ask again without the secret."
    )
