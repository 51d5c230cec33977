#!/usr/bin/env bash
# Starts one node. On a fresh clone it first installs the npm packages and compiles; with no
# service variables set, every store runs embedded (data under ./data).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund >&2
fi
npx tsc -p tsconfig.json
exec node dist/src/main.js
