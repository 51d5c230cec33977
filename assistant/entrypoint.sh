#!/bin/sh
# The image's entry point (assistant/Dockerfile): takes the API key from the file
# VOICEHELPER_API_KEY_FILE names (a compose or Kubernetes secret) when VOICEHELPER_API_KEY
# is unset, then runs the assistant with the arguments given.
set -eu
if [ -z "${VOICEHELPER_API_KEY:-}" ] && [ -n "${VOICEHELPER_API_KEY_FILE:-}" ]; then
  if [ ! -s "$VOICEHELPER_API_KEY_FILE" ]; then
    echo "assistant: $VOICEHELPER_API_KEY_FILE is empty: make the assistant's key with the CLI (docs/assistant.md) and set ASSISTANT_API_KEY" >&2
    exit 78
  fi
  VOICEHELPER_API_KEY=$(cat "$VOICEHELPER_API_KEY_FILE")
  export VOICEHELPER_API_KEY
fi
exec python -m voicehelper_assistant "$@"
