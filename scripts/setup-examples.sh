#!/usr/bin/env bash
# Fetch GSAP from the npm registry and vendor it into the examples that load it
# from ./vendor/gsap.min.js. Idempotent; works from any directory.
#
#   scripts/setup-examples.sh            # gsap@3 (latest 3.x)
#   GSAP_VERSION=3.12.5 scripts/setup-examples.sh
#
# vendor/ folders are git-ignored: GSAP is never committed to this repository.
# Text in the examples uses "DejaVu Sans" (Debian: apt-get install fonts-dejavu-core).
set -euo pipefail

script_dir="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
repo_root="$(cd -- "$script_dir/.." && pwd -P)"
examples_dir="$repo_root/examples"
gsap_spec="gsap@${GSAP_VERSION:-3}"

# Examples that load ./vendor/gsap.min.js.
gsap_examples=(gsap-intro nested)

if ! command -v npm >/dev/null 2>&1; then
  echo "setup-examples: npm is required (e.g. apt-get install npm)" >&2
  exit 1
fi

if ! fc-list 2>/dev/null | grep -qi "DejaVu Sans"; then
  echo "setup-examples: note: font 'DejaVu Sans' not found; the examples' text will" \
       "fall back to another font (apt-get install fonts-dejavu-core)" >&2
fi

tmp="$(mktemp -d)"
trap 'rm -rf -- "$tmp"' EXIT

echo "setup-examples: fetching $gsap_spec from the npm registry"
tarball="$(cd "$tmp" && npm pack --silent "$gsap_spec" | tail -n 1)"
tar -xzf "$tmp/$tarball" -C "$tmp" package/dist/gsap.min.js package/package.json
src="$tmp/package/dist/gsap.min.js"
version="$(node -p 'require(process.argv[1]).version' "$tmp/package/package.json" 2>/dev/null \
           || echo "$tarball")"
[ -s "$src" ] || { echo "setup-examples: $tarball has no dist/gsap.min.js" >&2; exit 1; }

for name in "${gsap_examples[@]}"; do
  dest_dir="$examples_dir/$name/vendor"
  if [ ! -d "$examples_dir/$name" ]; then
    echo "setup-examples: skipping missing example $name" >&2
    continue
  fi
  mkdir -p "$dest_dir"
  if [ -f "$dest_dir/gsap.min.js" ] && cmp -s "$src" "$dest_dir/gsap.min.js"; then
    echo "setup-examples: examples/$name/vendor/gsap.min.js is up to date (gsap $version)"
  else
    cp -- "$src" "$dest_dir/gsap.min.js.tmp"
    mv -f -- "$dest_dir/gsap.min.js.tmp" "$dest_dir/gsap.min.js"
    echo "setup-examples: wrote examples/$name/vendor/gsap.min.js (gsap $version)"
  fi
done
