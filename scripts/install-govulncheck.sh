#!/usr/bin/env bash
# Installs govulncheck (pinned version) unless it is already there; prints its path.
# Looks on PATH, in $(go env GOBIN), $(go env GOPATH)/bin and ~/go/bin; otherwise
# runs go install golang.org/x/vuln/cmd/govulncheck@v1.9.0. Idempotent.
# The tests use it as the reference for the vulnerability index and as the
# client of modgate's GOVULNDB mirror.
set -euo pipefail
want="v1.9.0"
gobin="$(go env GOBIN 2>/dev/null || true)"
gopath_bin="$(go env GOPATH 2>/dev/null || true)/bin"
for cand in "$(command -v govulncheck || true)" "${gobin:+$gobin/govulncheck}" "$gopath_bin/govulncheck" "${HOME:-/root}/go/bin/govulncheck" /root/go/bin/govulncheck; do
  if [ -n "$cand" ] && [ -x "$cand" ] && "$cand" -version 2>/dev/null | grep -q "^Scanner: govulncheck@${want}$"; then
    echo "$cand"
    exit 0
  fi
done
command -v go >/dev/null || { echo "govulncheck $want is missing and there is no go to install it" >&2; exit 1; }
echo "installing govulncheck $want with go install" >&2
go install "golang.org/x/vuln/cmd/govulncheck@$want" >&2
echo "${gobin:-$gopath_bin}/govulncheck"
