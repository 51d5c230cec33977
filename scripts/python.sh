# Sourced by scripts/test.sh: a Python virtual environment for the Python SDK (sdk/python)
# and the reference assistant (assistant/), made once under $VOICEHELPER_CACHE from their
# exact pins (sdk/python/requirements-dev.txt, assistant/requirements.txt) and made anew
# whenever they change; both packages are installed editable into it.
use_python_venv() {
  local root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  local requirements=$root/sdk/python/requirements-dev.txt
  local stamp
  # The checkout is part of the name: the editable installs point into it, so two checkouts
  # (a clone beside the working copy) each have their own.
  stamp=$({
    cat "$requirements" "$root/sdk/python/pyproject.toml" "$root/assistant/requirements.txt" \
      "$root/assistant/pyproject.toml"
    echo "$root"
  } | sha256sum | cut -c1-16)
  local venv=${VOICEHELPER_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/voicehelper}/python-sdk-$stamp
  # Written last: a venv without it (an install cut short) is made again.
  local marker=$venv/.voicehelper-sdk
  mkdir -p "$(dirname "$venv")"
  {
    # Two runs at once (a test command beside another): the second waits for the first one's venv.
    flock 8
    if [ "$(cat "$marker" 2>/dev/null)" != "$root/sdk/python" ]; then
      echo "[python] making $venv" >&2
      rm -rf "$venv"
      python3 -m venv "$venv"
      "$venv/bin/python" -m pip install -q --disable-pip-version-check -r "$requirements" \
        -r "$root/assistant/requirements.txt" >&2
      "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation \
        -e "$root/sdk/python" -e "$root/assistant" >&2
      echo "$root/sdk/python" >"$marker"
    fi
  } 8>"$venv.lock"
  export PATH="$venv/bin:$PATH"
}
