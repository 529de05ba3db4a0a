"""Tables for the credentials detector: kinds, findings, placeholder words, keyed rules, hints.

Split out of credentials_detector.py unchanged; see that module for the design notes.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


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
    # Only when the words make up most of the value: a random 40-character key has camel-case
    # runs too ("...Qa..My00..." is not a description).
    if (
        len(camel) >= 2
        and any(w in _NAMING_WORDS for w in camel)
        and sum(map(len, camel)) * 10 >= len(v) * 8
    ):
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


_B64_40 = re.compile(r"/?[A-Za-z0-9+]+(?:/[A-Za-z0-9+]+){0,2}")
# Fragments that mark a placeholder even inside a random-looking run (AWS's documented
# wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY); shorter ones ("your", a "...her" ending) turn up
# by chance in about 1 random 40-character key in 5000.
_LONG_FRAGMENTS = ("example", "placeholder", "redact", "omitted", "replace", "changeme", "insert")


def _random_base64(value: str) -> bool:
    """A 40-char base64 run at random-key entropy that names no placeholder: a path starts
    with "/" too, but has more slashes."""
    low = value.lower()
    return (
        _B64_40.fullmatch(value) is not None
        and _entropy(value) >= 4.3
        and not any(f in low for f in _LONG_FRAGMENTS)
    )


def _is_s3_secret(value: str) -> bool:
    """40 chars of base62/base64 with mixed case and digits (never pure hex: git SHA, SHA-1)."""
    if len(value) != 40:
        return False
    if is_placeholder(value) and not _random_base64(value):
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
    # a random key starting with "/" is not a path (see _is_s3_secret)
    return _looks_like_token(v) or _is_s3_secret(v.strip("\"'`"))


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
