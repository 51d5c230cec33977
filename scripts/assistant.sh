#!/usr/bin/env bash
# The reference assistant (assistant/, on the Python SDK in sdk/python) and its runtime venv.
#
#   npm run assistant -- --url http://node1:3000 --url http://node2:3000 --api-key vhk_...
#       makes the venv if needed, then runs `python -m voicehelper_assistant` with these
#       arguments (VOICEHELPER_URLS and VOICEHELPER_API_KEY work too): an assistant of its
#       own against the nodes of a cluster (docs/assistant.md)
#   source scripts/assistant.sh && use_assistant_venv
#       makes the venv if needed and exports ASSISTANT_PYTHON, its python (scripts/start.sh
#       does this before it starts a node that runs the assistant)
#
# The venv is made once under $VOICEHELPER_CACHE (default ~/.cache/voicehelper) from the
# exact pins of assistant/requirements-runtime.txt on Python 3.11 or newer, and made anew
# whenever the pins, the two packages' pyproject.toml or the Python change. The SDK and the
# assistant are installed into it editable: it runs this checkout's code as it is now, as
# `npm start` runs the server from its current sources, so an edit to assistant/src needs
# no reinstall (the image, assistant/Dockerfile, installs them as fixed copies instead).

# The first Python 3.11 or newer among ASSISTANT_BASE_PYTHON, python3.13, python3.12,
# python3.11 and python3; nothing (and status 1) without one.
assistant_base_python() {
  local candidate
  for candidate in ${ASSISTANT_BASE_PYTHON:-} python3.13 python3.12 python3.11 python3; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys, venv; sys.exit(sys.version_info < (3, 11))' >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# Makes the venv when it is missing or was cut short, and exports ASSISTANT_PYTHON. Returns
# 1, having said why on stderr, when there is no Python 3.11+ or the install fails: the
# caller decides what that means (start.sh starts the node without the assistant).
use_assistant_venv() {
  local root base stamp venv marker
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  if ! base=$(assistant_base_python); then
    echo "[assistant] no Python 3.11 or newer with venv found (tried ${ASSISTANT_BASE_PYTHON:-}${ASSISTANT_BASE_PYTHON:+, }python3.13, python3.12, python3.11, python3)" >&2
    return 1
  fi
  # The checkout is part of the name: the editable install points into it.
  stamp=$({
    cat "$root/assistant/requirements-runtime.txt" "$root/assistant/requirements.txt" \
      "$root/assistant/pyproject.toml" "$root/sdk/python/pyproject.toml"
    "$base" -c 'import sys; print(sys.version)'
    echo "$root"
  } | sha256sum | cut -c1-16)
  venv=${VOICEHELPER_CACHE:-$HOME/.cache/voicehelper}/assistant-$stamp
  # Written last: a venv without it (an install cut short) is made again.
  marker=$venv/.voicehelper-assistant
  mkdir -p "$(dirname "$venv")" || return 1
  {
    # Two starts at once: the second waits for the first one's venv.
    flock 8
    if [ ! -f "$marker" ]; then
      echo "[assistant] making its venv in $venv (Python $("$base" -c 'import platform; print(platform.python_version())'))" >&2
      rm -rf "$venv" &&
        "$base" -m venv "$venv" &&
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --timeout 30 --retries 2 \
          -r "$root/assistant/requirements-runtime.txt" >&2 &&
        "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
          -e "$root/sdk/python" -e "$root/assistant" >&2 &&
        "$venv/bin/python" -c 'import voicehelper, voicehelper_assistant' &&
        echo "$root" >"$marker"
    fi
  } 8>"$venv.lock"
  if [ ! -f "$marker" ]; then
    echo "[assistant] could not make its venv in $venv (the pip output above says why)" >&2
    return 1
  fi
  export ASSISTANT_PYTHON=$venv/bin/python
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  use_assistant_venv
  exec "$ASSISTANT_PYTHON" -m voicehelper_assistant "$@"
fi
