"""TUNE half: templates the detector may be tuned on. `§name§` is a fresh `Values.name()`,
`§name.N§` reuses the N-th one inside a message. Written before any tuning (see README)."""

from __future__ import annotations

# (kind, template): every template here leaks one credential.
SECRET: list[tuple[str, str]] = [
    # AWS / S3
    (
        "aws",
        "[default]\naws_access_key_id = §akia§\naws_secret_access_key = §aws_secret§\nregion = eu-north-1",
    ),
    (
        "aws",
        "export AWS_ACCESS_KEY_ID=§akia§\nexport AWS_SECRET_ACCESS_KEY=§aws_secret§\naws s3 ls s3://backups --endpoint-url https://s3.sto2.safedc.net",
    ),
    ("aws", "tried with these creds §akia§ / §aws_secret§ still 403"),
    ("aws", "AccessKeyId: §asia§\nSecretAccessKey: §aws_secret§\nSessionToken: §session_token§"),
    ("presigned", "here's the link for the dump, valid 7 days: §sigv4_url§"),
    (
        "presigned",
        "curl -o out.tar '§sigv4_url§'\n  % Total    % Received % Xferd\n100 12.3M  100 12.3M 0 0 8.1M 0 0:00:01 --:--:--",
    ),
    (
        "presigned",
        "presigned url from boto3 gives SignatureDoesNotMatch when i open it in the browser?? §sigv2_url§",
    ),
    ("presigned", "Swift tempurl works from curl but not from the app: §swift_url§"),
    ("presigned", "generated with `swift tempurl GET 86400 /v1/...` -> §swift_url§"),
    # htpasswd
    ("htpasswd", "cat /etc/nginx/.htpasswd\nadmin:§apr1§\nmonitor:§apr1§"),
    (
        "htpasswd",
        "our htpasswd for the registry:\n```\nregistry:§bcrypt§\n```\nbut docker login fails with 401",
    ),
    (
        "htpasswd",
        "AuthUserFile line points at /etc/apache2/.htpasswd which has `kalle:§sha_ht§` in it, should that work with AuthBasicProvider file?",
    ),
    ("htpasswd", "$ htpasswd -nbB deploy 'hunter' \ndeploy:§bcrypt§"),
    # database URLs
    ("dburl", "DATABASE_URL=postgres://§user§:§password§@§host§:5432/app_prod"),
    (
        "dburl",
        "sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) connection to server failed\nengine = create_engine('postgresql+psycopg2://§user§:§password§@§host§/metrics')",
    ),
    (
        "dburl",
        'mongo "mongodb+srv://§user§:§password§@cluster0.abcd1.mongodb.net/test?retryWrites=true" hangs forever',
    ),
    ("dburl", "CELERY_BROKER_URL = 'amqp://§user§:§password§@§host§:5672//'"),
    (
        "dburl",
        "redis-cli -u redis://default:§password§@§host§:6379/0 ping\nError: Connection reset by peer",
    ),
    (
        "dburl",
        "spring.datasource.url=jdbc:mysql://§host§:3306/shop\nspring.datasource.username=shop\nspring.datasource.password=§password§",
    ),
    # basic auth
    ("basic", "curl -u §user§:§password§ https://api.customer.se/v1/health -v"),
    (
        "basic",
        "> GET /api/v4/projects HTTP/1.1\n> Host: git.customer.se\n> Authorization: Basic §basic§\n> User-Agent: curl/8.5.0\n< HTTP/1.1 401 Unauthorized",
    ),
    (
        "basic",
        "history | tail -3\n 1021  ls\n 1022  curl --user §user§:§password§ -X POST https://rt.customer.se/REST/2.0/ticket\n 1023  history | tail -3",
    ),
    # passwords in prose / short yaml
    ("prose", "the password for the admin user is §password§ if you need to log in and check"),
    (
        "prose",
        "Hej! Lösenordet är §password§ för root på maskinen, kan ni kolla varför ssh inte funkar?",
    ),
    ("prose", "passordet er §password§ , brukernavn §user§. Fungerer ikke fra jobben"),
    ("prose", "I set the pasword to §password§ but horizon still says invalid credentials"),
    ("prose", "pw is §password§ btw"),
    ("yaml", "grafana:\n  admin:\n    user: admin\n    pass: §password§\n  port: 3000"),
    ("yaml", "smtp:\n  host: smtp.customer.se\n  user: noreply\n  pw: §password§"),
    ("yaml", "  webhook:\n    secret: §password§\n    url: https://ci.customer.se/hook"),
    (
        "openstack",
        "openstack ec2 credentials create\n+------------+----------------------------------+\n| Field      | Value                            |\n+------------+----------------------------------+\n| access     | §hex.1§ |\n| project_id | §hex32§ |\n| secret     | §hex32§ |\n| user_id    | §hex32§ |\n+------------+----------------------------------+".replace(
            "§hex.1§", "§hex32§"
        ),
    ),
    (
        "openstack",
        "openstack user create --project demo --password-prompt bob ... nah I used --password, output:\n| Field    | Value |\n| name     | bob   |\n| password | §password§ |",
    ),
    # webhooks
    (
        "webhook",
        "alertmanager receiver:\n  slack_configs:\n  - api_url: §slack_hook§\n    channel: '#ops'",
    ),
    ("webhook", "discord notifications stopped: POST §discord_hook§ returns 404"),
    ("webhook", "Teams connector url: §teams_hook§"),
    ("webhook", "mattermost incoming hook for the backup reports: §mm_hook§"),
    # s3cmd
    ("s3cmd", "s3cmd --access_key=§akia§ --secret_key=§aws_secret§ --host=s3.sto2.safedc.net ls"),
    (
        "s3cmd",
        "~/.s3cfg:\n[default]\naccess_key = §akia§\nhost_base = s3.sto1.safedc.net\nhost_bucket = s3.sto1.safedc.net\nsecret_key = §aws_secret§\nuse_https = True",
    ),
    # private keys
    ("privkey", "my id_rsa, does it look broken?\n§pem_rsa§"),
    ("privkey", "§pem_ec§"),
    ("privkey", "ssh -i key.pem fails, key is\n§openssh§"),
    ("privkey", "putty says 'unable to use key file' with this:\n§ppk§"),
    ("privkey", "tls.key for nginx:\n§pem_pkcs8§"),
    (
        "privkey",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: web-tls\ntype: kubernetes.io/tls\ndata:\n  tls.crt: §tls_crt_b64§\n  tls.key: §tls_key_b64§",
    ),
    # tokens
    ("kube", "users:\n- name: ci\n  user:\n    token: §jwt§"),
    (
        "kube",
        "kubectl --token=§bootstrap§ get nodes\nerror: You must be logged in to the server (Unauthorized)",
    ),
    ("jwt", "the api returns 401 with my token §jwt§ , expired?"),
    ("github", "git clone https://§github§@github.com/customer/infra.git"),
    ("github", "GITHUB_TOKEN=§github§ gh release list"),
    ("github", "token: §github_pat§"),
    ("slack", "SLACK_BOT_TOKEN=§slack_token§"),
    (
        "slack",
        "bot crashes on start, `slack_sdk.errors.SlackApiError: invalid_auth` with §slack_token§",
    ),
    (
        "gitlab",
        "gitlab-runner register --url https://gitlab.customer.se --registration-token §glpat§",
    ),
    (
        "appcred",
        "export OS_AUTH_TYPE=v3applicationcredential\nexport OS_APPLICATION_CREDENTIAL_ID=§appcred_id§\nexport OS_APPLICATION_CREDENTIAL_SECRET=§appcred_secret§",
    ),
    (
        "ospassword",
        "export OS_USERNAME=ops@customer.se\nexport OS_PASSWORD='§password§'\nopenstack server list",
    ),
    (
        "clouds",
        "clouds:\n  safespring:\n    auth:\n      auth_url: https://v2.dashboard.sto1.safespring.com:5000/v3\n      username: ops@customer.se\n      password: §password§\n      project_name: customer.se",
    ),
    (
        "tsm",
        "dsmc set password §tsm_pw§ §tsm_pw§\nANS1025E Session rejected: Authentication failure",
    ),
    ("tsm", "i ran dsmadmc -id=admin -password=§tsm_pw§ q sess and it hangs"),
    (
        "tsm",
        "Here's our dsm.sys:\nSERVERNAME TSM1\n  TCPSERVERADDRESS tsm1.backup.safespring.com\n  NODENAME CUSTOMER-WEB01\n  PASSWORDACCESS PROMPT\nand the node password we got from you is §tsm_pw§ if that matters",
    ),
    ("tsm", "backup klienten vill ha lösen igen, vi satte §tsm_pw§ när noden registrerades"),
]

# (kind, template): none of these leaks a credential.
CLEAN: list[tuple[str, str]] = [
    # hashes, digests, ids
    ("hash", "sha256 of the image: §hex64§ matches what you published"),
    ("hash", "2026-11-30 12:01:44 INFO upload complete etag=§hex32§ size=10485760"),
    ("hash", "git log --oneline -3\n§hex7§ fix tls\n§hex7§ bump chart\n§hex7§ initial"),
    ("hash", "image: registry.customer.se/api@§docker_digest§"),
    ("hash", "Digest: §docker_digest§\nStatus: Downloaded newer image for nginx:1.27"),
    ("hash", "commit §hex40§ (HEAD -> main, origin/main)"),
    ("hash", "md5sum dump.sql.gz\n§md5§  dump.sql.gz"),
    ("hash", "the object has x-amz-meta-sha256: §hex64§"),
    ("id", "instance §uuid§ stuck in deleting since yesterday"),
    ("id", "req id req-§uuid§ on the 500 from nova"),
    ("id", "project_id §hex32§ user_id §hex32§"),
    ("id", "Ticket RT#§num§, please have a look when you can"),
    ("id", "x-amz-request-id: tx000§hex16§-00§hex8§-sto2"),
    # public material
    ("pubkey", "can you add my key to the bastion? §ssh_pub§"),
    ("pubkey", "authorized_keys now has\n§ssh_pub§\n§ssh_pub§"),
    ("pubkey", "here's the cert the LB serves:\n§cert_pem§"),
    ("pubkey", "public key for the JWT validation:\n§pubkey_pem§"),
    ("pubkey", "ca.crt in the configmap:\n  ca.crt: §tls_crt_b64§"),
    (
        "pubkey",
        "openssl x509 -in cert.pem -noout -fingerprint -sha256\nsha256 Fingerprint=§hexcolon§",
    ),
    # references to secrets
    (
        "reference",
        "env:\n  - name: DB_PASSWORD\n    valueFrom:\n      secretKeyRef:\n        name: db-creds\n        key: password",
    ),
    ("reference", "password: ${DB_PASSWORD}\nuser: ${DB_USER}"),
    (
        "reference",
        "vault kv get secret/prod/s3 — the secret_key field is there, but the app reads the old path",
    ),
    ("reference", "password_file=/etc/backup/pw.txt\nuser=backup"),
    ("reference", "DATABASE_URL=postgres://app:${PGPASSWORD}@db01:5432/app"),
    ("reference", "aws_secret_access_key = {{ lookup('env', 'AWS_SECRET') }}"),
    ("reference", "export OS_PASSWORD=$(pass show safespring/openstack)"),
    ("reference", "s3cmd --access_key=$ACCESS --secret_key=$SECRET ls"),
    (
        "reference",
        "clouds:\n  prod:\n    auth:\n      auth_url: https://v2.dashboard.sto1.safespring.com:5000/v3\n      username: deploy\n      password: !vault |\n          $ANSIBLE_VAULT;1.1;AES256",
    ),
    # talking about passwords
    ("talk", "how do I change my backup password?"),
    ("talk", "I reset the password yesterday and now the api says 401"),
    ("talk", "what's the password policy for the portal? min length?"),
    ("talk", "do I need to enter the password every time dsmc runs or can it be stored?"),
    ("talk", "is the password for the s3 keys the same as for horizon?"),
    ("talk", "The password is too long apparently, max 64 chars?"),
    ("talk", "hur byter jag lösenordet till portalen?"),
    ("talk", "hvordan endrer jeg passordet for backup-noden?"),
    ("talk", "our secret key got leaked in a public repo last week, we rotated it already"),
    ("talk", "is it safe to put the token in the CI variables, or should we use vault?"),
    # placeholders
    (
        "placeholder",
        "aws_access_key_id = AKIAIOSFODNN7EXAMPLE\naws_secret_access_key = wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    ),
    ("placeholder", "export GITHUB_TOKEN=ghp_xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"),
    ("placeholder", "password: changeme\nuser: admin"),
    ("placeholder", "curl -u <user>:<password> https://api.customer.se"),
    ("placeholder", "mysql://root:****@db01/shop"),
    ("placeholder", "secret_key = <your-secret>"),
    ("placeholder", "OS_PASSWORD=REDACTED"),
    ("placeholder", "# .env.example\nDB_HOST=\nDB_USER=\nDB_PASSWORD=\nSECRET_KEY=\n"),
    ("placeholder", "token: xxxx-xxxx-xxxx"),
    ("placeholder", "SLACK_WEBHOOK=https://hooks.slack.com/services/XXXXX/XXXXX/XXXXX"),
    # presigned-looking, no signature
    ("url", "https://s3.sto2.safedc.net/public-bucket/index.html works but the subpath doesn't"),
    (
        "url",
        "got ?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=§amzdate§ in the url but no signature part, so it fails?",
    ),
    (
        "url",
        "the swift container is public, https://swift.sto1.safespring.com/v1/AUTH_§hex32§/public/a.png",
    ),
    ("url", "postgres://app@db01:5432/app works with peer auth"),
    ("url", "https://discord.com/channels/§num§/§num§ is our support channel"),
    ("url", "docs say https://api.slack.com/messaging/webhooks for setup"),
    # base64 of non-secrets
    ("b64", "the configmap value is §b64_text§ which decodes fine"),
    ("b64", "echo §b64_text§ | base64 -d"),
    # nordic ordinary text
    (
        "nordic",
        "Hej, vi har problem med att nå våra servrar i sto2 sedan i morse, är det något känt?",
    ),
    ("nordic", "Takk for hjelpen! Det fungerer nå etter at vi byttet sikkerhetsgruppe."),
    ("nordic", "kan ni öka kvoten för volymer? vi behöver 2 TB till"),
    ("nordic", "Backupen har feilet tre netter på rad, se vedlagt logg (ANS1017E)"),
    # tech chat
    ("chat", "kubectl get secret web-tls -o yaml shows the data but describe hides it, right?"),
    ("chat", "the JWT expired, exp was 1790000000 and now is later"),
    ("chat", "we use bcrypt with cost 12 for the app users, is that ok for performance?"),
    ("chat", "htpasswd -c /etc/nginx/.htpasswd admin asks me twice, fine"),
    ("chat", "/etc/passwd line: backup:x:34:34:backup:/var/backups:/usr/sbin/nologin"),
]
