"""Credential checks on keys and tokens: base64-wrapped private keys, GitHub checksums, vendor tokens, JWT headers."""

from __future__ import annotations

import base64
import binascii
import json
import re
import zlib
from collections.abc import Iterator

from commands.moderation.protections.credentials_patterns import (
    _REPEATED,
    Finding,
    Kind,
    _entropy,
    is_placeholder,
)

# A private key base64-encoded again (Kubernetes Secret data, Helm values, CI variables): the
# PEM armour `-----BEGIN` encodes to `LS0tLS1CRUdJTi`, `PuTTY-User-Key-File` to `UHVUVFkt`.
_B64_PEM = re.compile(
    r"(?:LS0tLS1CRUdJTi|UHVUVFktVXNlci1LZXktRmlsZS|b3BlbnNzaC1rZXktdjE)[A-Za-z0-9+/=]{16,}"
)
_KEY_MARKERS = ("PRIVATE KEY-----", "PuTTY-User-Key-File", "openssh-key-v1")


def _encoded_keys(text: str) -> Iterator[Finding]:
    for m in _B64_PEM.finditer(text):
        blob = m.group()
        if blob.startswith("b3BlbnNzaC1rZXktdjE"):
            # the OpenSSH private-key format's magic, unarmoured: the key itself
            if len(blob) >= 64:
                yield Finding(Kind.PRIVATE_KEY, m.start(), m.end(), "openssh-blob")
            continue
        head = blob[: 4 * 40]
        try:
            raw = base64.b64decode(head + "=" * (-len(head) % 4)).decode("ascii", "replace")
        except (binascii.Error, ValueError):
            continue
        if any(marker in raw for marker in _KEY_MARKERS):
            yield Finding(Kind.PRIVATE_KEY, m.start(), m.end(), "base64-private-key")


# Vendor tokens whose shape is public. GitHub: prefix + 30 random base62 + 6-character
# base62 CRC32 of the random part; a valid checksum settles it, an invalid one still counts
# when the body is random-looking (fakes in tickets are tokens to the reader too).
_GITHUB = re.compile(r"(?<![A-Za-z0-9_])gh[pousr]_(?P<body>[A-Za-z0-9]{36,})(?![A-Za-z0-9_])")
_GITHUB_PAT = re.compile(
    r"(?<![A-Za-z0-9_])github_pat_[A-Za-z0-9]{22}_[A-Za-z0-9]{59}(?![A-Za-z0-9_])"
)
_B62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def github_checksum_ok(token: str) -> bool:
    """True when a `ghx_` token's last 6 characters are the base62 CRC32 of its random part."""
    body = token.split("_", 1)[-1]
    if len(body) != 36:
        return False
    n = zlib.crc32(body[:30].encode())
    digits = ""
    while n:
        n, r = divmod(n, 62)
        digits = _B62[r] + digits
    return digits.rjust(6, "0") == body[30:]


_VENDOR = re.compile(
    r"(?<![A-Za-z0-9_-])(?:"
    r"xox[abposer]-(?:\d+-)+[A-Za-z0-9]{20,}|xox[abposer]-[A-Za-z0-9-]{30,}|xapp-\d-[A-Za-z0-9-]{30,}"
    r"|gl(?:pat|rt|dt|ptt|soat|cbt|imt|oas|ft)-[A-Za-z0-9_-]{20,}|GR1348941[A-Za-z0-9_-]{20,}"
    r"|sk-(?:proj-|svcacct-|ant-(?:api|admin)\d\d-)?[A-Za-z0-9_-]{32,}|[sr]k_live_[A-Za-z0-9]{24,}"
    r"|npm_[A-Za-z0-9]{36}|pypi-AgE[A-Za-z0-9_-]{50,}|dckr_pat_[A-Za-z0-9_-]{20,}"
    r"|hv[sb]\.[A-Za-z0-9_-]{24,}|AIza[0-9A-Za-z_-]{35}|SG\.[\w-]{22}\.[\w-]{43}"
    r"|syt_[A-Za-z0-9_-]{20,}|glc_[A-Za-z0-9+/]{32,}={0,2})"
    r"(?![A-Za-z0-9_-])"
)


_VENDOR_PREFIXES = (
    "xox", "xapp-", "glpat-", "glrt-", "gldt-", "glptt-", "glsoat-", "glcbt-", "glimt-", "gloas-",
    "glft-", "GR1348941", "sk-", "k_live_", "npm_", "pypi-", "dckr_pat_", "hvs.", "hvb.", "AIza",
    "SG.", "syt_", "glc_",
)  # fmt: skip


def _vendor_value(token: str) -> bool:
    body = re.split(r"[-_.]", token, maxsplit=1)[-1]
    parts = [p for p in re.split(r"[-_.]", body) if p]
    if any(len(p) >= 4 and _REPEATED.search(p) for p in parts) or is_placeholder(body):
        return False
    tail = max(parts, key=len) if parts else body
    return _entropy(tail) >= 3.0


def _vendor_tokens(text: str) -> Iterator[Finding]:
    for m in _GITHUB.finditer(text) if "gh" in text else ():
        if github_checksum_ok(m.group()) or _vendor_value(m.group()):
            yield Finding(Kind.BEARER, m.start(), m.end(), "github-token")
    for m in _GITHUB_PAT.finditer(text) if "github_pat_" in text else ():
        if _vendor_value(m.group()):
            yield Finding(Kind.BEARER, m.start(), m.end(), "github-pat")
    for m in _VENDOR.finditer(text) if any(p in text for p in _VENDOR_PREFIXES) else ():
        if _vendor_value(m.group()):
            yield Finding(Kind.BEARER, m.start(), m.end(), "vendor-token")


def _jwt_header_ok(token: str) -> bool:
    """The first segment is base64url JSON with an "alg" (RFC 7515/7519)."""
    head = token.split(".", 1)[0]
    try:
        raw = base64.urlsafe_b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return False
    try:
        header = json.loads(raw)
    except ValueError:
        # a truncated or hand-made header still reads as JSON text naming its algorithm
        return b'"alg"' in raw
    return isinstance(header, dict) and "alg" in header
