"""Answers from an OpenAI-compatible endpoint (a local test double), streamed, and cut by a barge-in."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from voicehelper import Client, Message

from voicehelper_assistant.speech import FRAME_SECONDS
from voicehelper_assistant.voice import LEAD

from .conftest import Cluster, Human, ServiceAccount, eventually, upload
from .fake_llm import FakeChatCompletions
from .test_typed_turns import BAKERY, user_in_session


@pytest.fixture
async def llm() -> AsyncIterator[FakeChatCompletions]:
    fake = await FakeChatCompletions().start()
    yield fake
    await fake.stop()


def llm_env(fake: FakeChatCompletions) -> dict[str, str]:
    return {"LLM_BASE_URL": fake.url, "LLM_API_KEY": "test-llm-key", "LLM_MODEL": "test-model"}


async def test_llm_answer_streams_in_order_with_the_chunks_and_history(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client], assistants, llm: FakeChatCompletions
) -> None:
    assistant = await assistants(cluster, service, llm_env(llm))
    await upload(human, "bakery-handbook.txt", BAKERY)
    user, session_id = await user_in_session(cluster, human, assistant.agent, clients)
    seen: list[Message] = []
    user.on("message:new", seen.append)

    llm.pieces = ["On Sundays", " the bakery", " opens at nine.", " It closes", " at noon (bakery-handbook.txt)."]
    deltas = user.subscribe("message:delta")
    first = await user.send(session_id, "When does the bakery open on Sundays?", role="user")
    await eventually(lambda: any(m.role == "assistant" and m.content_type == "text" for m in seen), 30)
    answer = next(m for m in seen if m.role == "assistant" and m.content_type == "text")
    assert answer.content == "".join(llm.pieces)
    streamed = [(await deltas.get(5)).data for _ in llm.pieces]
    assert [d.delta for d in streamed] == llm.pieces
    assert [d.index for d in streamed] == list(range(len(llm.pieces)))
    assert {d.stream_id for d in streamed} == {answer.metadata["streamId"]}

    # The request named the model, carried the key, and gave the retrieved chunk as context.
    request = llm.requests[0]
    assert request["model"] == "test-model" and request["stream"] is True
    assert llm.headers[0]["Authorization"] == "Bearer test-llm-key"
    system = request["messages"][0]
    assert system["role"] == "system"
    assert "On Sundays the bakery opens at nine and closes at noon." in system["content"]
    assert "bakery-handbook.txt" in system["content"]
    assert request["messages"][-1] == {"role": "user", "content": first.content}

    # The next request carries the conversation so far.
    llm.pieces = ["Rye flour", " from the Mill of Arden."]
    await user.send(session_id, "Which flour goes into the sourdough?", role="user")
    await eventually(lambda: len(llm.requests) == 2, 30)
    history = llm.requests[1]["messages"][1:]
    assert {"role": "user", "content": first.content} in history
    assert {"role": "assistant", "content": answer.content} in history
    assert history[-1] == {"role": "user", "content": "Which flour goes into the sourdough?"}
    assert "Mill of Arden" in llm.requests[1]["messages"][0]["content"]


async def test_barge_in_by_text_cuts_the_answer_at_what_was_heard(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client], assistants, llm: FakeChatCompletions
) -> None:
    assistant = await assistants(cluster, service, llm_env(llm))
    user, session_id = await user_in_session(cluster, human, assistant.agent, clients)
    seen: list[Message] = []
    user.on("message:new", seen.append)
    live = user.subscribe("audio:started", "audio:frame", "audio:ended", "turn:interrupted")
    transcripts = user.subscribe("message:transcript")

    # A long answer, streamed slowly: still streaming (and speaking) when the user cuts in.
    words = [f" Sentence number {n} of a long story about the bakery." for n in range(1, 60)]
    llm.pieces, llm.pause = words, 0.15
    await user.send(session_id, "Tell me a long story.", role="user")
    started = (await live.get(30)).data
    assert started.role == "assistant"
    frames = 0
    while frames < 60:  # over a second of speech
        event = await live.get(10)
        frames += event.name == "audio:frame"
    llm.pieces, llm.pause = ["A short answer."], 0.0
    cutter = await user.send(session_id, "Stop, what time is it?", role="user")

    # Both streams are stored as what was heard, and listeners are told the audio was cut.
    def cut(content_type: str) -> Message | None:
        return next(
            (m for m in seen if m.role == "assistant" and m.content_type == content_type and m.metadata.get("interrupted")),
            None,
        )

    await eventually(lambda: cut("text") is not None and cut("audio") is not None, 30)
    text, audio = cut("text"), cut("audio")
    assert text is not None and audio is not None
    full = "".join(words)
    heard_chars = text.metadata["heard"]["chars"]
    assert 0 < heard_chars < len(full) and full.startswith(text.content)
    assert text.content.startswith(" Sentence number 1 of a long story")
    assert audio.metadata["heard"]["index"] >= 59 - round(LEAD / FRAME_SECONDS) and audio.metadata["streamId"] == started.stream_id
    assert audio.metadata["bytes"] == (audio.metadata["heard"]["index"] + 1) * 882
    # The audio's transcript is the words heard: the start of the answer.
    transcript = (await transcripts.get(10)).data
    assert transcript.message_id == audio.id
    heard_words = transcript.transcript.split()
    assert 3 < len(heard_words) < len(full.split()) and full.split()[: len(heard_words)] == heard_words
    ended = None
    while ended is None:
        event = await live.get(10)
        if event.name == "audio:ended" and event.data.stream_id == started.stream_id:
            ended = event.data
    assert ended.reason == "interrupted" and ended.message_id == audio.id

    # Then the new question is answered.
    await eventually(
        lambda: any(m.role == "assistant" and m.content == "A short answer." and m.seq > cutter.seq for m in seen), 30
    )
    assert len(llm.requests) == 2 and llm.requests[1]["messages"][-1]["content"] == "Stop, what time is it?"
    # The model is told what the user heard of the cut answer, not what it had written.
    assert {"role": "assistant", "content": text.content} in llm.requests[1]["messages"]
