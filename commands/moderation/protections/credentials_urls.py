"""Credential checks on URLs: signed/presigned query strings and webhook URL shapes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import unquote

from commands.moderation.protections.credentials_patterns import (
    _REPEATED,
    Finding,
    Kind,
    is_placeholder,
)

# --- formats checked by their specification (issue 14) -----------------------------------------

# A URL in chat ends at whitespace, a quote, a bracket or a backtick.
_URL = re.compile(r"""https?://[^\s'"<>`\\\])}]+""", re.I)
_HEX = re.compile(r"[0-9a-f]+")


def _query(url: str) -> tuple[int, dict[str, str]]:
    """Offset of the query inside `url` and its parameters (names lower-cased, values raw)."""
    q = url.find("?")
    if q < 0:
        return -1, {}
    params: dict[str, str] = {}
    for part in url[q + 1 :].split("#", 1)[0].split("&"):
        name, _, value = part.partition("=")
        params[name.lower()] = value
    return q + 1, params


def _signed_url(params: dict[str, str]) -> bool:
    """A URL that grants access by itself until it expires (the signature is the secret).

    S3 SigV4 query auth: X-Amz-Signature is 64 hex digits, next to X-Amz-Credential/Algorithm;
    an X-Amz-Security-Token is an STS session token. SigV2: AWSAccessKeyId + Signature
    (base64 HMAC-SHA1, URL-encoded) + Expires. Swift temp URLs: temp_url_sig is hex of an HMAC
    (SHA1 40, SHA256 64, SHA512 128) or `<algo>:<base64>`, with temp_url_expires. GCS V4
    (X-Goog-Signature) and Azure SAS (sig + sv + se) are the same idea.
    """
    sig = params.get("x-amz-signature", "").lower()
    if len(sig) == 64 and _HEX.fullmatch(sig) and not _REPEATED.search(sig):
        if "x-amz-credential" in params or "x-amz-algorithm" in params:
            return True
    token = params.get("x-amz-security-token", "")
    if len(token) >= 40 and not is_placeholder(token):
        return True
    v2 = unquote(params.get("signature", ""))
    if "awsaccesskeyid" in params and "expires" in params and len(v2) >= 20:
        return not is_placeholder(v2)
    swift = params.get("temp_url_sig", "").lower()
    if "temp_url_expires" in params and swift and not _REPEATED.search(swift):
        if len(swift) in (40, 64, 128) and _HEX.fullmatch(swift):
            return True
        if re.fullmatch(r"sha(?:1|256|512):[a-z0-9_%+/=-]{20,}", swift):
            return True
    goog = params.get("x-goog-signature", "").lower()
    if len(goog) >= 64 and _HEX.fullmatch(goog) and "x-goog-credential" in params:
        return True
    sas = unquote(params.get("sig", ""))
    return len(sas) >= 30 and "sv" in params and ("se" in params or "sp" in params)


def _presigned(text: str) -> Iterator[Finding]:
    for m in _URL.finditer(text):
        url = m.group()
        offset, params = _query(url)
        if params and _signed_url(params):
            yield Finding(Kind.PRESIGNED_URL, m.start() + offset, m.end(), "signed-url")


# Chat webhooks: whoever has the URL can post as the integration.
_WEBHOOK = re.compile(
    r"https://(?:hooks\.slack\.com/(?:services|workflows|triggers)/(?P<slack>[A-Za-z0-9_/-]{20,})"
    r"|(?:(?:ptb|canary)\.)?discord(?:app)?\.com/api/webhooks/\d{5,}/(?P<discord>[\w-]{30,})"
    r"|[\w-]+\.webhook\.office\.com/webhookb2/(?P<teams>[\w@/-]{40,})"
    r"|outlook\.office(?:365)?\.com/webhook/(?P<teams2>[\w@/-]{40,})"
    r"|chat\.googleapis\.com/v1/spaces/[\w-]+/messages\?(?P<gchat>[^\s'\"<>`]*token=[^\s'\"<>`]+)"
    r"|[\w.-]+(?::\d+)?/hooks/(?P<mm>[a-z0-9]{26})(?![a-z0-9]))",
    re.I,
)


def _webhooks(text: str) -> Iterator[Finding]:
    for m in _WEBHOOK.finditer(text):
        group = next(
            g for g in ("slack", "discord", "teams", "teams2", "gchat", "mm") if m.group(g)
        )
        value = m.group(group)
        parts = [p for p in re.split(r"[/@?&=]", value) if p]
        if any(_REPEATED.search(p) or is_placeholder(p) for p in parts):
            continue  # hooks.slack.com/services/XXXX/XXXX/XXXX in docs and templates
        yield Finding(Kind.WEBHOOK_URL, m.start(group), m.end(group), "webhook-url")


# Password hashes by scheme: Apache apr1-MD5, bcrypt, SHA-crypt, yescrypt, {SHA}, DES crypt.
