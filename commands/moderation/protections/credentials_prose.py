"""Credential checks on password rules: hashes, basic auth, CLI flags, prose sentences, short keys."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from commands.moderation.protections.credentials_patterns import (
    _REPEATED,
    _VAL,
    Finding,
    Kind,
    _classes,
    _entropy,
    _looks_like_password,
    _user_placeholder,
    _value_span,
    is_placeholder,
)

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
