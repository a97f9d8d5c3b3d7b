#!/usr/bin/env bash
# CI: runs the Rego unit tests with 100% coverage, then rebuilds the policy in a
# temporary folder and fails when the committed policies/build/ is stale: the
# wasm bytes must equal a fresh build (opa's wasm output is deterministic for a
# pinned version and fixed source paths) and REVISION must be the sha256 of the
# current Rego sources. Usage: scripts/check-policy.sh (exit 0 current, 1 not).
set -euo pipefail
cd "$(dirname "$0")/.."
opa="$(bash scripts/install-opa.sh)"
"$opa" check --strict policies/
if ! "$opa" test policies/ --coverage --threshold 100 --format=json >/dev/null; then
  "$opa" test policies/ -v || true
  echo "opa test failed, or coverage of policies/ is under 100%" >&2
  exit 1
fi
"$opa" test policies/
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
bash scripts/build-policy.sh "$tmp" >/dev/null
stale=0
if ! cmp -s "$tmp/REVISION" policies/build/REVISION 2>/dev/null; then
  echo "policies/build/REVISION is not the hash of the current Rego sources" >&2
  stale=1
fi
if ! cmp -s "$tmp/policy.wasm" policies/build/policy.wasm; then
  echo "policies/build/policy.wasm is not what the current sources compile to" >&2
  stale=1
fi
if [ "$stale" = 1 ]; then
  echo "the committed policy build is stale: run npm run build:policy and commit policies/build/" >&2
  exit 1
fi
echo "policy build is current (sources $(cat policies/build/REVISION))"
