#!/usr/bin/env bash
# Build hfaction's Lambda container image with podman (no Docker engine needed).
#
#   scripts/build-image.sh                  # tags localhost/hfaction-lambda:<version> and :latest
#   scripts/build-image.sh --context DIR    # only stage the build context in DIR (for
#                                           # docker build / sam build -f handler/Dockerfile DIR)
#
# The base defaults to a local Debian bookworm made by scripts/make-base-image.sh
# (no registry is reachable here); set HFACTION_BASE_IMAGE to use another, e.g.
# public.ecr.aws/docker/library/debian:bookworm-slim (the Dockerfile's default).
# Python packages never come from PyPI inside the build: hfaction's wheel is built
# here and every dependency is downloaded here as a CPython 3.11 manylinux wheel,
# then installed offline in the image. Installs podman, runc and debootstrap with
# apt when missing. The last line printed is "image: TAG".
#
# Environment: HFACTION_BASE_IMAGE, HFACTION_IMAGE_NAME (localhost/hfaction-lambda),
# PYTHON (the host Python whose pip downloads wheels; python3).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
base="${HFACTION_BASE_IMAGE:-localhost/debian:bookworm-slim}"
name="${HFACTION_IMAGE_NAME:-localhost/hfaction-lambda}"
# Debian bookworm's Python: the wheels must be for the image's interpreter.
image_python=3.11
# Lambda's handler dependencies beyond hfaction's own.
extra_packages=(awslambdaric boto3)

context_only=""
if [[ "${1:-}" == "--context" ]]; then
  context_only="${2:?--context needs a folder}"
fi

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
work="$(mktemp -d -t hfaction-image-XXXXXX)"
trap 'rm -rf "$work"' EXIT
started=$SECONDS

# ---- wheels -------------------------------------------------------------------
python="${PYTHON:-python3}"
if ! "$python" -m pip --version >/dev/null 2>&1; then
  "$python" -m venv "$work/pip-venv"
  python="$work/pip-venv/bin/python"
fi
context="${context_only:-$work/context}"
mkdir -p "$context/wheels"
rm -f "$context"/wheels/*.whl
cp "$repo/handler/app.py" "$repo/handler/.dockerignore" "$context/"

# Build from a copy of the sources: pip would write build/ and *.egg-info into the
# work tree, which other people may be editing. The copy holds every file git does not
# ignore (the build bundles files from outside hfaction/, see setup.py).
mkdir -p "$work/src"
if git -C "$repo" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  git -C "$repo" ls-files -z --cached --others --exclude-standard \
    | tar -C "$repo" --null --files-from=- --ignore-failed-read -cf - 2>/dev/null \
    | tar -C "$work/src" -xf -
else
  tar -C "$repo" --exclude=__pycache__ --exclude='*.pyc' --exclude='.venv*' --exclude=.git \
    -cf - . | tar -C "$work/src" -xf -
fi
echo "build-image: building hfaction's wheel"
"$python" -m pip wheel -q --disable-pip-version-check --no-deps \
  --wheel-dir "$context/wheels" "$work/src"
wheel=("$context"/wheels/hfaction-*.whl)
version="$(basename "${wheel[0]}" | cut -d- -f2)"

# Every manylinux level bookworm's glibc (2.36) runs; pip does not expand
# manylinux_2_X platforms itself.
platforms=(--platform manylinux2014_x86_64)
for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_x86_64"); done
echo "build-image: downloading dependency wheels for CPython $image_python"
"$python" -m pip download -q --disable-pip-version-check --dest "$context/wheels" \
  --only-binary=:all: --implementation cp --python-version "$image_python" \
  "${platforms[@]}" "${wheel[0]}" "${extra_packages[@]}" 2> >(grep -v "^WARNING: Location" >&2)
echo "build-image: $(find "$context/wheels" -name '*.whl' | wc -l) wheels"

if [[ -n "$context_only" ]]; then
  echo "build-image: context staged in $context_only (Dockerfile: $repo/handler/Dockerfile)"
  exit 0
fi

# ---- podman -----------------------------------------------------------------------
missing=()
for package in podman runc; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
    || missing+=("$package")
done
if ((${#missing[@]})); then
  echo "build-image: installing ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# Setting default ulimits fails on these machines, and podman's default runtime
# (crun) is not the one that works: runc.
if [[ -z "${CONTAINERS_CONF:-}" ]]; then
  export CONTAINERS_CONF="$work/containers.conf"
  printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' >"$CONTAINERS_CONF"
fi
runtime="$(command -v runc || echo /usr/sbin/runc)"

if [[ "$base" == localhost/* ]] && ! podman image exists "$base"; then
  bash "$repo/scripts/make-base-image.sh" "$base"
fi

tag="$name:$version"
echo "build-image: podman build $tag from $base"
build_started=$SECONDS
previous="$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
# --network host: apt inside the build reaches the mirror only through the host's network.
podman build \
  --runtime "$runtime" \
  --network host \
  --build-arg BASE_IMAGE="$base" \
  --file "$repo/handler/Dockerfile" \
  --tag "$tag" \
  --tag "$name:latest" \
  "$context"
# Each build would otherwise leave its build stage and the image it replaces behind
# (hundreds of MB each on a machine that builds often). Only this script's images go.
podman image prune --force --filter label=org.hfaction.stage=build >/dev/null || true
current="$(podman image inspect --format '{{.Id}}' "$tag")"
if [[ -n "$previous" && "$previous" != "$current" ]]; then
  podman rmi "$previous" >/dev/null 2>&1 || true
fi
size="$(podman image inspect --format '{{.Size}}' "$tag")"
echo "build-image: built $tag in $((SECONDS - build_started)) s" \
  "($((SECONDS - started)) s in all), $((size / 1000000)) MB"
echo "image: $tag"
