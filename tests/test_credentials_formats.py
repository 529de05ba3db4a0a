"""Issue-14 detector rules: formats checked by their specification, redaction, both corpora."""

from __future__ import annotations

import base64
import json
import sys
import zlib
from pathlib import Path

import pytest

from commands.moderation.protections.credentials_detector import (
    Kind,
    find_secrets,
    github_checksum_ok,
    is_placeholder,
    redact,
)

CORPUS2 = Path(__file__).parent / "data" / "credential_corpus2"
sys.path.insert(0, str(CORPUS2))
from evaluate import load, score  # noqa: E402

# Floors: TUNE was tuned on (it must stay perfect); CHECK is the target on unseen text.
FLOORS = {"tune": (0.99, 0.005), "check": (0.97, 0.01), "old": (0.99, 0.005)}


@pytest.mark.parametrize("half", ["tune", "check", "old"])
def test_recall_and_false_positive_rate(half: str) -> None:
    s = score(find_secrets, load(half))
    print("\n" + s.line(half))
    min_recall, max_fpr = FLOORS[half]
    assert s.recall >= min_recall, s.miss_ids
    assert s.fpr <= max_fpr, s.fp_ids


def _ghp(body30: str) -> str:
    alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
    n, digits = zlib.crc32(body30.encode()), ""
    while n:
        n, r = divmod(n, 62)
        digits = alphabet[r] + digits
    return f"ghp_{body30}{digits.rjust(6, '0')}"


def test_github_checksum() -> None:
    token = _ghp("aB3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1")
    assert github_checksum_ok(token)
    assert not github_checksum_ok(token[:-1] + ("A" if token[-1] != "A" else "B"))
    assert find_secrets(f"GH_TOKEN={token}")


PEM = (
    "-----BEGIN RSA PRIVATE KEY-----\n"
    + "MIIEpAIBAAKCAQEA"
    + "q" * 48
    + "\n-----END RSA PRIVATE KEY-----\n"
)
CERT = (
    "-----BEGIN CERTIFICATE-----\n"
    + "MIIDdzCCAl+gAwIBAgIE"
    + "q" * 44
    + "\n-----END CERTIFICATE-----\n"
)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (
            "https://s3.sto2.safedc.net/b/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA2X"
            "%2F20260101%2Fsto2%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=3600"
            "&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "3f9a" * 16,
            Kind.PRESIGNED_URL,
        ),
        (
            "https://swift.x/v1/AUTH_abc/c/o?temp_url_sig="
            + "ab12" * 10
            + "&temp_url_expires=1790000000",
            Kind.PRESIGNED_URL,
        ),
        ("admin:$apr1$Xy12ab34$Qw3rTy5uI7oP9aS1dF3gH5", Kind.PASSWORD_HASH),
        ("deploy:$2y$10$" + "abcDEF123./" * 4 + "abcDEFGHI", Kind.PASSWORD_HASH),
        (f"  tls.key: {base64.b64encode(PEM.encode()).decode()}", Kind.PRIVATE_KEY),
        (
            "https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEFGH2/x7Yq2Lm9Pz4Rt6Vb8Nc1Kd3F",
            Kind.WEBHOOK_URL,
        ),
        ("Lösenordet är Fjord2024! för root", Kind.PASSWORD),
        ("passordet vårt er Kaffe8812 for admin", Kind.PASSWORD),
        ("smtp:\n  pw: Granit88x", Kind.PASSWORD),
        ("curl -u ops:Vinter2024x https://api.customer.se", Kind.PASSWORD),
        ("postgres://admin:Q94o2xT0@db01:5432/app", Kind.URL_PASSWORD),
    ],
)
def test_formats(text: str, kind: Kind) -> None:
    assert kind in {f.kind for f in find_secrets(text)}


@pytest.mark.parametrize(
    "text",
    [
        # hashes, ids, public material
        "sha256:" + "ab12" * 16,
        "commit 3f9a1c2b4d5e6f708192a3b4c5d6e7f8091a2b3c",
        f"  tls.crt: {base64.b64encode(CERT.encode()).decode()}",
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx2kq9sd8f7g6h5j4k3l2m1n0b9v8c7x6z5a4s3d2f1 ola@jump",
        # references and placeholders
        "password: ${DB_PASSWORD}",
        "export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx",
        "DB_HOST=\nDB_PASSWORD=\nSECRET_KEY=\n",
        "https://hooks.slack.com/services/XXXXX/XXXXX/XXXXX",
        "curl -u <user>:<password> https://api.customer.se",
        "docker run -u 1000:1000 nginx",
        # talk about passwords
        "how do I change my backup password?",
        "Vad är lösenordet till backupnoden? Hittar det inte",
        "hvordan endrer jeg passordet for backup-noden?",
        "dsmc set password -type=TSM   # prompts interactively",
        "/etc/passwd line: backup:x:34:34:backup:/var/backups:/usr/sbin/nologin",
        # presigned-looking without a signature, header-only JWT
        "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20260101T000000Z but no signature",
        "eyJhbGciOiJIUzI1NiJ9 is just the header",
    ],
)
def test_not_secrets(text: str) -> None:
    assert find_secrets(text) == []


@pytest.mark.parametrize(
    "value",
    ["SecurePassword123", "VeryLongSecretKeyHere", "ENC[AES256_GCM,data:x]", "ditt-passord-her"],
)
def test_more_placeholders(value: str) -> None:
    assert is_placeholder(value)


def test_redact_replaces_every_value_and_names_the_kinds() -> None:
    text = (
        "export OS_PASSWORD=Granit4821!\n"
        "DATABASE_URL=postgres://app:Hemligt99x@db01/app\n"
        "and the webhook https://hooks.slack.com/services/T0ABCDEF1/B0ABCDEFGH2/x7Yq2Lm9Pz4Rt6Vb8Nc1Kd3F"
    )
    out, kinds = redact(text)
    for value in ("Granit4821!", "Hemligt99x", "x7Yq2Lm9Pz4Rt6Vb8Nc1Kd3F"):
        assert value not in out
    assert out.count("[REDACTED]") == 3
    assert set(kinds) == {Kind.OS_PASSWORD, Kind.URL_PASSWORD, Kind.WEBHOOK_URL}
    assert redact("nothing here") == ("nothing here", [])


def test_redact_whole_corpus_leaves_no_value() -> None:
    """On TUNE and the old corpus, no secret row keeps the value the detector found."""
    for half in ("tune", "old"):
        for row in load(half):
            text = str(row["text"])
            out, kinds = redact(text)
            if row["label"] == "secret":
                assert kinds, row["id"]
                for f in find_secrets(text):
                    assert text[f.start : f.end] not in out, row["id"]
            json.dumps(out)  # always serialisable


def test_attachment_text_files_are_scanned_whatever_the_declared_type() -> None:
    from commands.moderation.protections.credentials_detector import scan_attachment

    clouds = b"clouds:\n  prod:\n    auth:\n      username: ops\n      password: Granit4821!\n"
    got = scan_attachment(clouds, "clouds.yaml", "application/octet-stream")
    assert got.scanned and got.flagged and got.reason == "sniffed text"
    assert {f.kind for f in got.findings} == {Kind.CLOUDS_YAML}
    assert "Granit4821!" not in repr(got)
    env = scan_attachment(b"DB_HOST=db01\nDB_PASSWORD=\n", ".env.example", "text/plain")
    assert env.scanned and not env.flagged


def test_attachment_binary_big_and_key_containers() -> None:
    from commands.moderation.protections.credentials_detector import scan_attachment

    png = scan_attachment(
        b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(200), "shot.png", "image/png"
    )
    assert not png.scanned and png.reason == "binary"
    big = b"export OS_PASSWORD=Granit4821!\n" + b"x = 1\n" * 400_000
    got = scan_attachment(big, "openrc.sh", "text/x-sh", limit=1_000_000)
    assert got.truncated and got.flagged
    cut = "å".encode() * 10  # a limit in the middle of a UTF-8 character still reads as text
    assert scan_attachment(cut, "notes.txt", "text/plain", limit=5).scanned
    assert scan_attachment(b"\x30\x82\x0a", "client.p12", None).flagged
    assert not scan_attachment(b"", "empty.txt", "text/plain").scanned


# Probes written after tuning (so not an estimate): shapes from the list in other words,
# and ordinary technical chat full of the trigger words. Kept as regressions.
PROBE_LEAKS = [
    "my .netrc:\nmachine api.customer.se login kalle password Vinter2024x",
    "PGPASSWORD=Hemligt123 psql -h db01 -U app",
    "kubectl create secret generic db --from-literal=password='Tr0ub4dor&3'",
    "the root pw on the new vm is Kaffe-Regn-77",
    "lösenordet: Sommar2025!",
    "Passordet til brukeren er: Fjell2024",
    "use this one: user=backup pass=Natt8812x",
    '  password = "n0tS0s3cret!"',
    "aws configure\nAWS Access Key ID [None]: AKIAIOSFODNN7ABCDEFG\nAWS Secret Access Key [None]: wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzKEYab",
    "here is the key: -----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7VJTUt9Us8cKj\nMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDuictGeurT8jNbvJZHtCSuYEvu\n-----END PRIVATE KEY-----",
    "ssh deploy@10.0.0.5 with password Qwerty!2024 doesn't work",
    "mongodb://admin:S3cr3tPass@10.1.2.3:27017/?authSource=admin",
    "the S3 keys are access: 3F7GH2KLMN8PQRST9UVW secret: aB3dE5fG7hJ9kL1mN3pQ5rS7tV9wX1yZ2bC4dE6f",
    "Token: glpat-a1B2c3D4e5F6g7H8i9J0",
    "webhook https://hooks.slack.com/services/T01ABCDEF/B02GHIJKL/AbCdEfGhIjKlMnOpQrStUvWx",
    "OS_APPLICATION_CREDENTIAL_SECRET=Xk9_2mPq-Lr7vT3wYz8bN4cF6hJ1sD5gA0eR2uI8oK3lM7nB9vC4xZ6qW1tY5",
    "client_secret: 7f8e9d0c-1b2a-4c3d-9e8f-7a6b5c4d3e2f",
    "api_key=sk-proj-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789AbCd",
    "Authorization: token ghp_ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef0123",
    "hej, lösen är vinter2024 till admin",
    "Jeg bruker passord: kaffe1234 på begge",
    "SMTP_PASSWORD: 'mail-Pass-2024'",
    "redis://:p4ssw0rdXYZ@cache:6379",
    "https://user:Secr3t%21@git.customer.se/repo.git",
    "backup password is Natt-Tåg-88, config is /etc/dsm.sys",
    "dsmc q sess -password=Bkp44321",
    "tls.key: LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVktLS0tLQpNSUlFb3dJQkFBS0NBUUVB",
]
PROBE_CHAT = [
    "I changed the password to something longer, works now",
    "the password is the same as in horizon",
    "password123 is not allowed, right?",
    "Set the password to at least 12 characters",
    "my password was reset by your colleague yesterday",
    "passwd: password updated successfully",
    "Lösenordet är för kort enligt portalen",
    "Passordet er feil sier den",
    "sha1: 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
    "git push https://github.com/org/repo.git",
    "postgresql://localhost/mydb?user=other&password=secret",
    "curl -u admin https://api.customer.se",
    "The secret: don't restart during backup",
    "X-Amz-Signature=... was cut off in my paste",
    "Use --password-stdin with docker login",
    "ssh -p 2222 user@host",
    "mysql -u root -p",
    "token expired at 2026-12-01T10:00:00Z",
    "pw reset for kalle@customer.se please",
    "Set password for node FS01 in the GUI, right?",
    "reset the pw via https://portal.safespring.com/reset",
    "our jenkins pass rate is 98% now",
    "Failed password for invalid user admin from 10.0.0.5 port 2222 ssh2",
    "Accepted publickey for deploy from 10.1.1.1 port 50022 ssh2: ED25519 SHA256:abcdEFGHijklMNOPqrstUVWXyz0123456789abcdEFG",
    "password_hash: bcrypt, cost 12, should I go higher?",
    "the secret is in kv/prod/db, key name db_password",
    "We store the token in ~/.config/gh/hosts.yml",
    "Secret key rotation every 90 days is our policy",
    "pass=1 fail=0 skipped=3",
    "Is it normal that the pw field in horizon is greyed out?",
    "api_key: see 1Password entry 'Safespring S3'",
    "token=$(openstack token issue -f value -c id)",
    "export OS_TOKEN=$(cat token.txt)",
    "client_secret is configured in keycloak, not in the app",
    "secret: true",
    "secretName: wildcard-tls",
    "imagePullSecrets:\n  - name: regcred",
    "password: !!binary |",
    "AWS_SECRET_ACCESS_KEY must be set for velero",
    "aws_secret_access_key = (from vault)",
    "lösenord: se lösenordshanteraren",
    "passord: ligger i Bitwarden",
    "The JWT has alg RS256 and kid from the jwks",
    'ETag: "9b2cf535f27731c974343645a3985328"',
    "Digest: sha256:4bcff63911fcb4448bd4fdacec207030997caf25e9bea4045fa6c8c44de311d1",
    "cd /home/kalle && ls -la .ssh\n-rw------- 1 kalle kalle 411 id_ed25519\n-rw-r--r-- 1 kalle kalle 98 id_ed25519.pub",
    "openssl rand -base64 32 gives me a new key, then I put it in vault",
    'Error: secret "db-creds" not found',
    'password authentication failed for user "app"',
    'FATAL:  password authentication failed for user "postgres"',
    "ANS1051I Invalid password\nANS1025E Session rejected: Authentication failure",
    "The password for the portal and for S3 are different things",
    "my password is too weak according to the form, it says min 12 chars",
    "Lösenordet funkar inte längre efter bytet",
    "Passordet mitt er utløpt",
    "change password for user admin: passwd admin",
    "echo $OS_PASSWORD | wc -c gives 17 so it's set",
    "set -euo pipefail; set -x",
    'curl -sS -u "${USER}:${TOKEN}" https://api.customer.se',
    "https://docs.safespring.com/object/howto/presigned/?X-Amz-Expires=3600",
    "Basic auth is enabled on the ingress",
    "Authorization: Basic <base64>",
    "we use sha512crypt ($6$) for /etc/shadow",
    "htpasswd file is /etc/nginx/.htpasswd, 3 users",
    "SSH key fingerprint SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
    "docker login -u ci --password-stdin registry.customer.se",
    "Your new password has been set. You can now log in.",
    "Forgot password? Click here to reset it",
    "passphrase prompt for id_rsa appears twice",
    'bucket policy: {"Effect": "Allow", "Principal": {"AWS": ["arn:aws:iam:::user/backup"]}}',
    "glpat- prefix tokens are gitlab personal tokens, right?",
    "The Slack token starts with xoxb- and I put it in the secret",
    "set the password to expire in 90 days",
    "Reset password to default? No, we never do that.",
]


@pytest.mark.parametrize("text", PROBE_LEAKS)
def test_probe_leaks(text: str) -> None:
    assert find_secrets(text)


@pytest.mark.parametrize("text", PROBE_CHAT)
def test_probe_chat(text: str) -> None:
    assert find_secrets(text) == []
