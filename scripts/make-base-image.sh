#!/usr/bin/env bash
# Make a local Debian bookworm base image for the Lambda image, without any registry:
# debootstrap (minbase) from Debian's mirror, then tar and `podman import`. It is laid
# out like the registry's debian:bookworm-slim (apt sources for bookworm, -updates and
# -security; no docs, man pages or locales), so handler/Dockerfile behaves the same on
# either base. Skips the work when the tag exists already. About a minute.
#
#   scripts/make-base-image.sh [TAG]        # default localhost/debian:bookworm-slim
#   scripts/make-base-image.sh --arch arm64 [TAG]   # default localhost/debian:bookworm-slim-arm64
#   scripts/make-base-image.sh --install-tools [--arch arm64]   # only install podman, runc,
#                                           # debootstrap (and, for arm64 on another machine,
#                                           # qemu-user-static and binfmt-support)
#
# --arch x86_64|arm64 (also amd64, aarch64) defaults to this machine's. A foreign
# architecture runs under qemu-user emulation (binfmt_misc, registered with the F flag so
# it works inside chroots and containers): debootstrap downloads and unpacks natively and
# only its second stage (dpkg installing and configuring the packages in the chroot) runs
# emulated: about 2 minutes for arm64 on x86_64, against 40 s natively.
#
# Environment: HFACTION_BASE_IMAGE (the tag; ignored with --arch of another machine,
# whose default ends in -ARCH), DEBIAN_MIRROR (http://deb.debian.org/debian).
set -euo pipefail

as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# podman, runc (podman's default crun is not what works here) and debootstrap, from apt.
install_tools() {
  local missing=() package
  for package in podman runc debootstrap; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "make-base-image: installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
}

# Debian's name for an architecture (amd64, arm64) from Lambda's or the kernel's.
debian_arch() {
  case "$1" in
    x86_64 | amd64) echo amd64 ;;
    arm64 | aarch64) echo arm64 ;;
    *) echo "make-base-image: unknown architecture $1 (x86_64 or arm64)" >&2; return 1 ;;
  esac
}

# Running another architecture's binaries: qemu-user-static, registered with binfmt_misc.
# The F (fix binary) flag opens the interpreter now, so that it works inside a chroot or a
# container, where /usr/bin/qemu-*-static does not exist. Debian's qemu-user-static
# registers its formats that way through binfmt-support when that is installed; if the
# registration is missing (binfmt-support could not run, binfmt_misc was remounted) it is
# written here from the package's own description.
install_emulation() {
  local arch="$1" machine format register package missing=()
  case "$arch" in
    arm64) machine=aarch64 ;;
    amd64) machine=x86_64 ;;
  esac
  for package in qemu-user-static binfmt-support; do
    dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" \
      || missing+=("$package")
  done
  if ((${#missing[@]})); then
    echo "make-base-image: installing ${missing[*]} (to run $arch binaries)"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
  if [[ ! -e /proc/sys/fs/binfmt_misc/register ]]; then
    as_root mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
  fi
  format="/proc/sys/fs/binfmt_misc/qemu-$machine"
  if [[ ! -e "$format" ]]; then
    as_root update-binfmts --enable "qemu-$machine" >/dev/null 2>&1 || true
  fi
  if [[ ! -e "$format" ]]; then
    # As binfmt-support registers it: the wrapper that keeps argv[0] (P), where present.
    local interpreter="/usr/libexec/qemu-binfmt/$machine-binfmt-P" flags=PF
    if [[ ! -x "$interpreter" ]]; then
      interpreter="/usr/bin/qemu-$machine-static" flags=F
    fi
    register="$(awk -v name="qemu-$machine" -v interpreter="$interpreter" -v flags="$flags" '
      $1 == "magic" { magic = $2 } $1 == "mask" { mask = $2 } $1 == "offset" { offset = $2 }
      END { if (magic == "" || mask == "") exit 1
            printf ":%s:M:%s:%s:%s:%s:%s", name, offset + 0, magic, mask, interpreter, flags }' \
      "/usr/share/binfmts/qemu-$machine")" || {
      echo "make-base-image: /usr/share/binfmts/qemu-$machine has no magic" >&2; return 1; }
    printf '%s' "$register" | as_root tee /proc/sys/fs/binfmt_misc/register >/dev/null
  fi
  if ! grep -q '^enabled' "$format" 2>/dev/null; then
    echo 1 | as_root tee "$format" >/dev/null 2>&1 || true
  fi
  if ! grep -q '^enabled' "$format" 2>/dev/null; then
    echo "make-base-image: binfmt_misc format qemu-$machine is not enabled" >&2
    return 1
  fi
  if ! grep -q '^flags:.*F' "$format"; then
    echo "make-base-image: qemu-$machine is registered without the F flag: $arch binaries" \
      "would not run in containers (update-binfmts --disable qemu-$machine, then rerun)" >&2
    return 1
  fi
}

# The only containers.conf that works on these machines: setting the default ulimits
# fails here. Keep the caller's if it set one.
containers_conf() {
  if [[ -z "${CONTAINERS_CONF:-}" ]]; then
    CONTAINERS_CONF="$(mktemp -t hfaction-containers-XXXXXX.conf)"
    printf '[containers]\ndefault_ulimits = []\n\n[engine]\nruntime = "runc"\n' \
      >"$CONTAINERS_CONF"
    export CONTAINERS_CONF
    cleanup_files+=("$CONTAINERS_CONF")
  fi
}

cleanup_files=()
cleanup() { ((${#cleanup_files[@]})) && as_root rm -rf "${cleanup_files[@]}"; return 0; }
trap cleanup EXIT

host_arch="$(dpkg --print-architecture)"
arch="$host_arch"
tools_only=""
tag=""
while (($#)); do
  case "$1" in
    --install-tools) tools_only=1 ;;
    --arch) arch="$(debian_arch "${2:?--arch needs x86_64 or arm64}")"; shift ;;
    --arch=*) arch="$(debian_arch "${1#--arch=}")" ;;
    -*) echo "make-base-image: unknown option $1" >&2; exit 2 ;;
    *) tag="$1" ;;
  esac
  shift
done

install_tools
if [[ "$arch" != "$host_arch" ]]; then
  install_emulation "$arch"
fi
if [[ -n "$tools_only" ]]; then
  exit 0
fi

if [[ -z "$tag" ]]; then
  if [[ "$arch" == "$host_arch" ]]; then
    tag="${HFACTION_BASE_IMAGE:-localhost/debian:bookworm-slim}"
  else
    tag="localhost/debian:bookworm-slim-$arch"
  fi
fi
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm

containers_conf
if podman image exists "$tag"; then
  echo "make-base-image: $tag exists"
  exit 0
fi

started=$SECONDS
work="$(mktemp -d -t hfaction-base-XXXXXX)"
cleanup_files+=("$work")
rootfs="$work/rootfs"

echo "make-base-image: debootstrap --variant=minbase --arch $arch $suite from $mirror"
# Another architecture: debootstrap fetches and unpacks natively, then chroots into the
# tree for its second stage, which binfmt_misc runs under qemu.
as_root debootstrap --variant=minbase --arch "$arch" "$suite" "$rootfs" "$mirror" \
  >"$work/debootstrap.log" 2>&1 || {
  tail -n 30 "$work/debootstrap.log" >&2
  echo "make-base-image: debootstrap failed" >&2
  exit 1
}

# What debian:bookworm-slim has and debootstrap does not write: the updates and security
# suites (Chromium's fixes arrive through bookworm-security) and dpkg excludes for docs.
as_root rm -f "$rootfs/etc/apt/sources.list"
security_mirror="${DEBIAN_SECURITY_MIRROR:-${mirror%/debian}/debian-security}"
as_root tee "$rootfs/etc/apt/sources.list.d/debian.sources" >/dev/null <<EOF
Types: deb
URIs: $mirror
Suites: $suite $suite-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security_mirror
Suites: $suite-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
as_root tee "$rootfs/etc/dpkg/dpkg.cfg.d/docker" >/dev/null <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
EOF
# Nothing of this machine or of the download in the image.
as_root sh -c "rm -rf '$rootfs'/var/lib/apt/lists/* '$rootfs'/var/cache/apt/*.bin \
  '$rootfs'/var/cache/apt/archives/*.deb '$rootfs'/var/log/*.log '$rootfs'/tmp/*"
as_root sh -c ": >'$rootfs/etc/resolv.conf'; echo localhost >'$rootfs/etc/hostname'"

as_root tar -C "$rootfs" --numeric-owner -cf "$work/rootfs.tar" .
podman import \
  --arch "$arch" --os linux \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --message "debootstrap --variant=minbase --arch $arch $suite $mirror" \
  "$work/rootfs.tar" "$tag" >/dev/null
echo "make-base-image: made $tag in $((SECONDS - started)) s"
