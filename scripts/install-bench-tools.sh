#!/usr/bin/env bash
# Installs what `npm run bench -- hits` compares against, unless it is already there:
# wrk (the load generator) and nginx (the static-file limit), both from Debian.
# Bench only: the test suite never needs them. Idempotent; waits for another apt
# run to finish (up to 5 minutes) instead of failing on the dpkg lock.
set -euo pipefail
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing+=(nginx)
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || { echo "missing ${missing[*]} and no apt-get to install them" >&2; exit 1; }
[ -n "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v -e lock -e partial || true)" ] || apt-get update -qq
for i in $(seq 1 60); do
  if DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"; then
    exit 0
  fi
  echo "apt-get busy (attempt $i), retrying in 5 s" >&2
  sleep 5
done
echo "could not install ${missing[*]}" >&2
exit 1
