"""Spoken questions: the user's live audio is transcribed as it arrives, stored with its
message, answered in text and voice; starting to speak cuts the answer being spoken."""

from __future__ import annotations

import subprocess

from voicehelper import Client, Message

from voicehelper_assistant.speech import FRAME_BYTES, FRAME_SECONDS, SAMPLE_RATE, frames, pcm_from_wav
from voicehelper_assistant.voice import LEAD

from .conftest import Cluster, Human, ServiceAccount, eventually, upload
from .test_typed_turns import BAKERY, user_in_session


def spoken(text: str) -> bytes:
    """The text as the user would say it: espeak-ng's voice, as big-endian l16 at its own rate."""
    wav = subprocess.run(["espeak-ng", "--stdout", "-v", "en-us"], input=text.encode(), capture_output=True, check=True)
    return pcm_from_wav(wav.stdout)


async def test_a_spoken_question_cuts_the_answer_is_transcribed_and_answered(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client], assistants
) -> None:
    assistant = await assistants(cluster, service)
    await upload(human, "bakery-handbook.txt", BAKERY)
    user, session_id = await user_in_session(cluster, human, assistant.agent, clients)
    seen: list[Message] = []
    user.on("message:new", seen.append)
    live = user.subscribe("audio:started", "audio:frame", "audio:ended")
    transcripts = user.subscribe("message:transcript")

    # A typed question; its answer is being spoken when the user starts talking.
    await user.send(session_id, "When does the bakery open?", role="user")
    answering = (await live.get(30)).data
    assert answering.role == "assistant"
    heard = 0
    while heard < 25:
        heard += (await live.get(10)).name == "audio:frame"
    question = spoken("Where can customers park their bicycles?")
    async with user.speak(session_id, "audio/l16", SAMPLE_RATE) as mic:
        for frame in frames(question):
            await mic.frame(frame)
    asked = mic.message
    assert asked is not None and asked.content_type == "audio" and len(question) > 50 * FRAME_BYTES

    # The answer being spoken stopped at what had been heard.
    ended = None
    while ended is None:
        event = await live.get(10)
        if event.name == "audio:ended" and event.data.stream_id == answering.stream_id:
            ended = event.data
    assert ended.reason == "interrupted" and ended.message_id is not None
    await eventually(lambda: any(m.id == ended.message_id for m in seen), 10)
    cut = next(m for m in seen if m.id == ended.message_id)
    # Frames go out LEAD ahead of playing: the 25th one received means the 20th had started.
    assert cut.metadata["interrupted"] is True
    assert cut.metadata["heard"]["index"] >= 24 - round(LEAD / FRAME_SECONDS)

    # The user's audio message gets its transcript, for every member.
    event = None
    while event is None or event.message_id != asked.id:
        event = (await transcripts.get(30)).data
    assert "park" in event.transcript and "bicycles" in event.transcript
    status, history = await human.http("GET", f"/v1/sessions/{session_id}/messages")
    assert status == 200
    assert next(m for m in history["messages"] if m["id"] == asked.id)["content"] == event.transcript

    # And the spoken question is answered, in text and in voice.
    def answer(content_type: str) -> Message | None:
        return next(
            (m for m in seen if m.seq > asked.seq and m.role == "assistant" and m.content_type == content_type
             and not m.metadata.get("interrupted")),
            None,
        )

    await eventually(lambda: answer("text") is not None and answer("audio") is not None, 60)
    text, audio = answer("text"), answer("audio")
    assert text is not None and audio is not None
    assert "Customers may park their bicycles in the courtyard behind the shop." in text.content
    assert audio.content == " ".join(text.content.split())
