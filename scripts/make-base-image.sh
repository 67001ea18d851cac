#!/usr/bin/env bash
# Make a local Debian bookworm base image for the Lambda image, without any registry:
# debootstrap (minbase) from Debian's mirror, then tar and `podman import`. It is laid
# out like the registry's debian:bookworm-slim (apt sources for bookworm, -updates and
# -security; no docs, man pages or locales), so handler/Dockerfile behaves the same on
# either base. Skips the work when the tag exists already. About a minute.
#
#   scripts/make-base-image.sh [TAG]        # default localhost/debian:bookworm-slim
#   scripts/make-base-image.sh --install-tools   # only install podman, runc, debootstrap
#
# Environment: HFACTION_BASE_IMAGE (the tag), DEBIAN_MIRROR (http://deb.debian.org/debian).
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

if [[ "${1:-}" == "--install-tools" ]]; then
  install_tools
  exit 0
fi

tag="${1:-${HFACTION_BASE_IMAGE:-localhost/debian:bookworm-slim}}"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
suite=bookworm

install_tools
containers_conf
if podman image exists "$tag"; then
  echo "make-base-image: $tag exists"
  exit 0
fi

started=$SECONDS
work="$(mktemp -d -t hfaction-base-XXXXXX)"
cleanup_files+=("$work")
rootfs="$work/rootfs"

echo "make-base-image: debootstrap --variant=minbase $suite from $mirror"
as_root debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || {
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
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["bash"]' \
  --message "debootstrap --variant=minbase $suite $mirror" \
  "$work/rootfs.tar" "$tag" >/dev/null
echo "make-base-image: made $tag in $((SECONDS - started)) s"
