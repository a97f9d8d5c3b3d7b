#!/bin/sh
# Creates deploy/secrets/ once for deploy/compose.yaml: the shared state key, the audit
# signing key, the database password, S3 credentials, a TLS certificate and two bearer
# tokens (one for clients, one for the load balancer's /readyz probe). Run from the
# repository root after `npm run build`. Existing files are kept.
set -eu
dir=deploy/secrets
umask 077
mkdir -p "$dir"
chmod 700 "$dir"
new() { [ -e "$dir/$1" ] && echo "keep $dir/$1" && return 1; echo "create $dir/$1"; }
rand() { openssl rand -hex "$1"; }
sha() { printf %s "$1" | sha256sum | cut -d' ' -f1; }

new state.key && rand 32 > "$dir/state.key"
new db-password && rand 24 > "$dir/db-password"
if new audit.key; then
  node --input-type=module -e "
    const { loadOrCreateAuditKey } = await import('./dist/audit/checkpoint.js');
    const k = await loadOrCreateAuditKey('$dir/audit.key');
    console.log('audit verifier key (set audit.verifierKey to it): ' + k.verifierKey);"
fi
if new aws-credentials; then
  access=$(rand 10); secret=$(rand 20)
  printf '[default]\naws_access_key_id = %s\naws_secret_access_key = %s\n' "$access" "$secret" > "$dir/aws-credentials"
  printf 'ROOT_ACCESS_KEY_ID=%s\nROOT_SECRET_ACCESS_KEY=%s\n' "$access" "$secret" > "$dir/s3-root.env"
fi
if new tls-cert.pem; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 365 \
    -subj /CN=modgate -addext 'subjectAltName=DNS:localhost,DNS:gw-1,DNS:gw-2,DNS:gw-3,IP:127.0.0.1' \
    -keyout "$dir/tls-key.pem" -out "$dir/tls-cert.pem" 2>/dev/null
fi
if new auth-tokens.env; then
  client=$(rand 24); probe=$(rand 24)
  printf 'MODGATE_AUTH__TOKENS=[{"id":"client","sha256":"%s"},{"id":"lb-probe","sha256":"%s"}]\n' \
    "$(sha "$client")" "$(sha "$probe")" > "$dir/auth-tokens.env"
  printf 'MODGATE_PROBE_TOKEN=%s\n' "$probe" > "$dir/probe-token.env"
  echo "client token (put it in ~/.netrc as the password for localhost): $client"
fi
# Compose mounts these files with their host owner and mode. The modgate image runs as uid
# 10001 (the audit key must be 0600); the database password is also read by the postgres
# image's user, so it is 0644 inside the 0700 folder, like the public certificate.
chmod 644 "$dir/db-password" "$dir/tls-cert.pem"
chown 10001 "$dir"/state.key "$dir"/audit.key "$dir"/aws-credentials "$dir"/tls-key.pem 2>/dev/null ||
  echo "note: run as root, or chown 10001 $dir/state.key $dir/audit.key $dir/aws-credentials $dir/tls-key.pem"
