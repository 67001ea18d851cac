#!/usr/bin/env bash
# Install what hfaction needs on Debian/Ubuntu: system packages (Chromium's headless
# shell, ffmpeg, fonts, Node for fetching GSAP), a virtualenv in .venv with hfaction,
# and GSAP for the examples. Idempotent.
#   scripts/bootstrap.sh          # hfaction + examples
#   scripts/bootstrap.sh --test   # also the test and lint tools
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
extras=""
[[ "${1:-}" == "--test" ]] && extras="[test]"

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

packages=(chromium-headless-shell ffmpeg fonts-dejavu-core fonts-liberation ca-certificates)
command -v npm >/dev/null || packages+=(nodejs npm)
python3 -c 'import ensurepip, venv' 2>/dev/null || packages+=(python3-venv)
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' || {
  echo "bootstrap: hfaction needs Python 3.11 or newer" >&2; exit 1; }
[[ -x .venv/bin/python ]] || python3 -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".${extras}"
bash scripts/setup-examples.sh
echo "bootstrap: ready (.venv/bin/hfaction)"
