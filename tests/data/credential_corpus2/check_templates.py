"""CHECK half: written separately from the TUNE templates (not copies, other phrasing and
shapes), never looked at while tuning. Same marker syntax as tune_templates.py."""

from __future__ import annotations

SECRET: list[tuple[str, str]] = [
    # AWS / S3
    (
        "aws",
        "~/.aws/credentials\n[safespring]\naws_access_key_id=§akia§\naws_secret_access_key=§aws_secret§",
    ),
    (
        "aws",
        "boto3.client('s3', endpoint_url='https://s3.sto1.safedc.net', aws_access_key_id='§akia§', aws_secret_access_key='§aws_secret§')",
    ),
    (
        "aws",
        "rclone config show\n[safe]\ntype = s3\nprovider = Ceph\naccess_key_id = §akia§\nsecret_access_key = §aws_secret§\nendpoint = s3.sto2.safedc.net",
    ),
    (
        "aws",
        "velero install --provider aws ... the secret file:\n[default]\naws_access_key_id=§akia§\naws_secret_access_key=§aws_secret§",
    ),
    ("presigned", "Kan ni se om den här länken funkar för er? §sigv4_url§"),
    (
        "presigned",
        "< HTTP/1.1 403 Forbidden\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>\nurl was §sigv4_url_token§",
    ),
    ("presigned", "old style link from our legacy app: §sigv2_url§"),
    ("presigned", "delningslänk till kunden (swift): §swift_url§ , går ut om en vecka"),
    # htpasswd
    ("htpasswd", 'basic auth for prometheus behind traefik:\n  users:\n    - "prom:§apr1§"'),
    ("htpasswd", "echo 'ops:§bcrypt§' >> /etc/nginx/htpasswd.users && systemctl reload nginx"),
    ("htpasswd", ".htpasswd:\nsvc:§sha_ht§\nold:§crypt§"),
    # database URLs
    (
        "dburl",
        'psql "postgresql://§user§:§password§@§host§:5432/reporting?sslmode=require"\npsql: error: connection to server failed: timeout',
    ),
    ("dburl", "MONGO_URI=mongodb+srv://§user§:§password§@prod.x1y2z.mongodb.net/?authSource=admin"),
    ("dburl", "mysql connection string in our app.ini: mysql://§user§:§password§@§host§/wordpress"),
    ("dburl", "rabbitmq url amqps://§user§:§password§@§host§:5671/%2F gives ACCESS_REFUSED"),
    ("dburl", "REDIS_URL=rediss://:§password§@§host§:6380"),
    # basic auth
    (
        "basic",
        "wget --http-user=§user§ --http-password=§password§ https://repo.customer.se/pkg.deb",
    ),
    ("basic", "requests.get(url, headers={'Authorization': 'Basic §basic§'})"),
    (
        "basic",
        "$ curl -v -u '§user§:§password§' https://backup-portal.customer.se/api/nodes\n*   Trying 10.0.0.4:443...\n* Connected",
    ),
    ("basic", 'headers:\n  Authorization: "Basic §basic§"'),
    # prose
    (
        "prose",
        "Hei, jeg har glemt hvor jeg skulle legge det, men passordet vårt er §password§ for admin-kontoen",
    ),
    ("prose", "lösen till databasen: §password§ (användare §user§)"),
    ("prose", "the new password I set is §password§, but the portal rejects it"),
    (
        "prose",
        "login with user §user§ and password §password§ please, I'm at the customer site now",
    ),
    ("prose", "Lösenordet vi fick av er var §password§ men det funkar inte lägre"),
    ("yaml", "mqtt:\n  broker: mq.customer.se\n  username: sensor\n  password: §password§"),
    ("yaml", "ldap:\n  bind_dn: cn=svc,dc=customer,dc=se\n  bind_pw: §password§"),
    ("yaml", "registry:\n  user: robot$ci\n  secret: §aws_secret§"),
    (
        "openstack",
        "$ openstack application credential create ci\n+--------------+----------------------------------------------------------------------------------------+\n| Field        | Value                                                                                  |\n+--------------+----------------------------------------------------------------------------------------+\n| id           | §appcred_id§ |\n| name         | ci |\n| secret       | §appcred_secret§ |\n+--------------+----------------------------------------------------------------------------------------+",
    ),
    (
        "openstack",
        "openstack server create --admin-pass ... output has\n| adminPass | §password§ |\n| id | §uuid§ |",
    ),
    # webhooks
    (
        "webhook",
        "curl -X POST -H 'Content-type: application/json' --data '{\"text\":\"backup done\"}' §slack_hook§",
    ),
    ("webhook", "DISCORD_WEBHOOK_URL=§discord_hook§"),
    ("webhook", "Power Automate replaced our §teams_hook§ connector?"),
    # s3cmd
    (
        "s3cmd",
        "s3cmd -c /dev/null --access_key §akia§ --secret_key §aws_secret§ --host s3.sto1.safedc.net --host-bucket s3.sto1.safedc.net mb s3://test",
    ),
    (
        "s3cmd",
        "[default]\nhost_base = s3.sto2.safedc.net\naccess_key = §akia§\nsecret_key = §aws_secret§\nsignature_v2 = False",
    ),
    # keys
    ("privkey", "```\n§openssh§\n```\nis this the right format for the openstack keypair import?"),
    ("privkey", "Nøkkelen ser sånn ut:\n§pem_rsa§"),
    ("privkey", "cat ~/.ssh/deploy.ppk\n§ppk§"),
    ("privkey", "openssl genpkey output:\n§pem_encrypted§"),
    (
        "privkey",
        "kubectl get secret ingress-cert -o yaml\napiVersion: v1\ndata:\n  tls.crt: §tls_crt_b64§\n  tls.key: §tls_key_b64§\nkind: Secret",
    ),
    ("privkey", "cert-manager made this, tls.key: §tls_key_b64§"),
    # tokens
    (
        "kube",
        "apiVersion: v1\nclusters:\n- cluster:\n    server: https://k8s.customer.se:6443\n  name: prod\nusers:\n- name: admin\n  user:\n    token: §bootstrap§",
    ),
    ("jwt", "Authorization: Bearer §jwt§"),
    ("jwt", "id_token=§jwt§&state=abc123"),
    (
        "github",
        "remote: Invalid username or token. url=https://x-access-token:§github§@github.com/org/repo",
    ),
    ("github", "echo §github§ | docker login ghcr.io -u ci --password-stdin"),
    ("github", "I put §github_pat§ in the action secrets but workflow still fails"),
    ("slack", "slack token for the alert bot: §slack_token§"),
    ("gitlab", '[[runners]]\n  url = "https://gitlab.customer.se/"\n  token = "§glpat§"'),
    (
        "appcred",
        "clouds:\n  ci:\n    auth_type: v3applicationcredential\n    auth:\n      auth_url: https://v2.dashboard.sto2.safespring.com:5000/v3\n      application_credential_id: §appcred_id§\n      application_credential_secret: §appcred_secret§",
    ),
    ("ospassword", "OS_PASSWORD=§password§ openstack --os-username ops token issue"),
    (
        "clouds",
        "clouds.yaml:\nclouds:\n  sto2:\n    auth:\n      username: 'ops@customer.se'\n      password: '§password§'\n      project_name: 'customer.se'\n      auth_url: 'https://v2.dashboard.sto2.safespring.com:5000/v3'",
    ),
    ("tsm", 'dsmadmc -id=admin -pa=§tsm_pw§ "q node CUSTOMER-DB01"'),
    ("tsm", "update node CUSTOMER-FS01 §tsm_pw§ forcepwreset=no"),
    (
        "tsm",
        "dsm.opt:\nNODENAME FS01\nPASSWORD §tsm_pw§\nTCPSERVERADDRESS tsm2.backup.safespring.com",
    ),
    ("tsm", "Jeg la inn nodepassordet §tsm_pw§ i dsm.opt men klienten spør fortsatt"),
]

CLEAN: list[tuple[str, str]] = [
    # hashes / ids
    ("hash", "Verified: SHA256(backup.tar.zst)= §hex64§"),
    ("hash", "Layer §hex12§: Pull complete\nDigest: §docker_digest§"),
    ("hash", "merge of §hex40§ into release/2.3 failed the pipeline"),
    ("hash", "openstack image show -c checksum ubuntu\n| checksum | §md5§ |"),
    ("hash", 'ETag "§hex32§" differs from local md5 §md5§, multipart upload i guess'),
    (
        "hash",
        "helm history web\nREVISION  UPDATED  STATUS  CHART  DESCRIPTION\n3  ...  deployed  web-1.2.0  Upgrade complete (sha §hex40§)",
    ),
    ("id", "server §uuid§ and volume §uuid§ are in different AZs"),
    ("id", "RT#§num§ has been waiting for 3 days, kan någon titta?"),
    ("id", "Request-ID: req-§uuid§ (HTTP 409)"),
    ("id", "application credential id §hex32§ (the secret is in our vault, not pasting it)"),
    ("id", "access key id §akia§ belongs to which project? just the id, secret stays with us"),
    # public material
    ("pubkey", "ssh-copy-id gave me: §ssh_pub§"),
    (
        "pubkey",
        "-----BEGIN CERTIFICATE-----\nMIIF§hex12§\n-----END CERTIFICATE----- is what i get from openssl s_client, ends early?",
    ),
    ("pubkey", "kubectl get cm kube-root-ca.crt -o yaml\ndata:\n  ca.crt: |\n    §cert_pem§"),
    ("pubkey", "openstack keypair create --public-key ~/.ssh/id_ed25519.pub mykey -> §ssh_pub§"),
    ("pubkey", "jwks endpoint returns:\n§pubkey_pem§"),
    ("pubkey", "tls.crt: §tls_crt_b64§\n(tls.key left out on purpose)"),
    # references
    ("reference", "- name: S3_SECRET\n  valueFrom:\n    secretKeyRef: {name: s3, key: secret}"),
    ("reference", 'password = var.db_password\nusername = "app"'),
    ("reference", "pass: ${SMTP_PASS}"),
    ("reference", 'curl -u "$API_USER:$API_PASS" https://api.customer.se/v1'),
    ("reference", "mongodb://app:%(password)s@mongo-0:27017 in the template"),
    ("reference", "OS_PASSWORD is read from the keyring, `openstack --os-password-file` not used"),
    ("reference", "vault read -field=secret_key kv/s3/backup"),
    ("reference", "secret_key_file = /run/secrets/s3_secret"),
    ("reference", 'db:\n  password: "{{ .Values.db.password }}"'),
    # talk
    ("talk", "Jeg har glemt passordet til dashboardet, hvordan resetter jeg det?"),
    ("talk", "Vad är lösenordet till backupnoden? Hittar det inte i dokumentationen"),
    ("talk", "password reset mail never arrived, checked spam"),
    ("talk", "the password has expired again, 90 days goes fast"),
    ("talk", "when should I rotate the s3 secret key, every year?"),
    ("talk", "Does the password need special characters? the form says invalid"),
    ("talk", "we moved the passwords to 1password, all good now"),
    ("talk", "my token keeps expiring after 1h, can it be longer?"),
    ("talk", "has anyone got htpasswd auth working with the ingress controller?"),
    ("talk", "pw reset done, thx!"),
    # placeholders
    (
        "placeholder",
        "export AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY  # from the aws docs",
    ),
    ("placeholder", "DATABASE_URL=postgres://user:password@localhost:5432/dbname"),
    ("placeholder", "password: <insert password here>"),
    ("placeholder", "Authorization: Bearer <token>"),
    ("placeholder", "glpat-XXXXXXXXXXXXXXXXXXXX is how the docs show it"),
    ("placeholder", "OS_PASSWORD=********"),
    ("placeholder", "passord: ditt-passord-her"),
    ("placeholder", "APP_KEY=\nAPP_SECRET=\nMAIL_PASSWORD=null"),
    ("placeholder", "s3cmd --access_key=ACCESS_KEY --secret_key=SECRET_KEY ls"),
    ("placeholder", "token: [REDACTED]"),
    # urls
    ("url", "https://s3.sto1.safedc.net/bucket/file.pdf?versionId=§hex32§"),
    ("url", "presigned urls time out after X-Amz-Expires=604800, right? that's the max"),
    ("url", "redis://cache.lan:6379/0 without auth in dev"),
    ("url", "https://hooks.slack.com is blocked by our proxy"),
    ("url", "mongodb+srv://cluster0.abcd1.mongodb.net/ unreachable from sto2"),
    ("url", "https://customer.webhook.office.com is allowed in the egress rules?"),
    # b64
    ("b64", "data:\n  config.yaml: §b64_text§"),
    ("b64", "the cloud-init user_data is §b64_text§"),
    # nordic
    ("nordic", "God morgon! Är det planerat underhåll i sto1 ikväll? Vi ser höga latenser."),
    ("nordic", "Hei! Vi får ikke koblet til S3 fra kontoret, men hjemmefra går det fint."),
    ("nordic", "tack, nu funkar det igen efter omstart av instansen"),
    ("nordic", "Noen som vet om det er mulig å flytte en volum mellom prosjekter?"),
    # chat
    ("chat", "jwt.io says the signature is invalid but the header and payload decode fine"),
    (
        "chat",
        "AWS4-HMAC-SHA256 Credential=.../s3/aws4_request, SignedHeaders=host;x-amz-date, is what the SDK sends",
    ),
    ("chat", "we use apr1 for htpasswd because alpine's nginx doesn't do bcrypt, or does it?"),
    (
        "chat",
        "base64 -d on the tls.key gives 'BEGIN RSA PRIVATE KEY' so it's the right format (not pasting it)",
    ),
]
