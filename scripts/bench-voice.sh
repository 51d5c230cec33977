#!/usr/bin/env bash
# `npm run bench:voice`: voice-to-voice latency in Chromium (bench/voice-bench.ts) on a node
# of the embedded default with its assistant. Needs Debian's chromium and espeak-ng (as
# `npm test` does); makes the assistant's venv like `npm start` (scripts/assistant.sh).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/node.sh
source scripts/node.sh
use_node_24
bash scripts/build.sh >&2
for tool in espeak-ng "${CHROMIUM_PATH:-/usr/bin/chromium}"; do
  if ! command -v "$tool" >/dev/null; then
    echo "bench:voice: $tool is missing (apt-get install espeak-ng chromium)" >&2
    exit 2
  fi
done
if [ -z "${ASSISTANT_PYTHON:-}" ]; then
  # shellcheck source=scripts/assistant.sh
  source scripts/assistant.sh
  use_assistant_venv
fi
exec node dist/bench/voice-bench.js "$@"
