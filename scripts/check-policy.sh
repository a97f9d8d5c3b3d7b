#!/usr/bin/env bash
# CI: runs the Rego unit tests with coverage and fails when the committed
# policies/build/policy.wasm is not what the current sources compile to.
set -euo pipefail
cd "$(dirname "$0")/.."
opa="$(bash scripts/install-opa.sh)"
"$opa" test policies/ --coverage --threshold 100 --format=json >/dev/null || { "$opa" test policies/ -v; exit 1; }
"$opa" test policies/
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/build-policy.sh "$tmp" >/dev/null
if ! cmp -s "$tmp/policy.wasm" policies/build/policy.wasm; then
  echo "policies/build/policy.wasm is stale: run npm run build:policy and commit it" >&2
  exit 1
fi
echo "policy build is current"
