"""One chat message per credential kind the detector knows, with fresh fake values.

Values come from the corpus generator's `Values` (tests/data/credential_corpus2/values.py):
seeded random fakes with each format's structure; none belongs to anything. `needles(text)`
gives the pieces of every value a test looks for wherever the bot could have kept or passed
the message on: the whole value and slices of it, so a value cut short is caught too.
"""

from __future__ import annotations

import base64
import sys
from dataclasses import dataclass
from pathlib import Path

from commands.moderation.protections.credentials_detector import Kind, find_secrets, kinds

sys.path.insert(0, str(Path(__file__).resolve().parent / "data" / "credential_corpus2"))
from values import B64, Values

SLICE = 16  # characters: long enough to be unique, short enough to catch a cut-off value


@dataclass(frozen=True)
class Sample:
    kind: Kind
    text: str

    @property
    def needles(self) -> list[str]:
        return needles(self.text)


def needles(text: str) -> list[str]:
    """The found values in `text`, whole and as head/middle/tail slices (blank lines split)."""
    out: list[str] = []
    for f in find_secrets(text):
        value = text[f.start : f.end]
        for part in value.split("\n"):
            part = part.strip()
            if len(part) < 8:
                continue
            out.append(part)
            if len(part) > SLICE:
                mid = (len(part) - SLICE) // 2
                out += [part[:SLICE], part[mid : mid + SLICE], part[-SLICE:]]
    return list(dict.fromkeys(out))


def samples(seed: int) -> list[Sample]:
    """One message per `Kind`, in the enum's order; each is detected as exactly its kind."""
    v = Values(seed)
    # Random base64 (a real one decodes to a PEM key, which the detector names as such).
    client_key = base64.b64encode(v.s(B64, 180).encode()).decode()
    texts = {
        Kind.S3_PAIR: f"my s3cmd config:\n[default]\naccess_key = {v.akia()}\n"
        f"secret_key = {v.aws_secret()}\nhost_base = s3.sto1.safedc.net",
        Kind.S3_SECRET: f"rclone keeps saying 403, secret_access_key = {v.aws_secret()}",
        Kind.APP_CRED: "clouds.yaml auth:\n  auth_type: v3applicationcredential\n"
        f"  application_credential_id: {v.appcred_id()}\n"
        f"  application_credential_secret: {v.appcred_secret()}",
        Kind.OS_PASSWORD: f"my openrc has export OS_PASSWORD={v.password()}X9 and login fails",
        Kind.OS_TOKEN: f"curl -H 'X-Auth-Token: {v.fernet()}' https://api.sto1.safedc.net",
        Kind.CLOUDS_YAML: "clouds:\n  safespring:\n    auth:\n      auth_url: "
        "https://keystone.api.cloud.ipnett.se/v3\n      username: kalle@customer.se\n"
        f"      password: {v.password()}Q7\n      project_name: prod",
        Kind.PRIVATE_KEY: f"is this key format ok for nova?\n{v.openssh()}",
        Kind.JWT: f"the API returns 401 for this one: {v.jwt()}",
        Kind.BEARER: f"GITHUB_TOKEN={v.github()} is set in the runner",
        Kind.KUBE_TOKEN: "users:\n- name: deployer\n  user:\n    token: "
        + v.s("abcdefghijklmnopqrstuvwxyz0123456789", 48),
        Kind.KUBE_CLIENT_KEY: f"users:\n- name: admin\n  user:\n    client-key-data: {client_key}",
        Kind.PASSWORD: f"db settings for the app:\nhost: db01.internal\npassword: {v.password()}Z3",
        Kind.URL_PASSWORD: f"DATABASE_URL=postgres://app:{v.password()}K8@db01.internal:5432/prod",
        Kind.TSM_PASSWORD: f"I ran dsmc set password {v.tsm_pw()} {v.tsm_pw()} and it hangs",
        Kind.PRESIGNED_URL: f"can you open this link? {v.sigv4_url()}",
        Kind.PASSWORD_HASH: f"htpasswd line for the proxy: prom:{v.apr1()}",
        Kind.WEBHOOK_URL: f"alerts go to {v.slack_hook()} but nothing arrives",
    }
    out = [Sample(k, texts[k]) for k in Kind]
    wrong = [(s.kind, kinds(find_secrets(s.text))) for s in out]
    wrong = [(k, found) for k, found in wrong if found != [k]]
    assert not wrong, wrong
    assert all(s.needles for s in out)
    return out
