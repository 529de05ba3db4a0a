"""Random fake credential values with the structure their formats specify (shared by both halves).

Every value comes from a seeded `random.Random`; none belongs to anything. Structure follows the
format's specification where one exists (GitHub token CRC32 checksum, JWT base64url JSON,
SigV4 query parameters, htpasswd schemes, PEM/OpenSSH/PuTTY framing), so a detector that checks
structure is judged on the real shape, and one that only checks prefixes is not helped.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
import string
import uuid
import zlib
from collections.abc import Callable
from urllib.parse import quote

HEX = "0123456789abcdef"
B62 = string.digits + string.ascii_uppercase + string.ascii_lowercase
B64 = string.ascii_letters + string.digits + "+/"
URLSAFE = string.ascii_letters + string.digits + "-_"
CRYPT = "./" + string.digits + string.ascii_uppercase + string.ascii_lowercase
B32 = string.ascii_uppercase + "234567"


class Values:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    # --- primitives -------------------------------------------------------------------------
    def s(self, alphabet: str, n: int) -> str:
        return "".join(self.rng.choice(alphabet) for _ in range(n))

    def mixed(self, alphabet: str, n: int) -> str:
        while True:
            v = self.s(alphabet, n)
            if any(c.islower() for c in v) and any(c.isupper() for c in v):
                if any(c.isdigit() for c in v):
                    return v

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def b64url(self, raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    # --- ids and hashes (negatives) -------------------------------------------------------------
    def hex(self, n: int) -> str:
        return self.s(HEX, n)

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def ip(self) -> str:
        return (
            f"10.{self.rng.randrange(256)}.{self.rng.randrange(256)}.{self.rng.randrange(1, 255)}"
        )

    def num(self) -> str:
        return str(self.rng.randrange(1000, 99999))

    def ts(self) -> str:
        return str(1790000000 + self.rng.randrange(10**7))

    def amzdate(self) -> str:
        return f"2026{self.rng.randrange(1, 13):02d}{self.rng.randrange(1, 29):02d}T{self.rng.randrange(24):02d}{self.rng.randrange(60):02d}00Z"

    def host(self) -> str:
        return self.pick(
            "db01.internal",
            "10.20.0.15",
            "pg.prod.customer.se",
            "mongo-0.mongo.svc",
            "cache.lan",
            "mq.customer.no",
            "sql-prod-2",
            "192.168.4.20",
        )

    def user(self) -> str:
        return self.pick(
            "app",
            "deploy",
            "backup",
            "svc_backup",
            "grafana",
            "kalle",
            "ola.nordmann",
            "erik",
            "jenkins",
            "webapp",
            "root",
            "admin",
        )

    def password(self) -> str:
        style = self.rng.randrange(6)
        words = ("Sommar", "Vinter", "Fjord", "Kaffe", "Granit", "Tiger", "Norrsken", "Bergen")
        if style == 0:
            return (
                self.pick(*words)
                + str(self.rng.randrange(10, 9999))
                + self.pick("!", "#", "%", "?", "")
            )
        if style == 1:
            return self.mixed(B62, self.rng.choice([10, 14, 20, 24]))
        if style == 2:
            return self.s(B62 + "!#%&*+-=?@^_", self.rng.choice([12, 16, 18]))
        if style == 3:
            return self.pick("sommar", "kaffe", "fotball", "hemligt", "vinter") + str(
                self.rng.randrange(1, 2030)
            )
        if style == 4:
            w = [
                self.pick("korv", "båt", "hest", "fjell", "tåg", "regn", "ost", "lampa")
                for _ in range(3)
            ]
            return "-".join(w) + str(self.rng.randrange(10, 99))
        return self.mixed(string.ascii_letters + string.digits, 8)

    # --- AWS / S3 -----------------------------------------------------------------------------
    def akia(self) -> str:
        return "AKIA" + self.s(B32, 16)

    def asia(self) -> str:
        return "ASIA" + self.s(B32, 16)

    def aws_secret(self) -> str:
        return self.mixed(B64, 40)

    def session_token(self) -> str:
        return "IQoJb3JpZ2luX2Vj" + self.s(B64, 300) + "=="

    def sigv4_url(self, token: bool = False, host: str | None = None) -> str:
        host = host or self.pick(
            "s3.sto2.safedc.net", "mybucket.s3.eu-north-1.amazonaws.com", "objects.customer.se"
        )
        key = self.asia() if token else self.akia()
        date = self.amzdate()
        cred = quote(
            f"{key}/{date[:8]}/{self.pick('us-east-1', 'eu-north-1', 'sto2')}/s3/aws4_request",
            safe="",
        )
        params = [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            f"X-Amz-Credential={cred}",
            f"X-Amz-Date={date}",
            f"X-Amz-Expires={self.pick('3600', '604800', '900', '86400')}",
        ]
        if token:
            params.append("X-Amz-Security-Token=" + quote(self.session_token(), safe=""))
        params += ["X-Amz-SignedHeaders=host", "X-Amz-Signature=" + self.hex(64)]
        path = self.pick(
            "backups/db-2026-11-30.sql.gz", "reports/q3.pdf", "export.tar", "img/logo.png"
        )
        return f"https://{host}/{path}?" + "&".join(params)

    def sigv2_url(self) -> str:
        sig = quote(base64.b64encode(self.rng.randbytes(20)).decode(), safe="")
        host = self.pick("s3.sto1.safedc.net", "customer-media.s3.amazonaws.com")
        path = self.pick("video/intro.mp4", "dump.sql", "files/report.xlsx")
        return f"https://{host}/{path}?AWSAccessKeyId={self.akia()}&Expires={self.ts()}&Signature={sig}"

    def swift_url(self) -> str:
        sig = self.hex(self.rng.choice([40, 64]))
        acct = "AUTH_" + self.hex(32)
        host = self.pick(
            "swift.sto1.safespring.com:8080", "object.customer.se", "s3.sto2.safedc.net"
        )
        return f"https://{host}/v1/{acct}/{self.pick('public', 'backups', 'media')}/{self.pick('a.tar.gz', 'file.iso', 'x.pdf')}?temp_url_sig={sig}&temp_url_expires={self.ts()}"

    # --- htpasswd ----------------------------------------------------------------------------
    def apr1(self) -> str:
        return f"$apr1${self.s(CRYPT, 8)}${self.s(CRYPT, 22)}"

    def bcrypt(self) -> str:
        return f"${self.pick('2y', '2b', '2a')}${self.pick('05', '10', '12')}${self.s(CRYPT, 53)}"

    def sha_ht(self) -> str:
        return "{SHA}" + base64.b64encode(self.rng.randbytes(20)).decode()

    def crypt(self) -> str:
        return self.s(CRYPT, 13)

    def sha512crypt(self) -> str:
        return f"$6${self.s(CRYPT, 16)}${self.s(CRYPT, 86)}"

    # --- basic auth -----------------------------------------------------------------------------
    def basic(self, user: str | None = None, pw: str | None = None) -> str:
        return base64.b64encode(f"{user or self.user()}:{pw or self.password()}".encode()).decode()

    # --- webhooks -----------------------------------------------------------------------------
    def slack_hook(self) -> str:
        return f"https://hooks.slack.com/services/T{self.s(B32, 8)}/B{self.s(B32, 10)}/{self.s(B62, 24)}"

    def discord_hook(self) -> str:
        return f"https://discord.com/api/webhooks/{self.rng.randrange(10**17, 10**19)}/{self.s(URLSAFE, 68)}"

    def teams_hook(self) -> str:
        return f"https://{self.pick('customer', 'contoso', 'firma')}.webhook.office.com/webhookb2/{self.uuid()}@{self.uuid()}/IncomingWebhook/{self.hex(32)}/{self.uuid()}"

    def mm_hook(self) -> str:
        return f"https://{self.pick('chat', 'mattermost', 'mm')}.customer.se/hooks/{self.s(string.ascii_lowercase + string.digits, 26)}"

    # --- keys ---------------------------------------------------------------------------------
    def _body(self, lines: int, last: int = 40) -> str:
        return "\n".join([self.s(B64, 64) for _ in range(lines)] + [self.s(B64, last) + "=="])

    def pem(self, label: str = "RSA PRIVATE KEY", lines: int = 25) -> str:
        return f"-----BEGIN {label}-----\n{self._body(lines)}\n-----END {label}-----"

    def pem_rsa(self) -> str:
        return self.pem("RSA PRIVATE KEY", 25)

    def pem_ec(self) -> str:
        return (
            "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEI"
            + self.s(B64, 55)
            + "\n"
            + self.s(B64, 64)
            + "\n"
            + self.s(B64, 30)
            + "==\n-----END EC PRIVATE KEY-----"
        )

    def pem_pkcs8(self) -> str:
        return (
            "-----BEGIN PRIVATE KEY-----\nMIIEv"
            + self.s(B64, 59)
            + "\n"
            + self._body(24)
            + "\n-----END PRIVATE KEY-----"
        )

    def pem_encrypted(self) -> str:
        return self.pem("ENCRYPTED PRIVATE KEY", 28)

    def openssh(self) -> str:
        first = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
        body = "\n".join([first, *[self.s(B64, 70) for _ in range(4)], self.s(B64, 20) + "="])
        return f"-----BEGIN OPENSSH PRIVATE KEY-----\n{body}\n-----END OPENSSH PRIVATE KEY-----"

    def ppk(self) -> str:
        ver = self.pick("2", "3")
        pub = "\n".join(self.s(B64, 64) for _ in range(6))
        priv = "\n".join(self.s(B64, 64) for _ in range(14))
        extra = "Key-Derivation: Argon2id\n" if ver == "3" and self.rng.random() < 0.5 else ""
        return (
            f"PuTTY-User-Key-File-{ver}: ssh-rsa\nEncryption: none\nComment: rsa-key-2026{self.rng.randrange(1000, 9999)}\n"
            f"{extra}Public-Lines: 6\n{pub}\nPrivate-Lines: 14\n{priv}\nPrivate-MAC: {self.hex(64)}"
        )

    def tls_key_b64(self) -> str:
        pem = self.pick(self.pem_rsa(), self.pem_pkcs8(), self.pem_ec())
        return base64.b64encode((pem + "\n").encode()).decode()

    def cert_pem(self) -> str:
        return (
            "-----BEGIN CERTIFICATE-----\nMIID"
            + self.s(B64, 60)
            + "\n"
            + self._body(18)
            + "\n-----END CERTIFICATE-----"
        )

    def pubkey_pem(self) -> str:
        return (
            "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA"
            + self.s(B64, 20)
            + "\n"
            + self._body(5)
            + "\n-----END PUBLIC KEY-----"
        )

    def tls_crt_b64(self) -> str:
        return base64.b64encode((self.cert_pem() + "\n").encode()).decode()

    def ssh_pub(self) -> str:
        return (
            self.pick(
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQ" + self.s(B64, 340),
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI" + self.s(B64, 43),
            )
            + " "
            + self.pick("kalle@laptop", "deploy@ci", "ola@jump")
        )

    # --- tokens -------------------------------------------------------------------------------
    def jwt(self) -> str:
        alg = self.pick("RS256", "HS256", "ES256")
        header = (
            {"alg": alg, "typ": "JWT"}
            if self.rng.random() < 0.5
            else {"alg": alg, "kid": self.s(URLSAFE, 43)}
        )
        payload = self.pick("sa", "user", "ci")
        body: dict[str, object]
        if payload == "sa":
            body = {
                "iss": "kubernetes/serviceaccount",
                "sub": f"system:serviceaccount:{self.pick('ci', 'default')}:{self.pick('deployer', 'gitlab')}",
            }
        elif payload == "user":
            body = {
                "sub": self.uuid(),
                "email": f"{self.user()}@customer.se",
                "exp": int(self.ts()),
            }
        else:
            body = {
                "iss": "https://gitlab.customer.se",
                "project_path": "ops/infra",
                "exp": int(self.ts()),
            }
        siglen = 43 if alg == "HS256" else self.pick("86", "342")
        return ".".join(
            [
                self.b64url(json.dumps(header).encode()),
                self.b64url(json.dumps(body).encode()),
                self.s(URLSAFE, int(siglen)),
            ]
        )

    def _b62(self, n: int, width: int) -> str:
        out = ""
        while n:
            n, r = divmod(n, 62)
            out = B62[r] + out
        return out.rjust(width, "0")

    def github(self, prefix: str | None = None) -> str:
        prefix = prefix or self.pick("ghp", "gho", "ghs", "ghu")
        rand = self.s(B62, 30)
        return f"{prefix}_{rand}{self._b62(zlib.crc32(rand.encode()), 6)}"

    def github_pat(self) -> str:
        return f"github_pat_11{self.s(B32 + string.digits, 20)}_{self.s(B62, 59)}"

    def slack_token(self) -> str:
        kind = self.pick("b", "p", "a", "s")
        if kind == "b":
            return f"xoxb-{self.rng.randrange(10**10, 10**12)}-{self.rng.randrange(10**11, 10**13)}-{self.s(B62, 24)}"
        if kind == "p":
            return f"xoxp-{self.rng.randrange(10**10, 10**12)}-{self.rng.randrange(10**10, 10**12)}-{self.rng.randrange(10**11, 10**13)}-{self.hex(32)}"
        if kind == "a":
            return f"xoxa-2-{self.rng.randrange(10**10, 10**12)}-{self.rng.randrange(10**11, 10**13)}-{self.hex(64)}"
        return f"xoxs-{self.rng.randrange(10**10, 10**12)}-{self.rng.randrange(10**10, 10**12)}-{self.rng.randrange(10**11, 10**13)}-{self.hex(64)}"

    def glpat(self) -> str:
        return "glpat-" + self.s(URLSAFE, 20)

    def appcred_id(self) -> str:
        return self.hex(32)

    def appcred_secret(self) -> str:
        return self.s(URLSAFE, 86)

    def fernet(self) -> str:
        return "gAAAAAB" + self.s(URLSAFE, 176)

    def tsm_pw(self) -> str:
        return self.pick("Backup", "Node", "Tsm", "Safe", "bkp", "Natt") + str(
            self.rng.randrange(100, 99999)
        )

    def bootstrap(self) -> str:
        a = string.ascii_lowercase + string.digits
        return f"{self.s(a, 6)}.{self.s(a, 16)}"

    # --- negatives' raw material --------------------------------------------------------------
    def docker_digest(self) -> str:
        return "sha256:" + self.hex(64)

    def b64_text(self) -> str:
        plain = self.pick(
            '{"kind":"status","ok":true}',
            "hello world from the backup job",
            "apiVersion: v1\nkind: ConfigMap\n",
            "log_level=info\nworkers=4\n",
            "ca-bundle placeholder",
        )
        return base64.b64encode(plain.encode()).decode()

    def hexcolon(self) -> str:
        return ":".join(self.hex(2).upper() for _ in range(32))

    def sigv4_url_token(self) -> str:
        return self.sigv4_url(token=True)

    def md5(self) -> str:
        return hashlib.md5(self.rng.randbytes(8)).hexdigest()


Gen = Callable[[Values], str]
