#!/usr/bin/env bash
# Installs the opa CLI (pinned version) unless it is already there; prints its path.
set -euo pipefail
want="v1.22.2"
for cand in "$(command -v opa || true)" "$(go env GOPATH 2>/dev/null)/bin/opa" "$HOME/go/bin/opa"; do
  if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" version 2>/dev/null | grep -q "^Version: ${want#v}$"; then
    echo "$cand"
    exit 0
  fi
done
echo "installing opa $want with go install" >&2
go install "github.com/open-policy-agent/opa@$want" >&2
echo "$(go env GOPATH)/bin/opa"
