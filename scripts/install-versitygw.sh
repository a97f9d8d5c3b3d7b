#!/usr/bin/env bash
# Installs the versitygw S3 gateway (pinned version) unless it is already there; prints its path.
# The storage tests run an S3 store on a real versitygw over a temp folder.
# Looks on PATH, in $(go env GOBIN), $(go env GOPATH)/bin and ~/go/bin; otherwise
# runs go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 (a few minutes). Idempotent.
set -euo pipefail
command -v go >/dev/null || { echo "versitygw needs go to be installed and identified" >&2; exit 1; }
want="v1.8.0"
gobin="$(go env GOBIN 2>/dev/null || true)"
gopath_bin="$(go env GOPATH 2>/dev/null || true)/bin"
for cand in "$(command -v versitygw || true)" "${gobin:+$gobin/versitygw}" "$gopath_bin/versitygw" "${HOME:-/root}/go/bin/versitygw" /root/go/bin/versitygw; do
  if [ -n "$cand" ] && [ -x "$cand" ] && go version -m "$cand" 2>/dev/null | grep -qE "^\s+mod\s+github.com/versity/versitygw\s+$want(\s|$)"; then
    echo "$cand"
    exit 0
  fi
done
# go install stamps no version into the binary's --version; the module version
# that `go version -m` reads from the build info is what identifies it.
echo "installing versitygw $want with go install" >&2
go install "github.com/versity/versitygw/cmd/versitygw@$want" >&2
echo "${gobin:-$gopath_bin}/versitygw"
