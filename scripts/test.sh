#!/usr/bin/env bash
# The full test suite: installs what is missing (npm packages, PostgreSQL, Redis, Milvus,
# Neo4j, an S3 server), starts the real services on loopback ports, type-checks, runs every
# test against them, and stops them again whatever happens.
#   npm test            # everything: the main project and the Redis Cluster project at once
#   npm test -- test/unit   # extra arguments go to vitest (main project only); a run of
#                           # unit tests only starts no service and skips lint and type checks
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

started=$(date +%s)
# Node.js 24 first on PATH for everything below (installed once if the machine's is older).
# shellcheck source=scripts/node.sh
source scripts/node.sh
use_node_24
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[test] npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi

# helm, kubeconform, promtool and the Kubernetes API schemas for the chart, alert, dashboard and
# Alertmanager unit tests: built once per version from the Go module proxy (about 4 minutes fresh).
# shellcheck source=scripts/k8s-tools.sh
source scripts/k8s-tools.sh
ensure_k8s_tools

# Unit tests touch no service: a run of them alone starts nothing.
unit_only=false
if [ $# -gt 0 ]; then
  unit_only=true
  for arg in "$@"; do
    case $arg in
      test/unit | test/unit/*) ;;
      -*) ;;
      *) unit_only=false ;;
    esac
  done
fi
if $unit_only; then
  npx vitest run "$@"
  echo "[test] finished in $(( $(date +%s) - started ))s" >&2
  exit 0
fi

# Artillery (MPL-2.0) runs the load shapes of load-tests/artillery/ in the suite: a package
# of its own (about 700 packages), kept out of the server's dependencies, installed once.
if [ ! -d load-tests/artillery/node_modules ] ||
  [ load-tests/artillery/package-lock.json -nt load-tests/artillery/node_modules/.package-lock.json ]; then
  echo "[test] npm ci (load-tests/artillery)" >&2
  npm ci --prefix load-tests/artillery --ignore-scripts --no-audit --no-fund >&2
fi

export SERVICES_OWNER_PID=$$
export VOICEHELPER_RUN_DIR=${VOICEHELPER_RUN_DIR:-/tmp/voicehelper-services-$$}
trap 'bash test/infra/services.sh check; bash test/infra/services.sh down' EXIT INT TERM
env_file=$(bash test/infra/services.sh up)
# shellcheck disable=SC1090
source "$env_file"
echo "[test] services ready after $(( $(date +%s) - started ))s" >&2
# The Python worker SDK and the reference assistant: their pinned venv (made once), first on
# PATH for pytest below and for the tests that run the assistant as a process.
# shellcheck source=scripts/python.sh
source scripts/python.sh
use_python_venv
# The assistant's integration test runs the real assistant with this python.
VOICEHELPER_TEST_PYTHON="$(command -v python)"
export VOICEHELPER_TEST_PYTHON

# Lint and format (Biome, biome.json): any finding fails the run; `npm run lint:fix` fixes what it can.
npx biome check --error-on-warnings .
npm run build >&2
npx tsc -p tsconfig.test.json
# The k6 scripts, type-checked against @types/k6 (k6 itself is not installed: it is AGPL).
npx tsc -p load-tests/k6/tsconfig.json
# The client SDK, compiled as it ships: ES2022 and the DOM only, no Node types (it runs in browsers too).
npx tsc -p client/tsconfig.json
npx tsc -p web/tsconfig.json
# One vitest run (vitest.config.ts): the main project, with pytest for sdk/python and the
# assistant as one of its files (test/python/pytest.test.ts), and the realtime and limits
# suites again on the Redis Cluster (project redis-cluster), all sharing the two workers.
# Extra arguments pick files of the main project (add `--project redis-cluster` for both).
if [ $# -eq 0 ]; then
  npx vitest run
else
  npx vitest run --project main "$@"
fi
echo "[test] finished in $(( $(date +%s) - started ))s" >&2
