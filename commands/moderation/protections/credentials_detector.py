"""Find credentials pasted into chat, fast and without ever holding on to the value.

`find_secrets(text)` returns `Finding`s: a kind (what to tell the sender), the span of the
sensitive part inside `text`, and the rule that fired. A finding never carries the value, so
logging, storing or printing findings cannot leak it; callers that must mask use the span
against the text they already hold (see `mask`).

Design choices (measured on tests/data/credential_corpus/corpus.jsonl):

* Almost every rule is anchored on context (a key name, a CLI flag, a PEM header, a table row)
  and then checks the value. Bare high-entropy strings without context are NOT reported,
  except an S3-shaped pair (20-char upper-case access key followed closely by a 40-char
  mixed-case secret), because support chat is full of hashes, UUIDs, ids and base64 blobs.
* Values that are placeholders are not secrets: `<password>`, `{{ vault_x }}`, `${VAR}`,
  `$VAR`, `%(x)s`, `****`, `xxxx`, `...`, `REDACTED`, `DATA+OMITTED`, anything containing
  "example"/"placeholder"/"your", paths (`/etc/...`, `~/...`), and the well-known dummy
  words (`password`, `secret`, `changeme`, `changeit`, `hunter2`...). `changeme` is treated as
  a placeholder on purpose: it is what docs and templates use, and a real password that is
  literally `changeme` is no more exposed by being pasted than it already was.
* A generic `password: value` is only reported when the value looks like a password rather
  than a word: at least 6 characters and either two character classes or 12+ characters; a
  plain word (`expired`, `Required`) only from 16 letters. In prose ("the password is X") the
  value needs two character classes. "password: expired" or "the password is wrong" are chat,
  not leaks; lower-case-only passphrases shorter than 16 letters are therefore missed
  (documented trade-off).
* `user:password@` in a URL is reported unless user == password (product defaults such as
  guest:guest); TSM passwords are reported only with a value (`dsmc set password OLD NEW`,
  `-password=`, `register/update node NAME PW`, a `PASSWORD value` line in dsm.sys/dsm.opt),
  never for `PASSWORDACCESS GENERATE`.
* Pure-hex 40-character strings are never taken for S3 secrets (they are git SHAs and SHA-1
  sums); a real RGW/AWS secret of 40 random base62/base64 characters is mixed-case.

Issue 14 added rules that check a format the way its specification defines it (see "formats
checked by their specification" below): signed-URL query parameters, webhook URL shapes,
password-hash schemes, decoded basic-auth values, JWT headers that decode to JSON with "alg",
private keys inside base64 runs (`LS0t...`), GitHub's CRC32 checksum; and sentence rules for
en/sv/no that want a digit in the value when there is no verb ("password X") and never take a
flag, path, variable or passwd(5) line for a password. Measured on tests/data/credential_corpus2
(TUNE tuned on, CHECK not); `redact(text)` returns the masked text and the kinds.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

from commands.moderation.protections.credentials_keys import (
    _encoded_keys,
    _jwt_header_ok,
    _vendor_tokens,
    _vendor_value,
    github_checksum_ok,
)
from commands.moderation.protections.credentials_patterns import (
    _ACCESS_KEY,
    _APPCRED_SECRET_FLAG,
    _CLOUDS_CONTEXT,
    _DSMC_SET_PASSWORD,
    _EC2_HEADER,
    _EC2_LIST,
    _FERNET,
    _GATE_WORDS,
    _HINTS,
    _JWT,
    _KEYED_RULES,
    _KNOWN_EXAMPLES,
    _KUBE_CONTEXT,
    _PEM,
    _PREFIXED,
    _PRIORITY,
    _PUTTY,
    _S3_ACCESS_HINT,
    _SECRET_40,
    _SECRET_NEAR,
    _TABLE_ADMINPASS,
    _TABLE_EC2,
    _TABLE_SECRET,
    _TABLE_TOKEN,
    _TSM_NODE,
    _TSM_OPTION,
    _UPPER_RUN,
    _URL_CRED,
    MAX_FINDINGS,
    PAIR_DISTANCE,
    Finding,
    Kind,
    _classes,
    _is_access_key,
    _is_s3_secret,
    _looks_like_password,
    _pw,
    _short_pw,
    _tsm_context,
    _user_placeholder,
    _value_span,
    is_placeholder,
)
from commands.moderation.protections.credentials_prose import (
    _basic_auth,
    _password_hashes,
    _prose,
    _short_keys,
)
from commands.moderation.protections.credentials_urls import _presigned, _webhooks


def _keyed_findings(text: str, low: str) -> Iterator[Finding]:
    clouds = None
    tsm = None
    kube = None
    s3_access = None
    for rule in _KEYED_RULES:
        if not any(h in low for h in _HINTS[rule.name]):
            continue
        for m in rule.pattern.finditer(text):
            got = _value_span(m)
            if got is None:
                continue
            value, start, end = got
            if not rule.check(value):
                continue
            kind = rule.kind
            if kind is Kind.PASSWORD:
                if clouds is None:
                    clouds = bool(_CLOUDS_CONTEXT.search(text))
                    tsm = _tsm_context(low)
                if clouds and rule.name == "password-kv":
                    kind = Kind.CLOUDS_YAML
                elif tsm:
                    kind = Kind.TSM_PASSWORD
            elif kind is Kind.S3_SECRET:
                if s3_access is None:
                    s3_access = bool(_S3_ACCESS_HINT.search(text[: m.start()] + text[end:]))
                if s3_access:
                    kind = Kind.S3_PAIR
            elif kind is Kind.KUBE_TOKEN or rule.name == "api-token-key":
                if kube is None:
                    kube = bool(_KUBE_CONTEXT.search(text))
                kind = Kind.KUBE_TOKEN if kube else Kind.BEARER
            yield Finding(kind, start, end, rule.name)


def _structural_findings(text: str, low: str, upper_run: bool) -> Iterator[Finding]:
    if "private key" in low:
        for m in _PEM.finditer(text):
            yield Finding(Kind.PRIVATE_KEY, m.start("body"), m.end("body"), "pem")
    if "PuTTY" in text:
        for m in _PUTTY.finditer(text):
            yield Finding(Kind.PRIVATE_KEY, m.start(), m.end(), "putty")
    if "eyJ" in text:
        for m in _JWT.finditer(text):
            if any(ex in m.group() for ex in _KNOWN_EXAMPLES) or not _jwt_header_ok(m.group()):
                continue
            yield Finding(Kind.JWT, m.start(), m.end(), "jwt")
    for m in _PREFIXED.finditer(text) if "_" in text or "-" in text else ():
        if _vendor_value(m.group()):  # not ghp_xxxx... / glpat-XXXX... from docs
            yield Finding(Kind.BEARER, m.start(), m.end(), "prefixed-token")
    if "gAAAAA" in text:
        for m in _FERNET.finditer(text):
            yield Finding(Kind.OS_TOKEN, m.start(), m.end(), "fernet")
        for m in _TABLE_TOKEN.finditer(text):
            yield Finding(Kind.OS_TOKEN, m.start("v"), m.end("v"), "token-table")
    if "://" in text and "@" in text:
        for m in _URL_CRED.finditer(text):
            pw = m.group("pw")
            user = m.group("user")
            # user == password is a product default (guest:guest, root:root), not a leak
            if (
                len(pw) >= 4
                and pw != user
                and not is_placeholder(pw)
                # user:password@ in docs is a placeholder pair; user:Secr3t%21@ is not
                and (not _user_placeholder(user) or _looks_like_password(unquote(pw), strict=True))
            ):
                yield Finding(Kind.URL_PASSWORD, m.start("pw"), m.end("pw"), "url-userinfo")
    if "|" in text:
        for m in _TABLE_ADMINPASS.finditer(text) if "pass" in low else ():
            if _looks_like_password(m.group("v"), strict=False):
                yield Finding(Kind.PASSWORD, m.start("v"), m.end("v"), "adminpass-table")
        ec2 = bool(_TABLE_EC2.search(text))
        for m in _TABLE_SECRET.finditer(text):
            v = m.group("v")
            if is_placeholder(v):
                continue
            kind = Kind.S3_PAIR if ec2 else Kind.APP_CRED
            yield Finding(kind, m.start("v"), m.end("v"), "secret-table")
        for m in _EC2_LIST.finditer(text) if _EC2_HEADER.search(text) else ():
            yield Finding(Kind.S3_PAIR, m.start("sk"), m.end("sk"), "ec2-list")
    if upper_run:
        yield from _pairs(text)
    for m in _SECRET_NEAR.finditer(text) if "secret" in low else ():
        if _is_s3_secret(m.group("sk")):
            yield Finding(Kind.S3_SECRET, m.start("sk"), m.end("sk"), "secret-near")


def _pairs(text: str) -> Iterator[Finding]:
    ends = [m.end() for m in _ACCESS_KEY.finditer(text) if _is_access_key(m.group())]
    if not ends:
        return
    for m in _SECRET_40.finditer(text):
        i = bisect.bisect_right(ends, m.start()) - 1  # the nearest access key before it
        if i >= 0 and m.start() - ends[i] <= PAIR_DISTANCE and _is_s3_secret(m.group()):
            yield Finding(Kind.S3_PAIR, m.start(), m.end(), "s3-pair")


def _appcred_and_tsm(text: str, low: str) -> Iterator[Finding]:
    if "application credential create" in low:
        for m in _APPCRED_SECRET_FLAG.finditer(text):
            got = _value_span(m)
            if got and _pw(got[0]):
                yield Finding(Kind.APP_CRED, got[1], got[2], "appcred-create-secret")
    if "dsmc" in low:
        for m in _DSMC_SET_PASSWORD.finditer(text):
            for g in ("old", "new"):
                if _short_pw(m.group(g)):
                    yield Finding(Kind.TSM_PASSWORD, m.start(g), m.end(g), "dsmc-set-password")
    if "node" in low:
        for m in _TSM_NODE.finditer(text):
            if _short_pw(m.group("v")) and _classes(m.group("v")) >= 2:
                yield Finding(Kind.TSM_PASSWORD, m.start("v"), m.end("v"), "tsm-node")
    if "password" in low and _tsm_context(low):
        for m in _TSM_OPTION.finditer(text):
            if _short_pw(m.group("v")) and _classes(m.group("v")) >= 2:
                yield Finding(Kind.TSM_PASSWORD, m.start("v"), m.end("v"), "tsm-option")


def _format_findings(text: str, low: str) -> Iterator[Finding]:
    if "://" in text:
        if ("?" in text and "sig" in low) or "token=" in low:
            yield from _presigned(text)
        if "hook" in low:
            yield from _webhooks(text)
    yield from _password_hashes(text, low)
    yield from _basic_auth(text, low)
    yield from _prose(text, low)
    if "pass" in low or "pw" in low or "secret" in low or "senord" in low:
        yield from _short_keys(text, low)
    if "LS0t" in text or "UHVUVFkt" in text or "b3BlbnNzaC1rZXktdjE" in text:
        yield from _encoded_keys(text)
    yield from _vendor_tokens(text)


def _dedupe(findings: list[Finding]) -> list[Finding]:
    """Drop findings that overlap a more specific (or earlier, equally specific) one."""
    findings.sort(key=lambda f: (_PRIORITY[f.kind], f.start))
    kept: list[Finding] = []
    for f in findings:
        if all(f.end <= k.start or f.start >= k.end for k in kept):
            kept.append(f)
    kept.sort(key=lambda f: f.start)
    return kept


def find_secrets(text: str) -> list[Finding]:
    """Every credential in `text`, most specific kind per span, in order of position."""
    if not text:
        return []
    low = text.lower()
    upper_run = _UPPER_RUN.search(text) is not None
    if not upper_run and "://" not in text and not any(w in low for w in _GATE_WORDS):
        return []
    findings = list(
        itertools.islice(
            itertools.chain(
                _structural_findings(text, low, upper_run),
                _keyed_findings(text, low),
                _appcred_and_tsm(text, low),
                _format_findings(text, low),
            ),
            MAX_FINDINGS,
        )
    )
    if not findings:
        return []
    return _dedupe(_in_context(text, low, findings))


_CONTEXT_RULES = frozenset(
    {"prose-is", "prose-set", "prose-direct", "short-key", "cli-password-flag"}
)


def _in_context(text: str, low: str, findings: list[Finding]) -> list[Finding]:
    """Passwords found by the sentence/short-key rules take the kind their context names."""
    if not any(f.rule in _CONTEXT_RULES for f in findings):
        return findings
    tsm = _tsm_context(low)
    clouds = bool(_CLOUDS_CONTEXT.search(text))
    out = []
    for f in findings:
        if f.rule in _CONTEXT_RULES and (tsm or clouds):
            f = Finding(Kind.TSM_PASSWORD if tsm else Kind.CLOUDS_YAML, f.start, f.end, f.rule)
        out.append(f)
    return out


def kinds(findings: list[Finding]) -> list[Kind]:
    """Distinct kinds, in order of first appearance, for messages to humans."""
    seen: dict[Kind, None] = {}
    for f in findings:
        seen.setdefault(f.kind, None)
    return list(seen)


def mask(text: str, findings: list[Finding], replacement: str = "[REDACTED]") -> str:
    """`text` with every finding's span replaced; safe to log once masked."""
    out: list[str] = []
    pos = 0
    for f in sorted(findings, key=lambda f: f.start):
        if f.start < pos:
            continue
        out.append(text[pos : f.start])
        out.append(replacement)
        pos = f.end
    out.append(text[pos:])
    return "".join(out)


def redact(text: str, replacement: str = "[REDACTED]") -> tuple[str, list[Kind]]:
    """`text` with every found value replaced, and the kinds found (empty: nothing replaced)."""
    found = find_secrets(text)
    if not found:
        return text, []
    return mask(text, found, replacement), kinds(found)


def redact_text(text: str) -> str:
    """Just the redacted text (for log filters and other str -> str hooks)."""
    return redact(text)[0]


# --- attachments ---------------------------------------------------------------------------------

MAX_ATTACHMENT_BYTES = 1_048_576  # scanned from the start; a bigger file is scanned up to here
_SNIFF_BYTES = 8192
_TEXT_TYPES = (
    "application/json", "application/yaml", "application/x-yaml", "application/toml",
    "application/x-sh", "application/x-shellscript", "application/xml", "application/x-pem-file",
    "application/x-ndjson", "application/javascript", "application/x-python", "application/sql",
)  # fmt: skip
# Binary containers whose whole point is a private key: the file is the secret.
_KEY_CONTAINERS = (".p12", ".pfx", ".jks", ".keystore", ".kdbx", ".gpg-key")


@dataclass(frozen=True, slots=True)
class AttachmentScan:
    """What scanning a file found. Like `Finding`, it never holds any of the file's content."""

    scanned: bool  # False: not text (or empty), nothing read
    truncated: bool  # True: only the first `limit` bytes were scanned
    findings: tuple[Finding, ...]
    reason: str  # why it was (not) scanned, for logs: "text/plain", "binary", ...

    @property
    def flagged(self) -> bool:
        return bool(self.findings)


def _decode_text(head: bytes) -> str | None:
    """The bytes as text when they look like text: no NUL, UTF-8 (or UTF-16 with a BOM)."""
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return head.decode("utf-16")
        except UnicodeDecodeError:
            return None
    if b"\x00" in head[:_SNIFF_BYTES]:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start >= len(head) - 3:  # a multi-byte character cut by the size limit
            return head[: exc.start].decode("utf-8", "replace")
        return None


def scan_attachment(
    data: bytes,
    filename: str = "",
    content_type: str | None = None,
    *,
    limit: int = MAX_ATTACHMENT_BYTES,
) -> AttachmentScan:
    """Scan an uploaded file the way a message is scanned, when it is text.

    Text is decided by sniffing the bytes (no NUL in the first 8 KB and valid UTF-8, or UTF-16
    with a BOM), whatever the client declared: clients label `clouds.yaml`, `.env` or a
    kubeconfig `application/octet-stream` as often as `text/plain`. Files above `limit` are
    scanned up to it (a pasted config's secret is near the top). Key containers (.p12, .pfx,
    .jks) are binary but are the secret by definition.
    """
    name = filename.lower()
    ctype = (content_type or "").split(";", 1)[0].strip().lower()
    if not data:
        return AttachmentScan(False, False, (), "empty")
    if name.endswith(_KEY_CONTAINERS) or ctype in ("application/x-pkcs12", "application/pkcs12"):
        whole = Finding(Kind.PRIVATE_KEY, 0, 0, "key-container-file")
        return AttachmentScan(True, False, (whole,), "key container")
    head = data[:limit]
    text = _decode_text(head)
    if text is None:
        return AttachmentScan(False, False, (), "binary")
    declared = ctype.startswith("text/") or ctype in _TEXT_TYPES
    reason = ctype if declared else "sniffed text"
    return AttachmentScan(True, len(data) > limit, tuple(find_secrets(text)), reason)


__all__ = [
    "MAX_ATTACHMENT_BYTES",
    "AttachmentScan",
    "Finding",
    "Kind",
    "find_secrets",
    "github_checksum_ok",
    "is_placeholder",
    "kinds",
    "mask",
    "redact",
    "redact_text",
    "scan_attachment",
]
