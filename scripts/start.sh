#!/usr/bin/env bash
# Starts one node. On a fresh clone it first installs the npm packages; it compiles only
# when the sources changed (scripts/build.sh, safe with several nodes starting at once);
# with no service variables set, every store runs embedded (data under ./data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
mkdir -p .build
{
  flock 9
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >&2
  fi
} 9>.build/install.lock
bash scripts/build.sh >&2
exec node dist/src/main.js
