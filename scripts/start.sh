#!/usr/bin/env bash
# Starts one node on Node.js 24 (installed first if the machine's node is older, see
# scripts/node.sh). On a fresh clone it first installs the npm packages; it compiles only
# when the sources changed (scripts/build.sh, safe with several nodes starting at once);
# with no service variables set, every store runs embedded (data under ./data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/node.sh
source scripts/node.sh
use_node_24
mkdir -p .build
{
  flock 9
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  fi
} 9>.build/install.lock
bash scripts/build.sh >&2
exec node dist/src/main.js
