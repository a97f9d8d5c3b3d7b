#!/usr/bin/env bash
# Installs the opa CLI (pinned version) unless it is already there; prints its path.
# Looks on PATH, in $(go env GOBIN), $(go env GOPATH)/bin and ~/go/bin; otherwise
# runs go install github.com/open-policy-agent/opa@v1.22.2. Idempotent.
set -euo pipefail
want="v1.22.2"
gobin="$(go env GOBIN 2>/dev/null || true)"
gopath_bin="$(go env GOPATH 2>/dev/null || true)/bin"
for cand in "$(command -v opa || true)" "${gobin:+$gobin/opa}" "$gopath_bin/opa" "${HOME:-/root}/go/bin/opa" /root/go/bin/opa; do
  if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" version 2>/dev/null | grep -q "^Version: ${want#v}$"; then
    echo "$cand"
    exit 0
  fi
done
command -v go >/dev/null || { echo "opa $want is missing and there is no go to install it" >&2; exit 1; }
echo "installing opa $want with go install" >&2
go install "github.com/open-policy-agent/opa@$want" >&2
echo "${gobin:-$gopath_bin}/opa"
