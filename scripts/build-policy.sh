#!/usr/bin/env bash
# Compiles policies/*.rego (tests excluded) to policies/build/policy.wasm with the
# entrypoint modgate/decision, and writes policies/build/REVISION: the sha256 of
# the Rego sources it was built from (file names and contents, in name order).
# The output is byte-for-byte reproducible with the pinned opa.
# Usage: scripts/build-policy.sh [OUTDIR]
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
# The bundle also holds a .manifest and data.json; modgate only needs the module.
tar -xzf "$tmp/bundle.tar.gz" -C "$tmp" /policy.wasm 2>/dev/null || tar -xzf "$tmp/bundle.tar.gz" -C "$tmp" policy.wasm
mkdir -p "$out"
cp "$tmp/policy.wasm" "$out/policy.wasm"
# REVISION: each source as "<name>\n<sha256>\n", in byte order of the names, hashed.
(cd policies && for f in $(LC_ALL=C ls -1 -- *.rego | grep -v '_test\.rego$'); do
  printf '%s\n%s\n' "$f" "$(sha256sum <"$f" | cut -d' ' -f1)"
done) | sha256sum | cut -d' ' -f1 >"$out/REVISION"
echo "wrote $out/policy.wasm ($(wc -c <"$out/policy.wasm") bytes), sources $(cat "$out/REVISION")"
