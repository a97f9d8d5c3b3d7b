#!/usr/bin/env bash
# Compiles policies/*.rego (tests excluded) to policies/build/policy.wasm with the
# entrypoint modgate/decision. Usage: scripts/build-policy.sh [OUTDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
opa="$(bash scripts/install-opa.sh)"
out="${1:-policies/build}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/policies"
cp policies/*.rego "$tmp/policies/"
rm -f "$tmp/policies/"*_test.rego
# Build from a fixed relative path: opa records source locations in the module.
(cd "$tmp" && "$opa" build -t wasm -e modgate/decision -o bundle.tar.gz policies)
tar -xzf "$tmp/bundle.tar.gz" -C "$tmp" /policy.wasm 2>/dev/null
mkdir -p "$out"
cp "$tmp/policy.wasm" "$out/policy.wasm"
echo "wrote $out/policy.wasm ($(wc -c < "$out/policy.wasm") bytes)"
