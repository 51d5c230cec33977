#!/usr/bin/env bash
# The full test suite: installs what is missing (npm packages, PostgreSQL, Redis, Milvus,
# Neo4j, an S3 server), starts the real services on loopback ports, type-checks, runs every
# test against them, and stops them again whatever happens.
#   npm test            # everything
#   npm test -- test/unit   # extra arguments go to vitest
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi

export SERVICES_OWNER_PID=$$
export VOICEHELPER_RUN_DIR=${VOICEHELPER_RUN_DIR:-/tmp/voicehelper-services-$$}
trap 'bash test/infra/services.sh down' EXIT INT TERM
env_file=$(bash test/infra/services.sh up)
# shellcheck disable=SC1090
source "$env_file"
echo "[test] services ready after $(( $(date +%s) - started ))s" >&2

npm run build >&2
npx tsc -p tsconfig.test.json
npx vitest run "$@"
echo "[test] finished in $(( $(date +%s) - started ))s" >&2
