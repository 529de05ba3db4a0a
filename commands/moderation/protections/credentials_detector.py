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

import base64
import binascii
import bisect
import itertools
import json
import math
import re
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import unquote


class Kind(StrEnum):
    """What was found, as told to the sender and the staff room."""

    S3_PAIR = "S3 access/secret key pair"
    S3_SECRET = "S3 secret key"
    APP_CRED = "OpenStack application credential secret"
    OS_PASSWORD = "OS_PASSWORD line"
    OS_TOKEN = "OpenStack auth token"
    CLOUDS_YAML = "clouds.yaml password"
    PRIVATE_KEY = "private key (PEM/OpenSSH)"
    JWT = "JWT"
    BEARER = "bearer token"
    KUBE_TOKEN = "kubeconfig token"
    KUBE_CLIENT_KEY = "kubeconfig client key"
    PASSWORD = "password line"
    URL_PASSWORD = "password in URL"
    TSM_PASSWORD = "TSM/backup password"
    PRESIGNED_URL = "presigned object URL (S3/Swift)"
    PASSWORD_HASH = "password hash (htpasswd/crypt)"
    WEBHOOK_URL = "chat webhook URL"


@dataclass(frozen=True, slots=True)
class Finding:
    """One credential found in a message. Holds no part of the value, by construction."""

    kind: Kind
    start: int
    end: int
    rule: str

    @property
    def span(self) -> tuple[int, int]:
        return (self.start, self.end)

    def __repr__(self) -> str:
        span = f"({self.start}, {self.end})"
        return f"Finding(kind={self.kind.value!r}, span={span}, rule={self.rule!r})"

    __str__ = __repr__


# --- value checks -----------------------------------------------------------------------------

_PLACEHOLDER_WORDS = frozenset(
    """
    password passwd pass passw0rd secret secretkey changeme changeit yourpassword mypassword
    mysecret mysecretpassword secretpassword yoursecret yoursecretkey secret_key access_key
    accesskey redacted hidden omitted removed masked censored none null nil true false yes no
    required optional string str empty unset notset todo tbd fixme dummy test testing foobar foo
    bar hunter2 letmein qwerty admin token yourtoken mytoken apikey value prompt generate ask
    default undefined xxx abc123 password123 s3cr3t topsecret supersecret env environment
    keyring vault guest abcdef.0123456789abcdef
    """.split()  # the last one is kubeadm's documented bootstrap token
)
_PLACEHOLDER_FRAGMENTS = (
    "example",
    "placeholder",
    "redact",
    "your",
    "omitted",
    "replace",
    "goeshere",
    "changeme",
    "insert",
    "<",
    ">",
)
_PLACEHOLDER_ENDINGS = ("here", "her", "här")
# A value made of several words, one of them naming what it stands for, is a description.
_NAMING_WORDS = frozenset(
    """password passwd passord lösenord losenord passordet lösenordet secret hemlig hemligt
    token key apikey credential credentials ditt din mitt your my here her här""".split()
)
_DUMMY_STEMS = frozenset(
    """password passwd passw0rd secret changeme changeit supersecret topsecret mysecret
    mypassword yourpassword secretpassword mysecretpassword example sample dummy placeholder
    foobar""".split()
)
_CAMEL = re.compile(r"[A-Z][a-z]+")  # SecurePassword123, ChangeMeStrongPassword
_REPEATED = re.compile(r"^(.)\1+$|^[*.#xX_-]+$|^[*]{3,}|[*]{3,}$")
_SHELL_VAR = re.compile(r"\$[A-Za-z_][A-Za-z0-9_]*")
_REFERENCE = re.compile(
    r"""^(?:\$\{|\$\(|%\(|\(|\{\{|\{%|\{|\[|@|!vault|vault:|env:|file:|secret:|ref\+|lookup\(|os\.environ|
    getenv|ENV\[|process\.env|var\.|local\.|data\.|module\.|/|~/|\./|\.\./|[A-Za-z]:\\)""",
    re.VERBOSE,
)
_CONST_NAME = re.compile(r"[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+")
# kebab/snake/dotted lower-case names (s3-backup-secret, velero.credentials) name a secret,
# they are not one.
_IDENTIFIER = re.compile(r"[a-z][a-z0-9]*(?:[-_.][a-z][a-z0-9]*)+")
_BOOTSTRAP = re.compile(r"[a-z0-9]{6}\.[a-z0-9]{16}")  # kubeadm bootstrap token
_WORDLIKE = re.compile(r"^[a-z]+$|^[A-Z][a-z]+$")


def _classes(s: str) -> int:
    lower = upper = digit = other = 0
    for ch in s:
        if ch.islower():
            lower = 1
        elif ch.isupper():
            upper = 1
        elif ch.isdigit():
            digit = 1
        else:
            other = 1
    return lower + upper + digit + other


def _entropy(s: str) -> float:
    """Shannon entropy in bits per character."""
    if not s:
        return 0.0
    counts: dict[str, int] = {}
    for ch in s:
        counts[ch] = counts.get(ch, 0) + 1
    n = len(s)
    return -sum(c / n * math.log2(c / n) for c in counts.values())


def is_placeholder(value: str) -> bool:
    """True for template values, references and dummies that reveal nothing."""
    v = value.strip().strip("\"'`").strip()
    if not v:
        return True
    low = v.lower()
    if low in _PLACEHOLDER_WORDS or low.strip("_-.!") in _PLACEHOLDER_WORDS:
        return True
    if _REPEATED.search(v) or _REFERENCE.match(v) or _SHELL_VAR.fullmatch(v):
        return True
    if any(f in low for f in _PLACEHOLDER_FRAGMENTS):
        return True
    if v.startswith(("**", "ENC[", "vault:", "sops:", "!!")) or low.endswith(_PLACEHOLDER_ENDINGS):
        return True  # markdown emphasis in docs, sops/vault-encrypted values, "...KeyHere"
    if low.rstrip("0123456789!.#") in _DUMMY_STEMS:
        return True  # supersecret123, password1!, changeme2 (but Qwerty!2024 is a password)
    words = [w for w in re.split(r"[\s_.-]+", low) if w]
    camel = [w.lower() for w in _CAMEL.findall(v)]
    if len(camel) >= 2 and any(w in _NAMING_WORDS for w in camel):
        return True  # SecurePassword123, ChangeMeStrongPassword
    if len(words) >= 2 and any(w in _NAMING_WORDS for w in words):
        return True  # "cloutility password", ditt-passord-her, my_api_token
    # <...>-style and ALL_CAPS_WITH_UNDERSCORES placeholders such as YOUR_SECRET or S3_SECRET_KEY
    # PowerShell `$pw = ConvertTo-SecureString ...` assigns a cmdlet's output, not a literal
    return bool(_CONST_NAME.fullmatch(v) or _CMDLET.fullmatch(v))


_CMDLET = re.compile(r"(?:Get|Set|New|ConvertTo|ConvertFrom|Read|Invoke)-[A-Z][A-Za-z]+")


def _looks_like_password(value: str, *, strict: bool) -> bool:
    """A password rather than a word. `strict` for prose ("the password is ...")."""
    v = value.strip("\"'`")
    core = v.rstrip(".,:;!?)")  # prose punctuation after a word is not part of a password
    if is_placeholder(core) or len(core) < 6 or len(v) > 200:
        return False
    if _WORDLIKE.match(core):
        return not strict and len(core) >= 16
    if strict:
        return _classes(core) >= 2
    return _classes(core) >= 2 or len(core) >= 12


def _looks_like_token(value: str, min_len: int = 16) -> bool:
    """An opaque machine token: long, varied, not a placeholder, not pure hex digits of a hash."""
    v = value.strip("\"'`")
    if len(v) < min_len or is_placeholder(v):
        return False
    if _IDENTIFIER.fullmatch(v) and not _BOOTSTRAP.fullmatch(v):
        return False
    return _classes(v) >= 2 and _entropy(v) >= 3.0


def _is_s3_secret(value: str) -> bool:
    """40 chars of base62/base64 with mixed case and digits (never pure hex: git SHA, SHA-1)."""
    if len(value) != 40 or is_placeholder(value):
        return False
    has_lower = any(c.islower() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_digit = any(c.isdigit() for c in value)
    return has_lower and has_upper and has_digit and _entropy(value) >= 4.0


def _is_access_key(value: str) -> bool:
    return (
        len(value) == 20
        and any(c.isdigit() for c in value)
        and any(c.isalpha() for c in value)
        and not is_placeholder(value)
        and _entropy(value) >= 3.2
    )


# --- the rules --------------------------------------------------------------------------------

# A value after `key: ` / `key = `: quoted (spaces allowed) or bare up to a delimiter.
_VAL = r"""(?:"(?P<dq>[^"\n]{1,300})"|'(?P<sq>[^'\n]{1,300})'|(?P<bare>[^\s"',;}\]\)]{1,300}))"""
_SEP = r"""["']?[ \t]*[:=][ \t]*"""


def _value_span(m: re.Match[str]) -> tuple[str, int, int] | None:
    for g in ("dq", "sq", "bare"):
        if m.group(g) is not None:
            return m.group(g), m.start(g), m.end(g)
    return None


Check = Callable[[str], bool]


@dataclass(frozen=True, slots=True)
class _KeyedRule:
    """key=value shaped: the regex has a value group (_VAL); `check` judges the value."""

    name: str
    kind: Kind
    pattern: re.Pattern[str]
    check: Check


def _keyed(name: str, kind: Kind, key: str, check: Check, flags: int = re.I) -> _KeyedRule:
    return _KeyedRule(name, kind, re.compile(key + _VAL, flags), check)


_S3_SECRET_KEY = (
    r"""(?<![A-Za-z])(?:aws_secret_access_key|secret[ _-]?access[ _-]?key(?:[ _-]?id)?|"""
    r"""s3[ _-]?secret(?:[ _-]?key)?|rgw[ _-]?secret(?:[ _-]?key)?|secret[ _-]?key|secretkey)"""
    r"""(?:\s*\[[^\]\n]{0,20}\])?"""  # aws configure's prompt: `Secret Access Key [None]:`
)
_S3_ACCESS_HINT = re.compile(
    r"(?i)access[ _-]?key|\"access\"|\bAKIA[0-9A-Z]{16}\b|(?<![A-Za-z0-9])[A-Z0-9]{20}(?![A-Za-z0-9])"
)


def _s3_value(v: str) -> bool:
    return _looks_like_token(v)


def _pw(v: str) -> bool:
    return _looks_like_password(v, strict=False)


def _pw_strict(v: str) -> bool:
    return _looks_like_password(v, strict=True)


def _token(v: str) -> bool:
    return _looks_like_token(v)


def _basic(v: str) -> bool:
    # base64 of user:password; anything long enough that is not a template counts
    return (
        len(v) >= 8
        and not is_placeholder(v)
        and re.fullmatch(r"[A-Za-z0-9+/]+={0,2}", v) is not None
    )


def _short_pw(v: str) -> bool:
    # TSM passwords are short (8 chars by default on many servers) and often single-class.
    v = v.strip("\"'`")
    return len(v) >= 4 and not is_placeholder(v) and not v.startswith("-") and "=" not in v


# Key names that end in "password" but hold something else (a path, a policy, a flag).
_PW_KEY = (
    # The key must END in the word (so password_file, PASSWORDACCESS, min_password_length never
    # match); any prefix is allowed (db_password, MYSQL_ROOT_PASSWORD), so it is not matched.
    r"""(?:password|passwd|passphrase|pwd)(?![A-Za-z0-9_])"""
)

_KEYED_RULES: tuple[_KeyedRule, ...] = (
    _keyed(
        "appcred-key",
        Kind.APP_CRED,
        r"(?<![A-Za-z])(?:os[_-])?application[_-]credential[_-]secret" + _SEP,
        _pw,
    ),
    _keyed(
        "appcred-flag",
        Kind.APP_CRED,
        r"--(?:os-)?application-credential-secret(?:=|\s+)",
        _pw,
    ),
    _keyed("os-password-env", Kind.OS_PASSWORD, r"""\bOS_PASSWORD["']?[ \t]*[:=][ \t]*""", _pw, 0),
    _keyed("os-password-flag", Kind.OS_PASSWORD, r"--os-password(?:=|\s+)", _pw),
    _keyed("os-token-env", Kind.OS_TOKEN, r"\bOS_(?:AUTH_)?TOKEN\s*=\s*", _token, 0),
    _keyed("os-token-flag", Kind.OS_TOKEN, r"--os-(?:auth-)?token(?:=|\s+)", _token),
    _keyed("x-auth-token", Kind.OS_TOKEN, r"\bX-(?:Auth|Subject)-Token\s*:\s*", _token),
    _keyed("s3-secret", Kind.S3_SECRET, _S3_SECRET_KEY + _SEP, _s3_value),
    _keyed("s3-secret-flag", Kind.S3_SECRET, r"--secret[_-]key(?:=|\s+)", _s3_value),
    _keyed(
        "kube-client-key",
        Kind.KUBE_CLIENT_KEY,
        r"\bclient-key-data\s*:\s*",
        lambda v: len(v) >= 40 and not is_placeholder(v),
    ),
    _keyed(
        "kube-token-yaml",
        Kind.KUBE_TOKEN,
        r"^[ \t-]*(?:\"token\"|token)[ \t]*:[ \t]*",
        _token,
        re.I | re.M,
    ),
    _keyed("kube-token-flag", Kind.KUBE_TOKEN, r"(?<![\w-])--token(?:=|\s+)", _token),
    _keyed(
        "api-token-key",
        Kind.BEARER,
        r"(?<![A-Za-z])(?:(?:access|refresh|id|auth|bearer|private|api|personal[_-]?access)"
        r"[_-]?token|api[_-]?key)" + _SEP,
        _token,
    ),
    _keyed("authorization-bearer", Kind.BEARER, r"\bbearer\s+", _token),
    _keyed("authorization-basic", Kind.PASSWORD, r"\bAuthorization:\s*Basic\s+", _basic),
    _keyed("docker-auth", Kind.PASSWORD, r"\"auth\"\s*:\s*(?=\")", _basic),
    _keyed(
        "env-token",
        Kind.BEARER,
        r"\b[A-Z][A-Z0-9_]*_(?:TOKEN|SECRET|API_?KEY|SECRET_?KEY|PAT)[\"']?[ \t]*[:=][ \t]*",
        _token,
        0,
    ),
    _keyed("json-secret", Kind.S3_SECRET, r"\"secret\"\s*:\s*(?=\")", _token),
    _keyed(
        "tsm-password-flag",
        Kind.TSM_PASSWORD,
        r"\bdsm(?:c|admc|j)?\b[^\n]{0,200}?\s-(?:password|pa)=",
        _short_pw,
    ),
    _keyed("password-kv", Kind.PASSWORD, _PW_KEY + r"""["']?[ \t]*(?::=|=>|:|=)[ \t]*""", _pw),
    _keyed("password-flag", Kind.PASSWORD, r"(?<![\w-])--?(?:password|passwd|pass)(?:=|\s+)", _pw),
    _keyed(
        "password-prose",
        Kind.PASSWORD,
        r"\b(?:password|passwd|passphrase|pw|lösenord(?:et)?)(?:\s+(?:for|of|till)\s+\S+)?"
        r"\s+(?:is now|is|was|=|är)\s+",
        _pw_strict,
    ),
)

_PEM = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP |ED25519 )?PRIVATE KEY(?: BLOCK)?)-----"
    r"(?P<body>(?:\s*[A-Za-z-]+:[^\n]*\n)*\s*[A-Za-z0-9+/=\s]{40,})",
)
_PUTTY = re.compile(
    r"PuTTY-User-Key-File-\d:[^\n]*\n(?:.*\n)*?Private-Lines:\s*\d+\s*\n[A-Za-z0-9+/=]{20,}"
)
# Signatures of tokens printed in public docs (jwt.io's sample): documentation, not leaks.
_KNOWN_EXAMPLES = ("SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c",)
_JWT = re.compile(
    r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{16,}"
)
# Token formats with a vendor prefix: GitLab, GitHub, Slack, Matrix (Synapse) access tokens.
_PREFIXED = re.compile(
    r"(?<![A-Za-z0-9_-])(?:glpat-[A-Za-z0-9_-]{20,}|gh[pousr]_[A-Za-z0-9]{36,}|"
    r"github_pat_[A-Za-z0-9_]{40,}|xox[abpr]-[A-Za-z0-9-]{20,}|syt_[A-Za-z0-9_-]{20,})"
)
_FERNET = re.compile(r"(?<![A-Za-z0-9_-])gAAAAAB[A-Za-z0-9_-]{80,}={0,2}")
# The password runs to the last `@` before the host (a raw `@` in a password is common).
_URL_CRED = re.compile(
    r"\b[a-z][a-z0-9+.-]{1,20}://(?P<user>[^\s:/@]{0,64}):(?P<pw>[^\s/]{1,128})@[\w.-]+", re.I
)
_USER_PLACEHOLDERS = frozenset({"user", "username", "usr", "login", "name", "myuser", "youruser"})


def _user_placeholder(user: str) -> bool:
    low = user.lower()
    return (
        low in _USER_PLACEHOLDERS
        or bool(_REFERENCE.match(user) or _SHELL_VAR.fullmatch(user))
        or ("<" in user or "your" in low or "example" in low or bool(_REPEATED.search(user)))
    )


# An S3 pair without key names: a 20-char access key, then a 40-char secret shortly after.
# Two linear scans paired by position (one regex spanning both backtracks badly on logs full
# of upper-case tokens).
_ACCESS_KEY = re.compile(r"(?<![A-Za-z0-9/+])[A-Z0-9]{20}(?![A-Za-z0-9/+])")
_SECRET_40 = re.compile(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])")
PAIR_DISTANCE = 240
MAX_FINDINGS = 100  # enough to know a message must go; bounds the work on pathological input
_SECRET_NEAR = re.compile(
    r"(?i)\bsecret\b[^\n]{0,40}?(?<![A-Za-z0-9/+=])(?P<sk>[A-Za-z0-9/+]{40})(?![A-Za-z0-9/+=])"
)
# `| secret | ... |` rows of `openstack application credential create` / `ec2 credentials`.
_TABLE_SECRET = re.compile(r"(?im)^\|\s*secret\s*\|\s*(?P<v>\S{16,})\s*\|")
# `openstack server create` prints the new VM's admin password (Windows images, or with
# --admin-pass) as `| adminPass | ... |`.
_TABLE_ADMINPASS = re.compile(
    r"(?im)^\|\s*(?:adminPass|admin_pass(?:word)?|password|passwd)\s*\|\s*(?P<v>\S+)\s*\|"
)
_TABLE_TOKEN = re.compile(r"(?im)^\|\s*id\s*\|\s*(?P<v>gAAAAA\S{40,})\s*\|")
_TABLE_EC2 = re.compile(r"(?im)^\|\s*access\s*\|")
_EC2_LIST = re.compile(r"(?im)^\|\s*(?P<ak>[0-9a-f]{32})\s*\|\s*(?P<sk>[0-9a-f]{32})\s*\|")
_APPCRED_SECRET_FLAG = re.compile(
    r"(?i)application credential create\b[^\n]*?\s--secret(?:=|\s+)" + _VAL
)
_DSMC_SET_PASSWORD = re.compile(
    r"(?i)\bdsmc\s+set\s+password\s+(?:-type=\S+\s+)?(?P<old>[^\s#-]\S*)\s+(?P<new>[^\s#-]\S*)"
)
_EC2_HEADER = re.compile(r"(?i)\|\s*Access\s*\|\s*Secret\s*\|")
_TSM_NODE = re.compile(r"(?i)\b(?:register|update)\s+node\s+\S+\s+(?P<v>[^\s=]+)(?=\s|$)")
_TSM_OPTION = re.compile(r"(?im)^\s*PASSWORD\s+(?P<v>\S+)\s*$")
_TSM_WORDS = (
    "dsm", "tsm", "spectrum protect", "nodename", "tcpserveraddress", "cloutility",
    "node password", "backup client", "backup node", "backup server", "backup-client",
)  # fmt: skip


def _tsm_context(low: str) -> bool:
    return any(w in low for w in _TSM_WORDS)


_CLOUDS_CONTEXT = re.compile(r"(?i)\bclouds:|\bauth_url\b|clouds\.yaml|\bauth:\s*$", re.M)
_KUBE_CONTEXT = re.compile(
    r"(?i)kubeconfig|kubectl|kubeadm|\bclusters:|\busers:|\bcontexts:|apiVersion|serviceaccount"
)

# Cheap gate: a message with none of these cannot match any rule, so skip them all. Plain
# substring tests on the lower-cased text are far cheaper than one case-insensitive regex.
_GATE_WORDS = (
    "pass", "secret", "key", "token", "bearer", "eyj", "private", "putty", "gaaaaa", "dsm",
    "pwd", "lösenord", "auth", "node", "adminpass", "glpat-", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
    "github_pat_", "xox", "syt_", "pw", "pasw", "$2", "$apr1$", "$1$", "$5$", "$6$", "$y$", "{ss", "{sha",
    "ls0t", "uhvuvfkt", "b3blbnnz", "senord", "løsen", "lösen", "passord", "kodeord", "adgangskode",
    "salasana", "-u ", "-u=", "--user", "sk-", "sk_live_", "rk_live_", "npm_", "pypi-", "dckr_pat_",
    "hvs.", "hvb.", "aiza", "sg.", "glrt-", "gldt-", "glptt-", "glsoat-", "glcbt-", "glimt-",
    "gloas-", "glft-", "gr1348941", "glc_", "xapp-", "-p", "accountkey", "sharedaccesskey",
)  # fmt: skip
_UPPER_RUN = re.compile(r"[A-Z0-9]{16}")

# Which lower-case substrings a keyed rule needs before its regex is worth running.
_HINTS: dict[str, tuple[str, ...]] = {
    "appcred-key": ("application",),
    "appcred-flag": ("application-credential-secret",),
    "os-password-env": ("os_password",),
    "os-password-flag": ("--os-password",),
    "os-token-env": ("token",),
    "os-token-flag": ("--os-",),
    "x-auth-token": ("-token",),
    "s3-secret": ("secret",),
    "s3-secret-flag": ("--secret",),
    "kube-client-key": ("client-key-data",),
    "kube-token-yaml": ("token",),
    "kube-token-flag": ("--token",),
    "api-token-key": ("token", "api"),
    "authorization-bearer": ("bearer",),
    "authorization-basic": ("basic",),
    "docker-auth": ('"auth"',),
    "env-token": ("token", "secret", "key", "pat"),
    "json-secret": ('"secret"',),
    "tsm-password-flag": ("dsm",),
    "password-kv": ("pass", "pwd"),
    "password-flag": ("-pass",),
    "password-prose": ("pass", "pw", "lösenord"),
}

# Priority when two findings overlap: the more specific kind wins.
_PRIORITY: dict[Kind, int] = {
    k: i
    for i, k in enumerate(
        (
            Kind.PRIVATE_KEY,
            Kind.PRESIGNED_URL,
            Kind.WEBHOOK_URL,
            Kind.KUBE_CLIENT_KEY,
            Kind.APP_CRED,
            Kind.S3_PAIR,
            Kind.S3_SECRET,
            Kind.OS_PASSWORD,
            Kind.CLOUDS_YAML,
            Kind.TSM_PASSWORD,
            Kind.KUBE_TOKEN,
            Kind.OS_TOKEN,
            Kind.BEARER,
            Kind.JWT,
            Kind.URL_PASSWORD,
            Kind.PASSWORD_HASH,
            Kind.PASSWORD,
        )
    )
}


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
_CRYPT_CHARS = r"[./0-9A-Za-z]"
_HASHED = re.compile(
    rf"(?<![\w$])(?:\$apr1\${_CRYPT_CHARS}{{1,8}}\${_CRYPT_CHARS}{{22}}"
    rf"|\$1\${_CRYPT_CHARS}{{1,8}}\${_CRYPT_CHARS}{{22}}"
    rf"|\$2[abxy]?\$\d{{2}}\${_CRYPT_CHARS}{{53}}"
    rf"|\$[56]\$(?:rounds=\d+\$)?{_CRYPT_CHARS}{{1,16}}\${_CRYPT_CHARS}{{43,86}}"
    rf"|\$y\${_CRYPT_CHARS}+\${_CRYPT_CHARS}{{1,86}}\${_CRYPT_CHARS}{{43}}"
    r"|\{S?SHA\}[A-Za-z0-9+/]{27,}={0,2})"
    rf"(?!{_CRYPT_CHARS})"
)
# `user:` + 13 crypt characters, a whole line: old DES crypt in an htpasswd file.
_DES_LINE = re.compile(rf"(?m)^[ \t]*[\w.@-]{{1,64}}:(?P<h>{_CRYPT_CHARS}{{13}})[ \t]*$")


def _password_hashes(text: str, low: str) -> Iterator[Finding]:
    found = False
    if "$" in text or "{ssh" in low or "{sha" in low:
        for m in _HASHED.finditer(text):
            body = m.group().rsplit("$", 1)[-1].rsplit("}", 1)[-1]
            if _REPEATED.search(body) or _classes(body) < 2:
                continue
            found = True
            yield Finding(Kind.PASSWORD_HASH, m.start(), m.end(), "password-hash")
    if found or "htpasswd" in low or "authuserfile" in low:
        for m in _DES_LINE.finditer(text):
            h = m.group("h")
            if _classes(h) >= 3 and not is_placeholder(h):
                yield Finding(Kind.PASSWORD_HASH, m.start("h"), m.end("h"), "des-crypt")


# Basic auth typed on a command line: curl -u/--user, wget/--http-password, -p for mysql-ish.
_CLI_USERPASS = re.compile(
    r"""(?<![\w-])(?:-u|--user|--proxy-user)(?:=|[ \t]+)["']?(?P<user>[^\s:"']{1,64}):(?P<pw>[^\s"']{1,200})"""
)
_CLI_PASSFLAG = re.compile(
    r"""(?<![\w])--(?:http-|proxy-|ftp-)?(?:password|passwd)(?:=|[ \t]+)"""
    r"""(?:"(?P<dq>[^"\n]{1,200})"|'(?P<sq>[^'\n]{1,200})'|(?P<bare>[^\s"']{1,200}))"""
)
# `mysql -uroot -pS3cret` (no space: with a space, -p prompts), `sshpass -p X`, `docker login -p X`.
_DASH_P = re.compile(
    r"""(?<![\w-])(?:-p(?P<glued>[^\s'"-][^\s'"]{3,})|-p["'](?P<q>[^'"\n]{4,})["'])"""
)
_SPACED_P = re.compile(
    r"""(?:\bsshpass|\bdocker\s+login\b[^\n]*?|\bpodman\s+login\b[^\n]*?|\bhelm\s+registry\s+login\b[^\n]*?)"""
    r"""\s-p[ \t]+(?:"(?P<dq>[^"\n]{1,200})"|'(?P<sq>[^'\n]{1,200})'|(?P<bare>[^\s"']{1,200}))"""
)
# Azure storage / Service Bus connection strings.
_ACCOUNT_KEY = re.compile(r"(?i)\b(?:AccountKey|SharedAccessKey)=(?P<v>[A-Za-z0-9+/]{20,}={0,2})")
# ~/.pgpass: hostname:port:database:username:password
_PGPASS = re.compile(r"(?m)^[ \t]*[\w.*-]+:(?:\d+|\*):[\w*-]+:[\w.@*-]+:(?P<v>[^\s:]{4,})[ \t]*$")
_BASIC_HEADER = re.compile(
    r"""(?i)\bAuthorization["']?[ \t]*[:=][ \t]*["']?Basic[ \t]+(?P<v>[A-Za-z0-9+/]{8,}={0,2})"""
)


def _basic_value(v: str) -> bool:
    """base64 of `user:password` with a real password (or, undecodable, long and varied)."""
    if is_placeholder(v):
        return False
    try:
        raw = base64.b64decode(v + "=" * (-len(v) % 4), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return len(v) >= 16 and _entropy(v) >= 3.5
    user, sep, pw = raw.partition(":")
    if not sep:
        return len(v) >= 16 and _entropy(v) >= 3.5
    return bool(pw) and pw != user and not is_placeholder(pw)


def _cli_password(v: str) -> bool:
    v = v.strip("\"'")
    return len(v) >= 4 and not is_placeholder(v) and not v.startswith(("-", "$", "/", "~"))


def _basic_auth(text: str, low: str) -> Iterator[Finding]:
    if "-u" in text or "--user" in low:
        http = any(w in low for w in ("curl", "wget", "http", "--user"))
        for m in _CLI_USERPASS.finditer(text):
            user, pw = m.group("user"), m.group("pw")
            if pw == user or (pw.isdigit() and user.isdigit()) or _user_placeholder(user):
                continue  # docker -u 1000:1000, -u www-data:www-data
            if _cli_password(pw) and (http or _looks_like_password(pw, strict=False)):
                yield Finding(Kind.PASSWORD, m.start("pw"), m.end("pw"), "cli-userpass")
    if "--" in text and "pass" in low:
        for m in _CLI_PASSFLAG.finditer(text):
            got = _value_span(m)
            if got and _cli_password(got[0]) and got[0] != "stdin":
                yield Finding(Kind.PASSWORD, got[1], got[2], "cli-password-flag")
    if ("mysql" in low or "mariadb" in low) and "-p" in text:
        for m in _DASH_P.finditer(text):
            v = m.group("glued") or m.group("q")
            if _cli_password(v):
                g = "glued" if m.group("glued") else "q"
                yield Finding(Kind.PASSWORD, m.start(g), m.end(g), "mysql-p")
    if " -p" in text and ("sshpass" in low or "login" in low):
        for m in _SPACED_P.finditer(text):
            got = _value_span(m)
            if got and _cli_password(got[0]):
                yield Finding(Kind.PASSWORD, got[1], got[2], "cli-p")
    if "accountkey=" in low or "sharedaccesskey=" in low:
        for m in _ACCOUNT_KEY.finditer(text):
            if not is_placeholder(m.group("v")):
                yield Finding(Kind.BEARER, m.start("v"), m.end("v"), "account-key")
    if "pgpass" in low:
        for m in _PGPASS.finditer(text):
            if _cli_password(m.group("v")):
                yield Finding(Kind.PASSWORD, m.start("v"), m.end("v"), "pgpass")
    if "basic" in low:
        for m in _BASIC_HEADER.finditer(text):
            if _basic_value(m.group("v")):
                yield Finding(Kind.PASSWORD, m.start("v"), m.end("v"), "basic-header")


# Passwords told in a sentence (en/sv/no, with the usual typos): "the password for X is Y",
# "lösenordet är Y", "passordet vårt er Y", "pw is Y", "I set the pasword to Y".
_PW_WORD = (
    r"(?:pass?w(?:or|ro)?d|passwrd|passw|pwd|pw|passphrase|pass|"
    r"l[öo]senord(?:et)?|l[öo]sen|l[øo]senord(?:et)?|passord(?:et)?|nodepassord(?:et)?|"
    r"nodl[öo]senord(?:et)?|kodeord(?:et)?|adgangskode(?:n)?|salasana)"
)
_PROSE_IS = re.compile(
    rf"(?i)(?<![\w/.-]){_PW_WORD}(?![\w-])(?:[ \t]+[^\s.?!:=]{{1,30}}){{0,5}}?"
    r"[ \t]*(?:(?:\bis\b(?:[ \t]+now)?|\bwas\b|\bär\b(?:[ \t]+nu)?|\bvar\b|\ber\b(?:[ \t]+nå)?|"
    r"\bblev\b|\bble\b|\bblir\b)[ \t]*:?|[:=])[ \t]+" + _VAL
)
_PROSE_SET = re.compile(
    rf"(?i)\b(?:set|changed|reset|satte|satt|sette|ändrade|byttet|endret|valde|valgte)\b"
    rf"(?:[ \t]+(?:the|my|our|it|den|det|vårt|v[åa]rt|mitt|min)\b)?"
    rf"(?:[ \t]+\w+)??(?:[ \t]+{_PW_WORD})?[ \t]+(?:to|till|til)?[ \t]*" + _VAL
)
_PROSE_DIRECT = re.compile(
    r"(?i)(?<![\w/.-])(?:pass?w(?:or|ro)d|passphrase|pw|l[öo]senord(?:et)?|l[öo]sen|passord(?:et)?|"
    r"nodepassord(?:et)?|kodeord(?:et)?)[ \t]+" + _VAL
)  # not `passwd user01`, `pwd`, `pass` (commands and verbs)
_PW_CONTEXT = re.compile(rf"(?i)(?<![\w-]){_PW_WORD}|lösen|passord|password")


def _prose_value(v: str, *, strong: bool = False) -> bool:
    v = v.rstrip(".,:;!?)")
    if v.startswith(("-", "/", "$")) or v.count(":") > 1:
        return False  # a flag, a path, a variable, a passwd(5) line
    if "://" in v or re.fullmatch(r"[^@\s]+@[^@\s]+\.\w+", v) or _UUID.fullmatch(v):
        return False
    if not _looks_like_password(v, strict=True):
        return False
    if strong:  # "password Y" without a verb: only a value nobody would mistake for a word
        has_digit = any(c.isdigit() for c in v)
        has_lower = any(c.islower() for c in v)
        return has_lower and has_digit and len(v) >= 6
    return True


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.I)


# Where a password word may start, found in the lower-cased text with a cheap literal scan;
# the sentence patterns are then only tried there (a 60 KB paste is otherwise scanned 3 times).
_PW_LITERAL = re.compile(r"nodepas|nodl[öo]sen|pas|pw|l[öoø]sen|kodeord|adgangskode|salasana")


_VERB_LITERAL = re.compile(r"reset|set|changed|satte|satt|ändrade|byttet|endret|valde|valgte")


def _anchored(pattern: re.Pattern[str], text: str, starts: list[int]) -> Iterator[re.Match[str]]:
    for start in starts:
        m = pattern.match(text, start)
        if m:
            yield m


def _prose(text: str, low: str) -> Iterator[Finding]:
    starts = [m.start() for m in _PW_LITERAL.finditer(low)]
    if not starts:
        return
    same = len(low) == len(text)  # lower() kept every offset (true unless exotic Unicode)
    verbs = [m.start() for m in _VERB_LITERAL.finditer(low)] if same else []
    for rule, pattern, strong in (  # a verb or no verb: the value must carry a digit
        ("prose-is", _PROSE_IS, False),
        ("prose-set", _PROSE_SET, True),
        ("prose-direct", _PROSE_DIRECT, True),
    ):
        at = verbs if rule == "prose-set" else starts
        for m in _anchored(pattern, text, at) if same else pattern.finditer(text):
            if rule == "prose-set" and not _PW_CONTEXT.search(
                text, max(0, m.start() - 80), m.end()
            ):
                continue
            got = _value_span(m)
            if got and _prose_value(got[0], strong=strong):
                value, start, end = got
                end = start + len(value.rstrip(".,:;!?)"))
                yield Finding(Kind.PASSWORD, start, end, rule)


# Short keys in YAML/ini/env: `pass:`, `pw:`, `bind_pw:`, `SMTP_PASS=`, `secret:`.
_SHORT_KEY = re.compile(
    r"""(?im)(?:^|[\s{,"'])["']?(?:[A-Za-z0-9]+[_.-])*(?P<key>pass|pw|passord|l[öo]senord|secret)"""
    r"""["']?[ \t]*(?::|=)[ \t]*""" + _VAL
)


_SHORT_KEY_GATE = re.compile(r"""(?:pass|pw|passord|senord|secret)["']?[ \t]*[:=]""")


def _short_keys(text: str, low: str) -> Iterator[Finding]:
    if not _SHORT_KEY_GATE.search(low):
        return
    for m in _SHORT_KEY.finditer(text):
        got = _value_span(m)
        if got is None:
            continue
        value, start, end = got
        if m.group("key").lower() == "secret":
            ok = _looks_like_password(value, strict=False) and not _NAME_LIKE.fullmatch(value)
            ok = ok and not _HEX_ONLY.fullmatch(value)  # secret: <sha> in CI logs is a digest
        else:
            ok = _looks_like_password(value, strict=False)
        if ok:
            yield Finding(Kind.PASSWORD, start, end, "short-key")


_HEX_ONLY = re.compile(r"[0-9a-f]{32,}")
_NAME_LIKE = re.compile(r"[a-z][a-z0-9]*(?:[-_.][a-z0-9]+)+")  # web-tls-2024 names a Secret

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
