#!/usr/bin/env bash
# Installs the programs the test suite runs for real, unless they are already
# there: opa (the Rego tests), versitygw (the S3 store's engine), PostgreSQL's
# server binaries (shared state and audit chains) and govulncheck (the
# vulnerability index's reference) and Debian's chromium (the web console's
# browser tests). Run by `npm test` (pretest) and .ci/run.
# Each install script is idempotent; set MODGATE_SKIP_TOOLS=1 to check nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${MODGATE_SKIP_TOOLS:-}" = 1 ] && exit 0
command -v go >/dev/null || {
  echo "the tests need go (the real go command runs end to end): install Go first" >&2
  exit 1
}
bash scripts/install-opa.sh >/dev/null
bash scripts/install-versitygw.sh >/dev/null
bash scripts/install-postgres.sh >/dev/null || {
  echo "PostgreSQL's server binaries are missing: apt-get install -y postgresql (as root), or set MODGATE_PG_BIN" >&2
  exit 1
}
bash scripts/install-govulncheck.sh >/dev/null
command -v chromium >/dev/null || {
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    { apt-get update -qq && apt-get install -y -qq chromium; } >/dev/null
  else
    echo "the console's browser tests need Debian's chromium: apt-get install -y chromium (as root)" >&2
    exit 1
  fi
}
