#!/usr/bin/env bash
# Installs PostgreSQL's server binaries (Debian's postgresql package) unless they
# are already there; prints the directory that holds initdb, pg_ctl and postgres.
# Looks in $MODGATE_PG_BIN, then /usr/lib/postgresql/*/bin (newest first), then
# `pg_config --bindir`. The tests start their own server from that directory
# (test/helpers/postgres.ts); nothing here starts or configures a cluster. Idempotent.
set -euo pipefail

find_bin() {
  if [ -n "${MODGATE_PG_BIN:-}" ] && [ -x "$MODGATE_PG_BIN/initdb" ]; then
    echo "$MODGATE_PG_BIN"
    return 0
  fi
  local dir
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ] && [ -x "$dir/postgres" ]; then
      echo "$dir"
      return 0
    fi
  done
  if command -v pg_config >/dev/null; then
    dir="$(pg_config --bindir)"
    if [ -x "$dir/initdb" ]; then
      echo "$dir"
      return 0
    fi
  fi
  return 1
}

if find_bin; then exit 0; fi
command -v apt-get >/dev/null || { echo "PostgreSQL (initdb) is missing and there is no apt-get to install it" >&2; exit 1; }
echo "installing postgresql with apt-get" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
find_bin || { echo "postgresql is installed but no initdb was found under /usr/lib/postgresql/*/bin" >&2; exit 1; }
