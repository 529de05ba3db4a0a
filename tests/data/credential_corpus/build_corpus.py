"""Build corpus.jsonl: realistic support-room messages, clean and with (synthetic) secrets.

Every message is hand-written below; only the random-looking parts (hashes, ids, keys,
passwords) are filled from a seeded RNG at the `§name§` markers, so the values are shaped like
the real thing but belong to nothing. `§name.N§` reuses the N-th value of that name inside one
message. Run `python tests/data/credential_corpus/build_corpus.py` to regenerate (deterministic).
"""

from __future__ import annotations

import base64
import json
import random
import re
import string
import uuid
from collections.abc import Callable
from pathlib import Path

RNG = random.Random(20261126)
HEX = "0123456789abcdef"
B62 = string.ascii_letters + string.digits
B64 = B62 + "+/"
URLSAFE = B62 + "-_"
UPPER = string.ascii_uppercase + string.digits


def _s(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def _mixed(alphabet: str, n: int) -> str:
    while True:
        v = _s(alphabet, n)
        if (
            any(c.islower() for c in v)
            and any(c.isupper() for c in v)
            and any(c.isdigit() for c in v)
        ):
            return v


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _jwt() -> str:
    header = {"alg": "RS256", "kid": _s(URLSAFE, 43)}
    payload = {
        "iss": "kubernetes/serviceaccount",
        "kubernetes.io/serviceaccount/namespace": RNG.choice(["default", "ci", "monitoring"]),
        "kubernetes.io/serviceaccount/service-account.name": RNG.choice(["deployer", "gitlab"]),
        "sub": "system:serviceaccount:ci:deployer",
        "exp": 1790000000 + RNG.randrange(10**6),
    }
    sig = _s(URLSAFE, 342)
    return ".".join(
        [_b64url(json.dumps(header).encode()), _b64url(json.dumps(payload).encode()), sig]
    )


def _pem_body(lines: int, last: int = 40) -> str:
    body = [_s(B64, 64) for _ in range(lines)]
    body.append(_s(B64, last) + "==")
    return "\n".join(body)


def _openssh_body() -> str:
    first = "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW"
    return "\n".join([first, *[_s(B64, 70) for _ in range(5)], _s(B64, 20) + "="])


def _client_key_data() -> str:
    pem = "-----BEGIN RSA PRIVATE KEY-----\n" + _pem_body(20) + "\n-----END RSA PRIVATE KEY-----\n"
    return base64.b64encode(pem.encode()).decode()


def _cert_data() -> str:
    pem = "-----BEGIN CERTIFICATE-----\n" + _pem_body(17) + "\n-----END CERTIFICATE-----\n"
    return base64.b64encode(pem.encode()).decode()


def _password() -> str:
    words = ["Sommar", "Blue", "Falcon", "Granit", "Stockholm", "Vinter", "Orkan", "Tiger"]
    style = RNG.randrange(3)
    if style == 0:
        return RNG.choice(words) + str(RNG.randrange(10, 9999)) + RNG.choice("!#%&?")
    if style == 1:
        return _mixed(B62, RNG.choice([12, 16, 20]))
    return _s(B62 + "!#%&*+-=?@^_", 18)


GEN: dict[str, Callable[[], str]] = {
    "hex8": lambda: _s(HEX, 8),
    "hex12": lambda: _s(HEX, 12),
    "hex32": lambda: _s(HEX, 32),
    "hex40": lambda: _s(HEX, 40),
    "sha256": lambda: _s(HEX, 64),
    "uuid": lambda: str(uuid.UUID(int=RNG.getrandbits(128), version=4)),
    "req": lambda: "req-" + str(uuid.UUID(int=RNG.getrandbits(128), version=4)),
    "ip": lambda: f"10.{RNG.randrange(256)}.{RNG.randrange(256)}.{RNG.randrange(1, 255)}",
    "pubip": lambda: f"212.162.{RNG.randrange(144, 191)}.{RNG.randrange(1, 255)}",
    "b64_43": lambda: _s(URLSAFE, 43),
    "b64_28": lambda: _s(B64, 27) + "=",
    "b64_76": lambda: _s(B64, 76),
    "eventid": lambda: "$" + _s(URLSAFE, 43),
    "roomid": lambda: "!" + _s(string.ascii_letters, 18) + ":safespring.com",
    "num": lambda: str(RNG.randrange(1000, 99999)),
    "txid": lambda: f"tx00000{_s(HEX, 16)}-00{_s(HEX, 8)}-{_s(HEX, 6)}-sto1",
    "podsuffix": lambda: (
        f"{_s(string.ascii_lowercase + string.digits, 10)}-{_s(string.ascii_lowercase + string.digits, 5)}"
    ),
    "upper20": lambda: _s(UPPER, 20),
    "akia": lambda: "AKIA" + _s(UPPER, 16),
    "s3secret": lambda: _mixed(B62, 40),
    "s3secret64": lambda: _mixed(B64, 40),
    "appcred": lambda: _s(URLSAFE, 86),
    "jwt": _jwt,
    "fernet": lambda: "gAAAAAB" + _s(URLSAFE, 176),
    "opaque": lambda: _mixed(B62, 40),
    "bootstrap": lambda: (
        f"{_s(string.ascii_lowercase + string.digits, 6)}.{_s(string.ascii_lowercase + string.digits, 16)}"
    ),
    "pem": lambda: _pem_body(24),
    "pem_ec": lambda: _pem_body(2, 30),
    "openssh": _openssh_body,
    "ckd": _client_key_data,
    "certdata": _cert_data,
    "pw": _password,
    "tsmpw": lambda: RNG.choice(["Backup", "Node", "Tsm", "Safe"]) + str(RNG.randrange(100, 99999)),
    "ssh_pub": lambda: "AAAAB3NzaC1yc2EAAAADAQABAAABgQ" + _s(B64, 340),
    "ed_pub": lambda: "AAAAC3NzaC1lZDI1NTE5AAAAI" + _s(B64, 43),
    "basic": lambda: base64.b64encode(f"ci:{_password()}".encode()).decode(),
    "fp": lambda: "SHA256:" + _s(B64, 43),
}

_MARK = re.compile(r"§(\w+?)(?:\.(\d+))?§")


def fill(template: str) -> str:
    cache: dict[tuple[str, str], str] = {}

    def one(m: re.Match[str]) -> str:
        name, idx = m.group(1), m.group(2)
        if idx is None:
            return GEN[name]()
        key = (name, idx)
        if key not in cache:
            cache[key] = GEN[name]()
        return cache[key]

    return _MARK.sub(one, template)


# ----------------------------------------------------------------------------------------------
# Clean messages: ordinary support-room traffic, many of them deliberately close to secrets.
# ----------------------------------------------------------------------------------------------

CLEAN: list[str] = [
    # chat, no payload
    "Hi! Our instances in sto2 can't reach the metadata service since this morning, anyone else?",
    "Is there a maintenance window planned for the S3 service this week?",
    "Thanks, that fixed it. The security group was missing the egress rule.",
    "How do I reset my password for the dashboard? The reset link seems to have expired.",
    "The password must be at least 12 characters according to the error, but mine is 16.",
    "Password: expired. That's literally what the login page says now.",
    "we rotated all our application credentials after the offboarding, just FYI",
    "Can I use an application credential with terraform instead of my user password?",
    "Where do I find my S3 access key and secret key? Not in the dashboard as far as I can see.",
    "Our backup node reports 'ANS1051I Invalid password' after the TSM server upgrade",
    "Do you support IAM-style bucket policies on the Ceph S3 endpoint?",
    "Getting 403 SignatureDoesNotMatch from rclone but s3cmd works with the same keys",
    "the token expired after an hour, is that configurable on your side?",
    "Kubernetes cluster upgrade to 1.29 went fine, thanks for the heads up",
    "I think the bearer token in our CI variable has expired, regenerating it now",
    "Is the secret key shown only once when creating the credential? I missed it.",
    "Can you check ticket #{num}? No update since Tuesday.".replace("{num}", "§num§"),
    "Does dsmc support passwordaccess generate on Windows Server 2022?",
    "Someone pasted a password here earlier and the bot removed it, good catch",
    "Please use docs.safespring.com for the rotation procedure, it's under Compute > Credentials",
    "status.safespring.com says all green but our volumes are stuck in 'attaching'",
    "ok the password is wrong, I'll ask our admin to reset it",
    "My password is not accepted by the openstack CLI but works in Horizon, any idea?",
    "is it ok to share the access key id with you? (not the secret obviously)",
    "Our TSM password was changed by passwordaccess generate, do we need to do anything?",
    "We have OS_PASSWORD set in the environment but the CLI still prompts",
    "unset OS_PASSWORD and OS_TOKEN before using the application credential, otherwise it mixes auth methods",
    "Remember: never paste your clouds.yaml with the password field filled in here!",
    "The kubeconfig from the portal has a token that expires after 24h, right?",
    "private key permissions are too open, fixed with chmod 600 ~/.ssh/id_ed25519",
    "Which key type do you recommend for new keypairs, ed25519 or rsa 4096?",
    "the secret is stored in our vault, we reference it via an env var in the pipeline",
    "Our API key for the monitoring integration stopped working yesterday",
    "There's a new password policy: 90 days max age, 12 chars min, can't reuse last 5.",
    "The 'passphrase' prompt appears when I use my ssh key from the jump host",
    "I can log in with my password but 2FA code is rejected",
    "our nodes register to the backup server with a node password that is generated, right?",
    "key rotation done on all 14 buckets, will monitor for errors",
    "token issue works, server list hangs for 60 s then times out",
    "Nice, the 20 GB/s aggregate throughput on the new S3 cluster is impressive",
    # hashes and checksums
    "§sha256§  ubuntu-24.04-server-cloudimg-amd64.img",
    "sha256sum matches: §sha256§",
    "md5 of the uploaded object is §hex32§ but the ETag is different, because of multipart?",
    'ETag: "§hex32§-12"',
    '"ETag": "\\"§hex32§\\"",',
    "Image checksum in glance: §hex32§, os_hash_value §sha256§§sha256§",
    "git commit §hex40§ broke the heat template, reverting to §hex40§",
    "commit §hex40§\nAuthor: Ops <ops@customer.se>\nDate:   Tue Nov 24 09:12:44 2026 +0100\n\n    bump openstacksdk",
    "docker pull registry.customer.se/app@sha256:§sha256§",
    "sha1sum backup.tar.gz -> §hex40§",
    "Both nodes have the same file, sha256 §sha256§, so the copy is fine",
    "The signature check failed: expected §sha256§ got §sha256§",
    # ids
    "Instance §uuid§ stuck in BUILD for 40 minutes",
    "Volume §uuid§ shows 'error_deleting', can you reset its state?",
    "Please look at request §req§, we got a 500 on server create",
    "nova-api: ERROR ... §req§ §hex32§ §hex32§ - default default] Unexpected exception",
    "The port §uuid§ on network §uuid§ has no fixed IP anymore",
    "project id §hex32§, user id §hex32§",
    "Our project is §hex32§ in sto1. Quota increase for cores please (64 -> 128).",
    "Matrix event §eventid§ in §roomid§ was the one with the stack trace",
    "x-amz-request-id: §txid§",
    "RequestId: §txid§, HostId: §b64_76§",
    "trace id §hex32§ span §hex8§§hex8§",
    "Floating IP §pubip§ (port §uuid§) not reachable from outside",
    "The keypair fingerprint is 3f:9a:1c:§hex8§ hmm wait that's the md5 form, sha256 is §fp§",
    "Host key for bastion changed: §fp§. Expected after the rebuild?",
    "subnet §uuid§ cidr 10.0.0.0/24 gateway 10.0.0.1 dns 1.1.1.1",
    "GPG key ID §hex8§§hex8§ used to sign the release tarball",
    "Stack §uuid§ CREATE_FAILED: Resource CREATE failed: Conflict: resources.port: §req§",
    "Access key ID §upper20§ works with s3cmd ls, but uploads give AccessDenied. Bucket policy issue?",
    "Our access key is §akia§ according to aws configure list; the secret is in the credentials file.",
    "aws configure list\n      Name                    Value             Type    Location\n      ----                    -----             ----    --------\n   profile                safespring           manual    --profile\naccess_key     ****************§upper20§ shared-credentials-file\nsecret_key     ****************KQxz shared-credentials-file\n    region                sto2              config-file    ~/.aws/config",
    # openstack CLI output
    "+-------------------------------------+--------------------------------------+\n| Field                               | Value                                |\n+-------------------------------------+--------------------------------------+\n| OS-EXT-STS:power_state              | Running                              |\n| addresses                           | customer-net=10.0.1.23               |\n| flavor                              | b2.c4r8                              |\n| id                                  | §uuid§ |\n| image                               | ubuntu-24.04 (§uuid§) |\n| key_name                            | deploy-2024                          |\n| status                              | ACTIVE                               |\n+-------------------------------------+--------------------------------------+",
    "openstack server list\n+--------------------------------------+-----------+--------+-----------------------+------------+----------+\n| ID                                   | Name      | Status | Networks              | Image      | Flavor   |\n+--------------------------------------+-----------+--------+-----------------------+------------+----------+\n| §uuid§ | web-01    | ACTIVE | public=§pubip§ | ubuntu-24  | l2.c2r4  |\n| §uuid§ | db-01     | SHUTOFF| private=§ip§   | rocky-9    | b2.c8r16 |\n+--------------------------------------+-----------+--------+-----------------------+------------+----------+",
    "openstack application credential list\n+----------------------------------+-----------+----------------------------------+-------------+------------+\n| ID                               | Name      | Project ID                       | Description | Expires At |\n+----------------------------------+-----------+----------------------------------+-------------+------------+\n| §hex32§ | terraform | §hex32§ | CI deploys  | None       |\n+----------------------------------+-----------+----------------------------------+-------------+------------+",
    "openstack role assignment list --user me --names\n+--------+--------------------+-------+-------------------+--------+\n| Role   | User               | Group | Project           | Domain |\n+--------+--------------------+-------+-------------------+--------+\n| member | me@customer.se@... |       | customer.se@sto1  |        |\n+--------+--------------------+-------+-------------------+--------+",
    "openstack role assignment list\n+----------------------------------+----------------------------------+-------+----------------------------------+\n| Role                             | User                             | Group | Project                          |\n+----------------------------------+----------------------------------+-------+----------------------------------+\n| §hex32§ | §hex32§ |       | §hex32§ |\n| §hex32§ | §hex32§ |       | §hex32§ |\n+----------------------------------+----------------------------------+-------+----------------------------------+",
    "openstack user show me\n+---------------------+----------------------------------+\n| Field               | Value                            |\n+---------------------+----------------------------------+\n| domain_id           | §hex32§ |\n| enabled             | True                             |\n| id                  | §hex32§ |\n| name                | me@customer.se                   |\n| password_expires_at | 2027-02-01T00:00:00.000000       |\n+---------------------+----------------------------------+",
    "openstack token issue fails with: The request you have made requires authentication. (HTTP 401) (Request-ID: §req§)",
    "openstack volume list --long\n| §uuid§ | data-01 | in-use | 500 | fast | false | Attached to db-01 on /dev/vdb |",
    "openstack image show ubuntu -c checksum -c os_hash_value\n| checksum      | §hex32§ |\n| os_hash_value | §sha256§§sha256§ |",
    "openstack ec2 credentials create fails with 'You are not authorized to perform the requested action: identity:ec2_create_credential'",
    "openstack keypair show deploy\n| fingerprint | 9c:1f:§hex8§:aa:01 |\n| name        | deploy |\n| type        | ssh |\n| user_id     | §hex32§ |",
    "openstack network agent list shows all agents alive :-) but DHCP still doesn't hand out addresses",
    "`openstack server create --flavor b2.c2r4 --image ubuntu-24.04 --key-name deploy --network customer-net web-02` -> Quota exceeded for instances",
    "openstack security group rule list default\n| §uuid§ | tcp | 0.0.0.0/0 | 22:22 | ingress |\n| §uuid§ | None | None | | egress |",
    # openrc / clouds.yaml without secrets
    '#!/usr/bin/env bash\nexport OS_AUTH_URL=https://v2.dashboard.sto1.safespring.com:5000/v3\nexport OS_PROJECT_ID=§hex32§\nexport OS_PROJECT_NAME="customer.se"\nexport OS_USER_DOMAIN_NAME="customer.se"\nexport OS_USERNAME="ops@customer.se"\necho "Please enter your OpenStack Password for project $OS_PROJECT_NAME as user $OS_USERNAME: "\nread -sr OS_PASSWORD_INPUT\nexport OS_PASSWORD=$OS_PASSWORD_INPUT\nexport OS_REGION_NAME="sto1"\nexport OS_INTERFACE=public\nexport OS_IDENTITY_API_VERSION=3',
    'export OS_PASSWORD="${OS_PASSWORD_INPUT}"',
    "OS_PASSWORD=<your password> openstack server list",
    'clouds:\n  safespring:\n    auth:\n      auth_url: https://v2.dashboard.sto2.safespring.com:5000/v3\n      username: ops@customer.se\n      password: "{{ vault_os_password }}"\n      project_name: customer.se\n      user_domain_name: customer.se\n      project_domain_name: customer.se\n    region_name: sto2\n    interface: public\n    identity_api_version: 3',
    "clouds:\n  sto1:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://v2.dashboard.sto1.safespring.com:5000/v3\n      application_credential_id: §hex32§\n      application_credential_secret: <secret from creation output>\n    region_name: sto1",
    "my clouds.yaml:\n```\nclouds:\n  prod:\n    auth:\n      auth_url: https://v2.dashboard.sto1.safespring.com:5000/v3\n      username: deploy@customer.se\n      project_name: customer.se\n      user_domain_name: customer.se\n    region_name: sto1\n```\nand secure.yaml has the password, which I won't paste :)",
    "clouds:\n  prod:\n    auth:\n      auth_url: https://v2.dashboard.sto1.safespring.com:5000/v3\n      username: deploy@customer.se\n      password: ********\n      project_name: customer.se",
    "application_credential_secret: REDACTED  # posted the rest so you can see the auth_url",
    "openstack --os-cloud prod --os-password-file ~/.config/openstack/pw server list",
    'In terraform: provider "openstack" { cloud = "safespring" } and password = var.os_password in tfvars (not committed)',
    "password = var.os_password",
    "ansible: os_password: \"{{ lookup('env', 'OS_PASSWORD') }}\"",
    "  password: {{ .Values.openstack.password | quote }}",
    "conn = openstack.connect(cloud='safespring', password=os.environ['OS_PASSWORD'])",
    "env | grep OS_\nOS_AUTH_URL=https://v2.dashboard.sto1.safespring.com:5000/v3\nOS_PROJECT_NAME=customer.se\nOS_USERNAME=ops@customer.se\nOS_REGION_NAME=sto1\nOS_INTERFACE=public\nOS_IDENTITY_API_VERSION=3\nPWD=/home/ubuntu/deploy",
    "Error: Missing value auth-url required for auth plugin password",
    "keystoneauth1.exceptions.http.Unauthorized: The request you have made requires authentication. (HTTP 401) (Request-ID: §req§)",
    # S3 configs with placeholders
    "[default]\naccess_key = <your access key>\nsecret_key = <your secret key>\nhost_base = s3.sto1.safedc.net\nhost_bucket = s3.sto1.safedc.net\nuse_https = True\nsignature_v2 = False",
    "[default]\naccess_key = YOUR_ACCESS_KEY\nsecret_key = YOUR_SECRET_KEY\nhost_base = s3.sto2.safedc.net\nhost_bucket = s3.sto2.safedc.net",
    "[safespring]\ntype = s3\nprovider = Ceph\nenv_auth = true\naccess_key_id =\nsecret_access_key =\nendpoint = https://s3.sto1.safedc.net\nacl = private",
    "[safespring]\ntype = s3\nprovider = Ceph\naccess_key_id = XXXXXXXXXXXXXXXXXXXX\nsecret_access_key = xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\nendpoint = https://s3.sto2.safedc.net",
    "rclone config show\n[safespring]\ntype = s3\nprovider = Ceph\naccess_key_id = §upper20§\nsecret_access_key = *** ENCRYPTED ***\nendpoint = https://s3.sto1.safedc.net",
    "[default]\naws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n\nthis is the example from the AWS docs, which file do I put it in?",
    "aws --endpoint-url https://s3.sto1.safedc.net s3 ls s3://backups/ --profile safespring\nAn error occurred (InvalidAccessKeyId) when calling the ListObjectsV2 operation: Unknown",
    'aws s3api list-objects-v2 --bucket logs --max-items 2\n{\n    "Contents": [\n        {\n            "Key": "2026/11/25/app.log.gz",\n            "LastModified": "2026-11-25T23:59:02.000Z",\n            "ETag": "\\"§hex32§\\"",\n            "Size": 1048576,\n            "StorageClass": "STANDARD"\n        }\n    ],\n    "NextToken": "eyJNYXJrZXIiOiBudWxsLCAiYm90b190cnVuY2F0ZV9hbW91bnQiOiAyfQ=="\n}',
    "s3cmd info s3://backups/db.dump\n   File size: 4294967296\n   Last mod:  Wed, 25 Nov 2026 02:00:13 GMT\n   MIME type: application/octet-stream\n   Storage:   STANDARD\n   MD5 sum:   §hex32§\n   SSE:       none\n   Policy:    none\n   CORS:      none\n   ACL:       ops: FULL_CONTROL",
    "s3cmd --configure asks 'Access Key:' and 'Secret Key:' - I'll fill them from the portal",
    "mc alias set safespring https://s3.sto1.safedc.net ACCESS_KEY SECRET_KEY --api S3v4",
    "mc alias set safespring https://s3.sto1.safedc.net $S3_ACCESS_KEY $S3_SECRET_KEY",
    "Presigned link for the support bundle: https://s3.sto1.safedc.net/support/bundle.tar.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=§upper20§%2F20261126%2Fsto1%2Fs3%2Faws4_request&X-Amz-Date=20261126T101500Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=§sha256§",
    "Authorization: AWS4-HMAC-SHA256 Credential=§upper20§/20261126/sto1/s3/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=§sha256§",
    "DEBUG: Signature v2: Authorization: AWS §upper20§:§b64_28§",
    "botocore: x-amz-content-sha256: §sha256§ x-amz-date: 20261126T101500Z",
    "s3 = boto3.client('s3', endpoint_url='https://s3.sto2.safedc.net', aws_access_key_id=os.environ['AWS_ACCESS_KEY_ID'], aws_secret_access_key=os.environ['AWS_SECRET_ACCESS_KEY'])",
    "export AWS_SECRET_ACCESS_KEY=$(pass show safespring/s3-secret)",
    'radosgw-admin says: "keys": [], "swift_keys": [] for the new user, so no key yet?',
    "S3 error 403 (SignatureDoesNotMatch): The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    "restic -r s3:https://s3.sto1.safedc.net/restic-repo snapshots\nrepository §hex8§ opened (version 2, compression level auto)\nID        Time                 Host        Tags        Paths\n§hex8§  2026-11-25 02:00:04  db-01                   /var/lib/postgresql",
    "restic: Fatal: wrong password or no key found",
    'Bucket lifecycle: {"Rules": [{"ID": "expire-logs", "Status": "Enabled", "Expiration": {"Days": 30}, "Filter": {"Prefix": "logs/"}}]}',
    "Versioning is Enabled on bucket 'backups', MFADelete Disabled",
    # kubernetes
    "kubectl get pods -n ingress-nginx\nNAME                                        READY   STATUS    RESTARTS   AGE\ningress-nginx-controller-§podsuffix§   1/1     Running   0          3d\ningress-nginx-admission-create-§podsuffix§   0/1     Completed 0          3d",
    "kubectl get secrets -n ci\nNAME                  TYPE                                  DATA   AGE\ndeployer-token-x8k2q  kubernetes.io/service-account-token   3      41d\nregistry-creds        kubernetes.io/dockerconfigjson        1      41d\ns3-backup             Opaque                                2      12d",
    "kubectl config view\napiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: DATA+OMITTED\n    server: https://k8s.customer.se:6443\n  name: prod\ncontexts:\n- context:\n    cluster: prod\n    user: deployer\n  name: prod\ncurrent-context: prod\nkind: Config\npreferences: {}\nusers:\n- name: deployer\n  user:\n    client-certificate-data: DATA+OMITTED\n    client-key-data: DATA+OMITTED",
    "kubectl config view\nusers:\n- name: oidc\n  user:\n    token: REDACTED",
    "apiVersion: v1\nclusters:\n- cluster:\n    certificate-authority-data: §certdata§\n    server: https://k8s.customer.se:6443\n  name: prod\n\n(cut the users part, the CA is public anyway)",
    "users:\n- name: deployer\n  user:\n    client-certificate-data: §certdata§\n    client-key: /home/ci/.kube/deployer.key",
    'kubectl describe pod web-§podsuffix§\nEvents:\n  Warning  FailedMount  2m  kubelet  MountVolume.SetUp failed for volume "data" : rpc error: code = Internal desc = attach volume §uuid§ failed',
    "kubectl logs cinder-csi-controllerplugin-0 -c cinder-csi-plugin | tail -2\nE1126 10:12:01.123456 1 controller.go:85] Failed to CreateVolume: Expected HTTP response code [202] when accessing [POST https://v2.dashboard.sto1.safespring.com:8776/v3/§hex32§/volumes], but got 413\nI1126 10:12:01.123500 1 utils.go:88] GRPC error: rpc error: code = Internal",
    "kubeadm join 10.0.0.10:6443 --token <token> --discovery-token-ca-cert-hash sha256:<hash>",
    "kubeadm token list\nTOKEN     TTL         EXPIRES                USAGES                   DESCRIPTION\n<none>\n(so it expired, I'll create a new one and not paste it)",
    "error: You must be logged in to the server (Unauthorized) - our OIDC token must have expired",
    "secretKeyRef:\n  name: s3-backup\n  key: secret_key",
    "env:\n- name: AWS_SECRET_ACCESS_KEY\n  valueFrom:\n    secretKeyRef:\n      name: s3-backup\n      key: secret",
    "helm upgrade --install velero vmware-tanzu/velero --set credentials.useSecret=true --set credentials.existingSecret=velero-s3",
    "kubectl create secret generic s3-backup --from-file=credentials=./credentials-velero",
    "imagePullSecrets:\n- name: registry-creds",
    "kubectl get nodes -o wide\nNAME          STATUS   ROLES           AGE   VERSION   INTERNAL-IP   OS-IMAGE\nk8s-master-0  Ready    control-plane   90d   v1.29.4   §ip§     Ubuntu 22.04.4 LTS\nk8s-worker-0  Ready    <none>          90d   v1.29.4   §ip§     Ubuntu 22.04.4 LTS",
    "kubectl get events --field-selector type=Warning\nLAST SEEN   TYPE      REASON             OBJECT                    MESSAGE\n5m          Warning   FailedScheduling   pod/api-§podsuffix§   0/3 nodes are available: 3 Insufficient memory.",
    "The ServiceAccount token is mounted at /var/run/secrets/kubernetes.io/serviceaccount/token, and it's projected with 1h expiry",
    "Unable to connect to the server: x509: certificate signed by unknown authority",
    'WWW-Authenticate: Bearer realm="https://registry.customer.se/token",service="registry.customer.se",scope="repository:app:pull"',
    'curl -H "Authorization: Bearer $TOKEN" https://api.customer.se/health',
    'curl -H "X-Auth-Token: $OS_TOKEN" https://v2.dashboard.sto1.safespring.com:8774/v2.1/servers',
    "curl -H 'Authorization: Bearer <your token>' https://portal.safespring.com/api/v1/projects",
    "The JWT header is eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9 which decodes to RS256, so the alg is fine",
    "user-data is base64: I2Nsb3VkLWNvbmZpZwpwYWNrYWdlczoKICAtIG5naW54CiAgLSBodG9wCnJ1bmNtZDoKICAtIHN5c3RlbWN0bCBlbmFibGUgLS1ub3cgbmdpbngK",
    "echo 'eyJhdXRocyI6IHt9fQ==' | base64 -d  -> {\"auths\": {}} so the docker config is empty",
    "the sample token from jwt.io eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c validates in their debugger, ours doesn't",
    # keys that are public
    "ssh-rsa §ssh_pub§ deploy@ci",
    "Please add this public key to the VM: ssh-ed25519 §ed_pub§ anna@laptop",
    "-----BEGIN CERTIFICATE-----\n§pem§\n-----END CERTIFICATE-----",
    "-----BEGIN PUBLIC KEY-----\n§pem_ec§\n-----END PUBLIC KEY-----",
    "-----BEGIN CERTIFICATE REQUEST-----\n§pem§\n-----END CERTIFICATE REQUEST-----",
    "openssl x509 -in cert.pem -noout -fingerprint -sha256\nsha256 Fingerprint=AB:CD:§hex8§:12:34:56:78",
    "my key file starts with -----BEGIN OPENSSH PRIVATE KEY----- but puttygen can't load it, which format does it need?",
    'Load key "/home/anna/.ssh/id_rsa": invalid format',
    "ssh -i ~/.ssh/deploy_ed25519 ubuntu@§pubip§ -> Permission denied (publickey).",
    "The host key algorithm: ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBB§b64_76§ root@bastion",
    # TSM / backup
    "dsmc q sess\nIBM Spectrum Protect\nCommand Line Backup-Archive Client Interface\n  Client Version 8, Release 1, Level 21.0\nSession established with server TSM1: Linux/x86_64\n  Server Version 8, Release 1, Level 20.000\n  Server date/time: 11/26/2026 10:21:44  Last access: 11/26/2026 02:00:13\n\nNode Name: CUSTOMER-DB01\nSession established with server TSM1",
    "SErvername  TSM1\n   COMMMethod         TCPip\n   TCPPort            1600\n   TCPServeraddress   tsm1.backup.sto2.safedc.net\n   PASSWORDACCESS     GENERATE\n   NODENAME           CUSTOMER-DB01\n   SSLREQUIRED        YES\n   SSL                YES",
    "dsm.sys has PASSWORDACCESS GENERATE and PASSWORDDIR /etc/adsm, yet dsmcad keeps asking",
    "ANS2050E IBM Spectrum Protect needs to prompt for the password but cannot prompt because the process is running in the background.",
    "ANS1025E Session rejected: Authentication failure",
    'ANS1051I Invalid password\nPlease enter password for user id "CUSTOMER-DB01":',
    "dsmc incremental /data\nTotal number of objects inspected:    1,234,567\nTotal number of objects backed up:        4,321\nTotal number of objects updated:              0\nTotal number of bytes transferred:       12.34 GB\nElapsed processing time:               00:41:12",
    "dsmc set password   <- run it interactively, it asks for the old and new one",
    "dsmc set password <oldpw> <newpw>  per the docs, right?",
    "The cloutility portal shows the node as 'Active' but last backup 6 days ago",
    "ANR2017I Administrator ADMIN issued command: QUERY NODE CUSTOMER-DB01 F=D",
    "dsmadmc -id=admin -password=<password> q node",
    'dsmc q backup "/data/*" -subdir=yes | tail\n   12,345  B  11/25/2026 02:01:44    /data/app/config.yml  Active',
    "backup of node CUSTOMER-WEB02 failed with ANS1311E Server out of data storage space",
    "Our dsm.opt:\nSERVERNAME TSM1\nDOMAIN ALL-LOCAL\nEXCLUDE.DIR /proc\nRESOURCEUTILIZATION 4\nPASSWORDACCESS GENERATE",
    "ENCRYPTIONTYPE AES256 and ENCRYPTKEY GENERATE in dsm.opt, is the key stored on your side too?",
    "Please update node CUSTOMER-DB01 to the new domain, we changed retention",
    "register node names follow the pattern CUSTOMER-<hostname>, I assume?",
    "PASSWORD option in dsm.opt is not needed with PASSWORDACCESS GENERATE",
    "Backup restore test passed, 2.1 TB restored in 5h 12m",
    # logs
    "2026-11-26T09:12:03.123Z ERROR [api] auth failed for user=ops@customer.se reason=invalid_password ip=§pubip§",
    "Nov 26 09:12:03 web-01 sshd[2231]: Failed password for invalid user admin from §pubip§ port 52314 ssh2",
    "Nov 26 09:12:05 web-01 sshd[2233]: Accepted publickey for ubuntu from §pubip§ port 52320 ssh2: ED25519 §fp§",
    'FATAL:  password authentication failed for user "app"',
    'nginx: 10.0.3.4 - - [26/Nov/2026:10:01:02 +0100] "GET /api/v1/orders?page=2&token_hint=none HTTP/1.1" 200 5123 "-" "curl/8.5.0"',
    "cloud-init[812]: Cloud-init v. 24.1 running 'modules:config' at Thu, 26 Nov 2026 09:00:01 +0000. Up 12.3 seconds.",
    "cloud-init: ci-info: ++++++++++Authorized keys from /home/ubuntu/.ssh/authorized_keys for user ubuntu+++++++++++\nci-info: | Keytype |                Fingerprint (sha256)                | Options | Comment |\nci-info: | ssh-ed25519 | §hex12§:§hex12§:§hex12§ |    -    | anna@laptop |",
    "kernel: [ 1234.5678] EXT4-fs error (device vdb1): ext4_find_entry:1455: inode #2: comm ls: reading directory lblock 0",
    "libvirt: error : internal error: process exited while connecting to monitor",
    "neutron-openvswitch-agent: INFO neutron.agent.securitygroups_rpc [§req§ - - - - -] Security group member updated ['§uuid§']",
    'Traceback (most recent call last):\n  File "deploy.py", line 42, in <module>\n    conn.compute.create_server(**spec)\nopenstack.exceptions.HttpException: HttpException: 409: Client Error for url: https://v2.dashboard.sto1.safespring.com:8774/v2.1/servers, Quota exceeded for cores: Requested 8, but already used 60 of 64 cores',
    "postgres log: LOG:  connection authorized: user=app database=orders SSL enabled (protocol=TLSv1.3, cipher=TLS_AES_256_GCM_SHA384, bits=256)",
    "[2026-11-26 10:00:00,001] INFO Using password authentication with user 'backup' (password from env BACKUP_PASSWORD)",
    "Gitlab runner: ERROR: Job failed: exit code 1 (see https://gitlab.customer.se/ops/infra/-/jobs/§num§)",
    "terraform apply\nopenstack_compute_instance_v2.web[0]: Creating...\nopenstack_compute_instance_v2.web[0]: Still creating... [10s elapsed]\nError: Error waiting for instance (§uuid§) to become ready: unexpected state 'ERROR', wanted target 'ACTIVE'.",
    "ceph: HEALTH_WARN 1 slow ops, oldest one blocked for 31 sec, osd.12 has slow ops (that's on your side I guess?)",
    "mtr to s3.sto1.safedc.net shows loss at hop 6 (§pubip§), 12%",
    "ping §pubip§: 64 bytes from §pubip§: icmp_seq=1 ttl=57 time=2.31 ms",
    "systemd[1]: dsmcad.service: Main process exited, code=exited, status=12/n/a",
    "vault kv get secret/safespring/s3\n====== Metadata ======\nKey              Value\n---              -----\ncreated_time     2026-11-20T08:00:00Z\nversion          3",
    "sops -d secrets.enc.yaml > /dev/null && echo ok   # decrypt works, the key from age is fine",
    "Django: SECRET_KEY = os.environ['DJANGO_SECRET_KEY']",
    "fernet_keys rotated in our own keystone lab, nothing to do with your cloud",
    "our .env has DB_PASSWORD= (empty) in the example file and the real one is in the secret store",
    "DB_PASSWORD=${DB_PASSWORD:?must be set}",
    "postgres://app@db.internal:5432/orders?sslmode=require",
    "postgresql://app:${DB_PASSWORD}@db.internal:5432/orders",
    "amqp://guest:guest@localhost:5672/ is the default, we don't use it in prod",
    "https://docs.safespring.com/new/application-credentials/ explains the secret is only shown once",
    "https://status.safespring.com/incidents/§hex12§",
    "See https://docs.safespring.com/storage/s3cmd/ and https://docs.safespring.com/storage/rclone/",
    "https://user@git.customer.se/ops/infra.git works over https with a PAT prompt",
    "git clone git@github.com:customer/infra.git",
    "mysql -u app -p -h db.internal orders   (it prompts)",
    "docker login registry.customer.se -u ci --password-stdin < token.txt",
    "sshpass is not installed on the jump host, use keys instead",
    "htpasswd -B -c /etc/nginx/.htpasswd admin",
    "admin:$2y$05$§b64_43§ in .htpasswd - bcrypt hash, safe to share?",
    "password_hash: $6$rounds=4096$§hex8§$§b64_43§",
    "Is this the right setting? min_password_length: 12, password_expires_days: 90",
    'vars:\n  db_password: "{{ vault_db_password }}"\n  db_user: app',
    "database:\n  host: db.internal\n  user: app\n  password: ${DB_PASSWORD}\n  pool: 10",
    '"password": "",',
    "password: null",
    "password: xxxxxxx",
    "Password: [hidden]",
    "password=*****",
    "password: <redacted>",
    "--password '********'",
    "login failed: user=backup password=<hidden> host=§ip§",
    "[client]\nuser=backup\npassword\n\n(left the value out)",
    "passphrase: (none)",
    "WIFI at the office: SSID Safespring-Guest, password on the whiteboard",
    "The token: invalid. Error from portal after login, not sure why",
    "token: expired",
    "Token expires at 2026-11-26T18:00:00Z (8h validity)",
    '"token_type": "Bearer", "expires_in": 3600, "scope": "openid profile"',
    "api_key: ${MONITORING_API_KEY}",
    "X-Auth-Token: <token from openstack token issue>",
    "--os-token $(openstack token issue -f value -c id)",
    "export OS_TOKEN=$(openstack token issue -c id -f value)",
    # other technical
    "The new flavor names: b2.c2r4, b2.c4r8, l2.c8r32.1800 (local NVMe)",
    "GET /v1/AUTH_§hex32§/container/object -> 404, x-trans-id: §txid§",
    "UUIDs of the three instances: §uuid§ §uuid§ §uuid§",
    "ceph osd tree | head\nID  CLASS  WEIGHT     TYPE NAME\n-1         873.32373  root default\n-3          72.77698      host stor-01",
    "The base64 in the error is just the request body: eyJzZXJ2ZXIiOiB7Im5hbWUiOiAid2ViLTAzIiwgImZsYXZvclJlZiI6ICJiMi5jMnI0In19",
    "Session ID §hex32§§hex32§ - support asked me for it",
    "Order reference SS-§num§-§hex8§",
    "MAC fa:16:3e:§hex8§ on port §uuid§",
    "The error code is 0x8007000E",
    "ntp: offset -0.000231 s, frequency 12.345 ppm, stratum 2",
    "bucket name: customer-backups-§hex8§",
    "New VPN PSK is distributed via 1Password, not here",
    "We use age for sops; the public recipient is age1§hex40§abc",
    "IPv6 prefix 2a09:d400:0:§hex8§::/64 assigned to the router",
    "The volume type 'fast' uses the ssd pool, 'large' uses hdd",
    "Grafana dashboard: https://grafana.customer.se/d/§hex8§/s3?orgId=1&from=now-24h",
    "Sentry event id §hex32§",
    "VM console log:\n[  OK  ] Started OpenBSD Secure Shell server.\n[  OK  ] Reached target Multi-User System.\nUbuntu 24.04.1 LTS web-01 ttyS0\nweb-01 login:",
    "Password for 'https://gitlab.customer.se': (prompt hangs in CI)",
    "ssh-keygen -t ed25519 -C deploy -f ./deploy -N ''",
    "openssl rand -base64 32 > secret.txt (then store it in vault, don't paste it)",
    "The crc32c is §hex8§ for both copies",
    "AWS_ACCESS_KEY_ID=§upper20§ aws s3 ls   # secret comes from ~/.aws/credentials",
    "New instance ids for the migration: §uuid§ -> §uuid§",
    "Keystone catalog endpoint for object-store: https://s3.sto1.safedc.net/swift/v1/AUTH_§hex32§",
]

# ----------------------------------------------------------------------------------------------
# Messages with secrets: (expected kinds, template). All values are random and synthetic.
# ----------------------------------------------------------------------------------------------

SECRET: list[tuple[list[str], str]] = [
    # S3
    (
        ["S3 access/secret key pair"],
        "[default]\naccess_key = §upper20§\nsecret_key = §s3secret§\nhost_base = s3.sto1.safedc.net\nhost_bucket = s3.sto1.safedc.net\nuse_https = True",
    ),
    (
        ["S3 access/secret key pair"],
        "my .s3cfg, what's wrong?\n```\n[default]\naccess_key = §upper20§\naccess_token =\nbucket_location = US\nhost_base = s3.sto2.safedc.net\nhost_bucket = s3.sto2.safedc.net\nsecret_key = §s3secret§\nsignature_v2 = False\n```",
    ),
    (
        ["S3 access/secret key pair"],
        "[safespring]\ntype = s3\nprovider = Ceph\naccess_key_id = §upper20§\nsecret_access_key = §s3secret§\nendpoint = https://s3.sto1.safedc.net\nacl = private",
    ),
    (
        ["S3 access/secret key pair"],
        "[default]\naws_access_key_id = §akia§\naws_secret_access_key = §s3secret64§",
    ),
    (
        ["S3 access/secret key pair"],
        "AWS Access Key ID [None]: §upper20§\nAWS Secret Access Key [None]: §s3secret§\nDefault region name [None]: sto1\nDefault output format [None]: json",
    ),
    (
        ["S3 access/secret key pair"],
        'radosgw-admin user info --uid customer-backup\n{\n    "user_id": "customer-backup",\n    "display_name": "backup",\n    "keys": [\n        {\n            "user": "customer-backup",\n            "access_key": "§upper20§",\n            "secret_key": "§s3secret§"\n        }\n    ],\n    "swift_keys": []\n}',
    ),
    (
        ["S3 access/secret key pair"],
        "mc alias set safespring https://s3.sto1.safedc.net §upper20§ §s3secret§ --api S3v4",
    ),
    (
        ["S3 access/secret key pair"],
        "keys from the portal: §upper20§ / §s3secret§ - rclone says SignatureDoesNotMatch",
    ),
    (["S3 access/secret key pair"], "access: §upper20§\nsecret: §s3secret§"),
    (
        ["S3 access/secret key pair"],
        "s3cmd --access_key=§upper20§ --secret_key=§s3secret§ --host=s3.sto2.safedc.net --host-bucket=s3.sto2.safedc.net ls",
    ),
    (
        ["S3 access/secret key pair"],
        "export AWS_ACCESS_KEY_ID=§upper20§\nexport AWS_SECRET_ACCESS_KEY=§s3secret§\naws --endpoint-url https://s3.sto1.safedc.net s3 ls",
    ),
    (
        ["S3 access/secret key pair"],
        's3 = boto3.client("s3", endpoint_url="https://s3.sto1.safedc.net", aws_access_key_id="§upper20§", aws_secret_access_key="§s3secret§")',
    ),
    (["S3 secret key"], "the secret key is §s3secret§ if that helps you debug"),
    (
        ["S3 access/secret key pair"],
        "openstack ec2 credentials list\n+----------------------------------+----------------------------------+----------------------------------+----------------------------------+\n| Access                           | Secret                           | Project ID                       | User ID                          |\n+----------------------------------+----------------------------------+----------------------------------+----------------------------------+\n| §hex32§ | §hex32§ | §hex32§ | §hex32§ |\n+----------------------------------+----------------------------------+----------------------------------+----------------------------------+",
    ),
    (
        ["S3 access/secret key pair"],
        "openstack ec2 credentials create\n+------------+----------------------------------+\n| Field      | Value                            |\n+------------+----------------------------------+\n| access     | §hex32§ |\n| project_id | §hex32§ |\n| secret     | §hex32§ |\n| user_id    | §hex32§ |\n+------------+----------------------------------+",
    ),
    (
        ["S3 access/secret key pair"],
        "velero credentials file:\n[default]\naws_access_key_id=§upper20§\naws_secret_access_key=§s3secret§",
    ),
    (
        ["S3 access/secret key pair"],
        "restic env:\nAWS_ACCESS_KEY_ID=§upper20§\nAWS_SECRET_ACCESS_KEY=§s3secret§\nRESTIC_REPOSITORY=s3:https://s3.sto1.safedc.net/restic",
    ),
    (
        ["S3 access/secret key pair"],
        "cyberduck asks for Access Key ID §upper20§ and Secret Access Key: §s3secret§ but fails with 403",
    ),
    # OpenStack
    (
        ["OpenStack application credential secret"],
        "clouds:\n  sto1:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://v2.dashboard.sto1.safespring.com:5000/v3\n      application_credential_id: §hex32§\n      application_credential_secret: §appcred§\n    region_name: sto1",
    ),
    (
        ["OpenStack application credential secret"],
        "export OS_AUTH_TYPE=v3applicationcredential\nexport OS_AUTH_URL=https://v2.dashboard.sto2.safespring.com:5000/v3\nexport OS_APPLICATION_CREDENTIAL_ID=§hex32§\nexport OS_APPLICATION_CREDENTIAL_SECRET=§appcred§",
    ),
    (
        ["OpenStack application credential secret"],
        "openstack application credential create terraform\n+--------------+----------------------------------------------------------------------------------------+\n| Field        | Value                                                                                  |\n+--------------+----------------------------------------------------------------------------------------+\n| description  | None                                                                                   |\n| expires_at   | None                                                                                   |\n| id           | §hex32§                                                       |\n| name         | terraform                                                                              |\n| project_id   | §hex32§                                                       |\n| roles        | member                                                                                 |\n| secret       | §appcred§ |\n| unrestricted | False                                                                                  |\n+--------------+----------------------------------------------------------------------------------------+",
    ),
    (
        ["OpenStack application credential secret"],
        "openstack --os-auth-type v3applicationcredential --os-application-credential-id §hex32§ --os-application-credential-secret §appcred§ server list",
    ),
    (
        ["OpenStack application credential secret"],
        "openstack application credential create --secret §pw§ --role member ci-deploy",
    ),
    (
        ["OS_PASSWORD line"],
        "export OS_AUTH_URL=https://v2.dashboard.sto1.safespring.com:5000/v3\nexport OS_USERNAME=ops@customer.se\nexport OS_PASSWORD=§pw§\nexport OS_PROJECT_NAME=customer.se",
    ),
    (
        ["OS_PASSWORD line"],
        "OS_PASSWORD='§pw§' openstack server list fails with 401, am I doing it wrong?",
    ),
    (
        ["OS_PASSWORD line"],
        "openstack --os-username deploy@customer.se --os-password §pw§ --os-project-name customer.se token issue",
    ),
    (
        ["OS_PASSWORD line"],
        "env | grep OS_\nOS_AUTH_URL=https://v2.dashboard.sto1.safespring.com:5000/v3\nOS_USERNAME=ops@customer.se\nOS_PASSWORD=§pw§\nOS_REGION_NAME=sto1",
    ),
    (
        ["clouds.yaml password"],
        "clouds:\n  safespring:\n    auth:\n      auth_url: https://v2.dashboard.sto1.safespring.com:5000/v3\n      username: deploy@customer.se\n      password: §pw§\n      project_name: customer.se\n      user_domain_name: customer.se\n    region_name: sto1",
    ),
    (["clouds.yaml password"], 'secure.yaml:\nclouds:\n  prod:\n    auth:\n      password: "§pw§"'),
    (
        ["OpenStack auth token"],
        'curl -s -H "X-Auth-Token: §fernet§" https://v2.dashboard.sto1.safespring.com:8774/v2.1/servers',
    ),
    (
        ["OpenStack auth token"],
        "openstack token issue\n+------------+-----------------------------------------------------------------------------+\n| Field      | Value                                                                       |\n+------------+-----------------------------------------------------------------------------+\n| expires    | 2026-11-26T18:12:00+0000                                                    |\n| id         | §fernet§ |\n| project_id | §hex32§                                            |\n| user_id    | §hex32§                                            |\n+------------+-----------------------------------------------------------------------------+",
    ),
    (["OpenStack auth token"], "export OS_TOKEN=§fernet§"),
    # private keys
    (
        ["private key (PEM/OpenSSH)"],
        "-----BEGIN RSA PRIVATE KEY-----\n§pem§\n-----END RSA PRIVATE KEY-----",
    ),
    (
        ["private key (PEM/OpenSSH)"],
        "is this the right format for the keypair import?\n-----BEGIN OPENSSH PRIVATE KEY-----\n§openssh§\n-----END OPENSSH PRIVATE KEY-----",
    ),
    (
        ["private key (PEM/OpenSSH)"],
        "-----BEGIN PRIVATE KEY-----\n§pem§\n-----END PRIVATE KEY-----\nthat's the key for the TLS cert on the load balancer",
    ),
    (
        ["private key (PEM/OpenSSH)"],
        "-----BEGIN EC PRIVATE KEY-----\n§pem_ec§\n-----END EC PRIVATE KEY-----",
    ),
    (
        ["private key (PEM/OpenSSH)"],
        "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,§hex32§\n\n§pem§\n-----END RSA PRIVATE KEY-----",
    ),
    (
        ["private key (PEM/OpenSSH)"],
        "-----BEGIN OPENSSH PRIVATE KEY----- §openssh§ -----END OPENSSH PRIVATE KEY-----",
    ),
    (
        ["private key (PEM/OpenSSH)"],
        "PuTTY-User-Key-File-3: ssh-rsa\nEncryption: none\nComment: rsa-key-20261126\nPublic-Lines: 6\n§b64_76§\n§b64_76§\nPrivate-Lines: 14\n§b64_76§\n§b64_76§\nPrivate-MAC: §sha256§",
    ),
    (
        ["private key (PEM/OpenSSH)"],
        "-----BEGIN ENCRYPTED PRIVATE KEY-----\n§pem§\n-----END ENCRYPTED PRIVATE KEY-----",
    ),
    # tokens
    (["JWT"], "our CI gets this from the OIDC provider: §jwt§ - is the audience correct?"),
    (
        ["bearer token"],
        'curl -H "Authorization: Bearer §jwt§" https://k8s.customer.se:6443/api/v1/namespaces',
    ),
    (["bearer token"], "Authorization: Bearer §opaque§"),
    (["bearer token"], '{"access_token": "§opaque§", "token_type": "Bearer", "expires_in": 3600}'),
    (["bearer token"], "api_key: §opaque§"),
    (
        ["kubeconfig token"],
        "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    certificate-authority-data: §certdata§\n    server: https://k8s.customer.se:6443\n  name: prod\nusers:\n- name: deployer\n  user:\n    token: §jwt§",
    ),
    (
        ["kubeconfig token"],
        "kubectl describe secret deployer-token-x8k2q -n ci\nName:         deployer-token-x8k2q\nType:  kubernetes.io/service-account-token\n\nData\n====\nca.crt:     1099 bytes\nnamespace:  2 bytes\ntoken:      §jwt§",
    ),
    (
        ["kubeconfig token"],
        "kubeadm join 10.0.0.10:6443 --token §bootstrap§ --discovery-token-ca-cert-hash sha256:§sha256§",
    ),
    (
        ["kubeconfig token"],
        "kubectl --server https://k8s.customer.se:6443 --token=§opaque§ get pods",
    ),
    (
        ["kubeconfig client key"],
        "users:\n- name: admin\n  user:\n    client-certificate-data: §certdata§\n    client-key-data: §ckd§",
    ),
    (["kubeconfig client key"], "client-key-data: §ckd§"),
    # passwords
    (["password line"], "MYSQL_ROOT_PASSWORD=§pw§\nMYSQL_DATABASE=orders"),
    (["password line"], "database:\n  host: db.internal\n  user: app\n  password: §pw§"),
    (["password line"], '{"username": "admin", "password": "§pw§"}'),
    (["password line"], "the password is §pw§ for the grafana admin, can you check why it fails?"),
    (["password line"], "[client]\nuser=backup\npassword=§pw§"),
    (["password line"], "spring.datasource.password=§pw§"),
    (["password line"], "docker login registry.customer.se -u ci --password §pw§"),
    (["password in URL"], "DATABASE_URL=postgresql://app:§pw§@db.internal:5432/orders"),
    (
        ["password in URL"],
        "git remote -v\norigin  https://ci:§opaque§@gitlab.customer.se/ops/infra.git (fetch)",
    ),
    (["password line"], 'DB_PASSWORD="§pw§"'),
    (["password line"], "ldap bind: binddn=cn=svc,dc=customer,dc=se bindpw=x; password=§pw§"),
    # TSM / backup
    (["TSM/backup password"], "dsmc set password §tsmpw§ §tsmpw§"),
    (["TSM/backup password"], 'dsmadmc -id=admin -password=§tsmpw§ "q node CUSTOMER-DB01 f=d"'),
    (["TSM/backup password"], "dsmc q sess -password=§tsmpw§"),
    (
        ["TSM/backup password"],
        "SErvername  TSM1\n   TCPServeraddress   tsm1.backup.sto2.safedc.net\n   NODENAME           CUSTOMER-DB01\n   PASSWORD           §tsmpw§",
    ),
    (
        ["TSM/backup password"],
        "the node password for CUSTOMER-DB01 is §tsmpw§ if you need to test the session",
    ),
    (["TSM/backup password"], "update node CUSTOMER-DB01 §tsmpw§"),
    (["TSM/backup password"], "register node CUSTOMER-WEB03 §tsmpw§ domain=STANDARD"),
    (
        ["TSM/backup password"],
        "Backup client setup: nodename CUSTOMER-FS01, password: §tsmpw§, server tsm1.backup.sto2.safedc.net",
    ),
]


# ----------------------------------------------------------------------------------------------
# Batch 2: written after the detector's first version was frozen, as a held-out check. Its
# first-run numbers are recorded in README.md; the detector was then adjusted for what it missed.
# ----------------------------------------------------------------------------------------------

CLEAN_2: list[str] = [
    "velero values:\ncredentials:\n  existingSecret: velero-s3\n  secret_key: s3-backup-secret",
    "kubectl get secret s3 -o jsonpath='{.data.secret_key}' | base64 -d | wc -c   -> 40, so the length is right",
    "Bearer token authentication is enabled on the registry since the upgrade",
    "token: {{ .Values.token }}",
    "password_file: /etc/adsm/TSM.PWD",
    "sshd_config:\nChallengeResponseAuthentication no\nPasswordAuthentication yes\nPermitRootLogin prohibit-password",
    "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh ruser= rhost=§pubip§  user=root",
    "aws s3 cp s3://backups/db.dump . --sse-c AES256 --sse-c-key fileb://sse.key --endpoint-url https://s3.sto1.safedc.net",
    "Your Matrix access token is under Settings > Help & About; never share it with anyone, including us",
    "x-amz-id-2: §b64_76§",
    "Object key: uploads/2026/11/§uuid§.jpg returns NoSuchKey",
    "X-Hub-Signature-256: sha256=§sha256§",
    "client_secret: ${OIDC_CLIENT_SECRET}",
    "db_password: !vault |\n  $ANSIBLE_VAULT;1.1;AES256\n  §hex32§§hex32§\n  §hex32§§hex32§",
    "The secret_key field in the portal is blank after I refresh the page",
    "openstack secret list\n+--------------------------------------------------------------------------------+------+---------------------------+--------+\n| Secret href                                                                    | Name | Created                   | Status |\n+--------------------------------------------------------------------------------+------+---------------------------+--------+\n| https://v2.dashboard.sto1.safespring.com:9311/v1/secrets/§uuid§ | tls  | 2026-11-20T08:00:00+00:00 | ACTIVE |\n+--------------------------------------------------------------------------------+------+---------------------------+--------+",
    "kubeadm init --token-ttl 0 --pod-network-cidr 10.244.0.0/16",
    "keystone.conf: [token]\nexpiration = 3600\nprovider = fernet",
    "openstack server create --property password_set=true --image windows-2022 win-01",
    "nova get-password §uuid§ ~/.ssh/id_rsa returns an empty string for the Windows VM",
    "Please set a strong password, e.g. generated with `pwgen -s 20 1` and stored in your password manager",
    "rclone.conf has `pass = ` obscured, but that's for the crypt remote, not S3",
    "Access key §upper20§ was deleted by mistake yesterday, can it be restored?",
    "the token id starts with gAAAAA (I won't paste the rest) and the error is 401",
    "ssh-keygen -lf id_ed25519.pub\n256 §fp§ anna@laptop (ED25519)",
    "in the export the 'secret' column is blank for all ec2 credentials, is that expected?",
    "[2026-11-26 11:02:33] WARN s3.upload retry=3 key=backups/§hex8§/chunk-000123 etag=§hex32§ elapsed=12.3s",
    "GET /v3/auth/tokens 200 → X-Subject-Token header present (not pasting it)",
    "openstack coe cluster config prod --dir ~/.kube   # writes the config with certs",
    "certificate-authority-data is just the CA, the client-key-data is the part I removed before pasting",
    "htpasswd for the registry is managed by Ansible, password hash only",
    'DEBUG urllib3.connectionpool: https://s3.sto2.safedc.net:443 "PUT /backups/db.dump?partNumber=3&uploadId=2~§b64_28§ HTTP/1.1" 200 0',
    "uploadId 2~§b64_43§ never completed, can you abort it on your side?",
    "We use SOPS with age; key: age1§hex40§ (public recipient)",
    "The password reset mail says 'Your new password: (see portal)' - nothing in the portal though",
    "hvac client: token=os.environ['VAULT_TOKEN'] then client.secrets.kv.read_secret_version(path='s3')",
    "Set TSM node password expiry to 0 please (never expires), we use PASSWORDACCESS GENERATE",
    "node CUSTOMER-DB01 locked after too many password attempts, can you unlock it?",
    "dsmc set password -type=TSM   # prompts interactively",
    "mysql: [Warning] Using a password on the command line interface can be insecure.",
]

SECRET_2: list[tuple[list[str], str]] = [
    (
        ["S3 access/secret key pair"],
        'openstack credential list\n+----------------------------------+------+----------------------------------+-----------------------------------------------------------------------------------+----------------------------------+\n| ID                               | Type | User ID                          | Data                                                                              | Project ID                       |\n+----------------------------------+------+----------------------------------+-----------------------------------------------------------------------------------+----------------------------------+\n| §hex32§ | ec2  | §hex32§ | {"access": "§hex32§", "secret": "§hex32§"} | §hex32§ |\n+----------------------------------+------+----------------------------------+-----------------------------------------------------------------------------------+----------------------------------+',
    ),
    (
        ["password line"],
        "curl -H 'Authorization: Basic §basic§' https://grafana.customer.se/api/health",
    ),
    (
        ["S3 access/secret key pair"],
        "rclone config create safespring s3 provider Ceph access_key_id §upper20§ secret_access_key §s3secret§ endpoint https://s3.sto1.safedc.net",
    ),
    (["S3 access/secret key pair"], "s3cmd config: access key §upper20§ secret key §s3secret§"),
    (
        ["OS_PASSWORD line"],
        'variables:\n  OS_AUTH_URL: https://v2.dashboard.sto1.safespring.com:5000/v3\n  OS_USERNAME: ci@customer.se\n  OS_PASSWORD: "§pw§"',
    ),
    (
        ["kubeconfig token"],
        "users:\n- name: oidc\n  user:\n    auth-provider:\n      config:\n        client-id: kubernetes\n        id-token: §jwt§\n        refresh-token: §opaque§\n      name: oidc",
    ),
    (["password line"], '{"auths": {"registry.customer.se": {"auth": "§basic§"}}}'),
    (
        ["private key (PEM/OpenSSH)"],
        "-----BEGIN DSA PRIVATE KEY-----\n§pem§\n-----END DSA PRIVATE KEY-----",
    ),
    (["password line"], "lösenordet är §pw§ för admin-kontot"),
    (["TSM/backup password"], "dsmc set password -type=TSM §tsmpw§ §tsmpw§"),
    (["bearer token"], "export GITLAB_TOKEN=glpat-§opaque§"),
    (["S3 secret key"], "S3_SECRET=§s3secret§"),
]


# Batch 3: hard negatives for the rules added after batch 2 (prefixed tokens, Basic auth,
# *_TOKEN= variables, JSON "secret"), so they are checked for over-firing.
CLEAN_3: list[str] = [
    "env:\n  GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
    "CI_JOB_TOKEN is used for the registry login, no personal token needed",
    'WWW-Authenticate: Basic realm="Restricted"',
    "Authorization: Basic <base64 of user:pass>",
    '"secret": "velero-credentials",',
    '{"auths": {"registry.customer.se": {"auth": ""}}}',
    "SLACK_WEBHOOK_SECRET=<from vault>",
    "MATRIX_TOKEN=$(cat /run/secrets/matrix_token)",
    "syt_ tokens are Synapse access tokens, rotate them via the admin API",
    "glpat- prefix means GitLab personal access token; ours expired yesterday",
    "HMAC_SECRET_KEY=${HMAC_SECRET_KEY}",
    "id_token: null",
    "refresh_token: expired, need to log in again",
    "X-Auth-Token: gAAAA... (truncated)",
    "passwd: Authentication token manipulation error\npasswd: password unchanged",
    "Enter PEM pass phrase:",
    "ubuntu@§pubip§: Permission denied (publickey,password).",
    "sudo: 3 incorrect password attempts",
    "Changing password for ubuntu.\nCurrent password:\nNew password:\nRetype new password:\npasswd: password updated successfully",
    'docker: Error response from daemon: Get "https://registry.customer.se/v2/": unauthorized: incorrect username or password',
    "TOKEN_TTL=3600 and SESSION_SECRET comes from the k8s secret",
    '"secret": null, "access": null  <- ec2 credential blob after we deleted it',
]

# Batch 4: Swedish and mixed-language chat (many of the room's customers write Swedish), written
# after batch 3; first-run figures in README.md.
CLEAN_4: list[str] = [
    "Hej! Jag har glömt mitt lösenord till portalen, hur återställer jag det?",
    "lösenordet är fel enligt dsmc, men det fungerade igår",
    "Lösenord: se 1Password-valvet 'Drift', skriver det inte här",
    "Vi bytte lösenord för TSM-noden i fredags, sedan dess ANS1025E",
    "Tack, nu fungerar det! Felet var att OS_PASSWORD inte var satt i CI-miljön.",
    "Backupen av CUSTOMER-DB01 misslyckades i natt med ANS1311E, är lagringen full?",
    "Kan ni höja kvoten i sto2? Projekt-id §hex32§",
    "nyckeln (access key) är §upper20§ men hemligheten har jag inte kvar",
    "Instansen §uuid§ svarar inte på ping sedan 08:12",
    "Är det planerat underhåll på S3 i sto1 ikväll? status.safespring.com säger inget",
    "secret_key-fältet är tomt i portalen efter att jag laddade om sidan",
    "hemligheten visas bara en gång när man skapar application credential, eller hur?",
    "openstack server show win-01 -c adminPass\n+-----------+-------+\n| Field     | Value |\n+-----------+-------+\n| adminPass | None  |\n+-----------+-------+",
    "The adminPass field is only shown once at create time, right? I didn't save it.",
]

SECRET_4: list[tuple[list[str], str]] = [
    (["password line"], "lösenordet är §pw§ om ni behöver logga in och titta"),
    (["S3 access/secret key pair"], "här är nycklarna: §upper20§ och §s3secret§"),
    (["TSM/backup password"], "nodlösenordet för CUSTOMER-FS02: dsmc set password §tsmpw§ §tsmpw§"),
    (
        ["password line"],
        "openstack server create --image windows-2022 --flavor b2.c4r8 win-01\n+-----------------------------+------------------------------------------------+\n| Field                       | Value                                          |\n+-----------------------------+------------------------------------------------+\n| OS-EXT-STS:vm_state         | building                                       |\n| adminPass                   | §pw§                                   |\n| id                          | §uuid§           |\n| status                      | BUILD                                          |\n+-----------------------------+------------------------------------------------+",
    ),
]


# Rows whose label changed after they were written; ids (and values) are kept stable.
# clean-116: a SigV4 presigned URL with its signature grants access until it expires (issue 14).
RELABELLED: dict[str, list[str]] = {"clean-116": ["presigned object URL (S3/Swift)"]}


def build() -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    for i, t in enumerate(CLEAN, 1):
        rid = f"clean-{i:03d}"
        kinds = RELABELLED.get(rid)
        label = "secret" if kinds else "clean"
        rows.append({"id": rid, "label": label, "kinds": kinds or [], "text": fill(t)})
    for i, (kinds, t) in enumerate(SECRET, 1):
        rows.append({"id": f"secret-{i:03d}", "label": "secret", "kinds": kinds, "text": fill(t)})
    for i, t in enumerate(CLEAN_2, 1):
        rows.append({"id": f"clean2-{i:03d}", "label": "clean", "kinds": [], "text": fill(t)})
    for i, t in enumerate(CLEAN_3, 1):
        rows.append({"id": f"clean3-{i:03d}", "label": "clean", "kinds": [], "text": fill(t)})
    for i, t in enumerate(CLEAN_4, 1):
        rows.append({"id": f"clean4-{i:03d}", "label": "clean", "kinds": [], "text": fill(t)})
    for i, (kinds, t) in enumerate(SECRET_4, 1):
        row = {"id": f"secret4-{i:03d}", "label": "secret", "kinds": kinds, "text": fill(t)}
        rows.append(row)
    for i, (kinds, t) in enumerate(SECRET_2, 1):
        row = {"id": f"secret2-{i:03d}", "label": "secret", "kinds": kinds, "text": fill(t)}
        rows.append(row)
    return rows


def main() -> None:
    out = Path(__file__).with_name("corpus.jsonl")
    rows = build()
    with out.open("w") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    clean = sum(1 for r in rows if r["label"] == "clean")
    print(f"wrote {out}: {clean} clean, {len(rows) - clean} secret")


if __name__ == "__main__":
    main()
