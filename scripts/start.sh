#!/usr/bin/env bash
# Starts one node on Node.js 24 (installed first if the machine's node is older, see
# scripts/node.sh). On a fresh clone it first installs the npm packages; it compiles only
# when the sources changed (scripts/build.sh, safe with several nodes starting at once);
# with no service variables set, every store runs embedded (data under ./data).
# When the node will run the reference assistant (ASSISTANT; on by default on the embedded
# default), it first makes the assistant's venv (scripts/assistant.sh) and passes its python
# as ASSISTANT_PYTHON; without Python 3.11+ or when the install fails, it says so once and
# starts the node without the assistant.
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
# The node's own rule (src/config) says whether it will run the assistant.
if [ -z "${ASSISTANT_PYTHON:-}" ] && [ "$(node dist/src/config/assistant-wanted.js)" = on ]; then
  # shellcheck source=scripts/assistant.sh
  source scripts/assistant.sh
  if ! use_assistant_venv; then
    echo "[start] warning: the reference assistant is not available (see above); starting the node without it (ASSISTANT=off hides this)" >&2
    export ASSISTANT=off
  fi
fi
exec node dist/src/main.js
