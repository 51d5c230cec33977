"""The checked-in models are what the protocol's schemas generate: the Python side cannot drift."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parents[1] / "tools" / "generate_models.py"
MODELS = Path(__file__).resolve().parents[1] / "src" / "voicehelper" / "models.py"


def test_models_match_the_protocol(tmp_path: Path) -> None:
    fresh = tmp_path / "models.py"
    subprocess.run([sys.executable, str(TOOLS), str(fresh)], check=True, capture_output=True)
    assert fresh.read_text() == MODELS.read_text(), (
        "sdk/python/src/voicehelper/models.py is stale: run python sdk/python/tools/generate_models.py"
    )


def test_payloads_are_checked_before_they_are_sent() -> None:
    from voicehelper import VoiceHelperError, models
    from voicehelper.client import payload

    body = payload(models.MessageSendPayload, session_id="6f1c2a3e-0000-4000-8000-000000000000", content="hi",
                   client_msg_id="a", role="assistant")
    assert body == {"sessionId": "6f1c2a3e-0000-4000-8000-000000000000", "content": "hi", "clientMsgId": "a",
                    "role": "assistant"}
    try:
        payload(models.MessageSendPayload, session_id="not-a-uuid", content="hi", client_msg_id="a")
    except VoiceHelperError as error:
        assert error.code == "VALIDATION"
        assert any("session_id" in str(issue["path"]) or "sessionId" in str(issue["path"])
                   for issue in error.details["issues"])
    else:
        raise AssertionError("an invalid session id was accepted")
