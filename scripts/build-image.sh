#!/usr/bin/env bash
# Build hfaction's Lambda container image with podman (no Docker engine needed).
#
#   scripts/build-image.sh                  # tags localhost/hfaction-lambda:<version> and :latest
#   scripts/build-image.sh --arch arm64     # tags ...:<version>-arm64 and :latest-arm64
#   scripts/build-image.sh --context DIR    # only stage the build context in DIR (for
#                                           # docker build / sam build -f handler/Dockerfile DIR)
#
# --arch x86_64|arm64 is Lambda's architecture (default x86_64); the x86_64 image keeps
# the plain tags. On a machine of another architecture the build runs under qemu-user
# emulation (qemu-user-static and binfmt-support, installed with apt when missing; see
# scripts/make-base-image.sh): every RUN step of handler/Dockerfile is emulated, so an
# arm64 build on x86_64 takes several times as long as a native one.
#
# The base defaults to a local Debian bookworm made by scripts/make-base-image.sh
# (localhost/debian:bookworm-slim, or localhost/debian:bookworm-slim-arm64 for arm64; no
# registry is reachable here); set HFACTION_BASE_IMAGE to use another, e.g.
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
name="${HFACTION_IMAGE_NAME:-localhost/hfaction-lambda}"
# Debian bookworm's Python: the wheels must be for the image's interpreter.
image_python=3.11
# Lambda's handler dependencies beyond hfaction's own.
extra_packages=(awslambdaric boto3)

context_only=""
arch=x86_64
while (($#)); do
  case "$1" in
    --context) context_only="${2:?--context needs a folder}"; shift ;;
    --arch) arch="${2:?--arch needs x86_64 or arm64}"; shift ;;
    --arch=*) arch="${1#--arch=}" ;;
    *) echo "build-image: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
# Lambda's architecture names; the kernel's (wheels) and the OCI platform's for each.
case "$arch" in
  x86_64 | amd64) arch=x86_64 machine=x86_64 platform=linux/amd64 tag_suffix="" ;;
  arm64 | aarch64) arch=arm64 machine=aarch64 platform=linux/arm64 tag_suffix=-arm64 ;;
  *) echo "build-image: unknown architecture $arch (x86_64 or arm64)" >&2; exit 2 ;;
esac
base="${HFACTION_BASE_IMAGE:-localhost/debian:bookworm-slim$tag_suffix}"

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
platforms=(--platform "manylinux2014_$machine")
for minor in $(seq 17 36); do platforms+=(--platform "manylinux_2_${minor}_$machine"); done
echo "build-image: downloading dependency wheels for CPython $image_python on $machine"
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

# Another architecture's RUN steps need qemu-user, registered with binfmt_misc (cheap
# when it is there already; it is lost when the machine restarts).
if [[ "$machine" != "$(uname -m)" ]]; then
  bash "$repo/scripts/make-base-image.sh" --install-tools --arch "$arch"
fi
if [[ "$base" == localhost/* ]] && ! podman image exists "$base"; then
  bash "$repo/scripts/make-base-image.sh" --arch "$arch" "$base"
fi
# A local base of the other architecture would not do (podman would look for the right
# one in a registry, or build an image that cannot run).
base_arch="$(podman image inspect --format '{{.Architecture}}' "$base" 2>/dev/null || true)"
if [[ -n "$base_arch" && "$base_arch" != "${platform#linux/}" ]]; then
  echo "build-image: $base is a $base_arch image, not ${platform#linux/}: unset" \
    "HFACTION_BASE_IMAGE, or make one with scripts/make-base-image.sh --arch $arch" >&2
  exit 1
fi

tag="$name:$version$tag_suffix"
echo "build-image: podman build $tag ($platform) from $base"
build_started=$SECONDS
previous="$(podman image inspect --format '{{.Id}}' "$tag" 2>/dev/null || true)"
# --network host: apt inside the build reaches the mirror only through the host's network.
podman build \
  --runtime "$runtime" \
  --network host \
  --platform "$platform" \
  --build-arg BASE_IMAGE="$base" \
  --file "$repo/handler/Dockerfile" \
  --tag "$tag" \
  --tag "$name:latest$tag_suffix" \
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
