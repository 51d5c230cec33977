"""When each step of one answer happened, for the voice-to-voice latency split.

Every answer logs one line `answer timings {...}`: milliseconds from when its question was
complete (the user's `audio:ended` reached the worker, or their text message did) to each
step. `npm run bench:voice` reads these lines beside what the browser measured.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass, field

log = logging.getLogger("voicehelper_assistant")

#: The steps (the stream opens while the first sentence is synthesized: either may come first).
STEPS = (
    "heard",  # the transcript is ready (voice turns)
    "retrieved",  # the owner's chunks are back
    "first_text",  # the answer's first sentence is complete
    "first_delta",  # ... and sent as a message:delta
    "stream_opened",  # the audio stream is open (audio:start acked; opened while the first sentence is synthesized)
    "synthesized",  # the first sentence's speech is synthesized
    "first_frame",  # the first frame is sent
)


@dataclass
class Timings:
    """Loop times of one answer's steps, from `start` (when the question was complete)."""

    session_id: str
    start: float = field(default_factory=lambda: asyncio.get_running_loop().time())
    voice: bool = False
    at: dict[str, float] = field(default_factory=dict)
    _logged: bool = False

    def mark(self, step: str) -> None:
        """Records the first time `step` is reached (later calls change nothing)."""
        self.at.setdefault(step, asyncio.get_running_loop().time())

    def report(self) -> None:
        """Logs the steps reached, once."""
        if self._logged:
            return
        self._logged = True
        steps = {step: round((self.at[step] - self.start) * 1000, 1) for step in STEPS if step in self.at}
        log.info("answer timings %s", json.dumps({"session": self.session_id, "voice": self.voice, **steps}))
