"""Typed questions answered from the session owner's documents, in text and in voice."""

from __future__ import annotations

from voicehelper import Client, Event, Message

from voicehelper_assistant.answer import DONT_KNOW

from .conftest import Cluster, Human, ServiceAccount, eventually, upload

BAKERY = (
    "The Sunrise Bakery handbook.\n\n"
    "The Sunrise Bakery opens at seven in the morning on weekdays. "
    "On Sundays the bakery opens at nine and closes at noon. "
    "Our sourdough bread is baked every night with rye flour from the Mill of Arden. "
    "Customers may park their bicycles in the courtyard behind the shop.\n"
)


async def user_in_session(cluster: Cluster, human: Human, agent: str, clients: list[Client]) -> tuple[Client, str]:
    session_id = await human.create_session(agent)
    user = await Client.connect(cluster.nodes[1].url, token=human.token)
    clients.append(user)
    await user.join(session_id, live_audio=True)
    return user, session_id


async def answer_to(user: Client, session_id: str, question: str, seen: list[Message]) -> tuple[Message, Message, list[Event]]:
    """Sends a question; returns the text answer, the audio answer and the live events of the answer."""
    live = user.subscribe("message:delta", "audio:started", "audio:frame", "audio:ended")
    asked = await user.send(session_id, question, role="user")

    def answers(content_type: str) -> list[Message]:
        return [m for m in seen if m.seq > asked.seq and m.role == "assistant" and m.content_type == content_type]

    await eventually(lambda: bool(answers("text")) and bool(answers("audio")), 60)
    live.close()
    events = [event async for event in live]
    return answers("text")[0], answers("audio")[0], events


async def test_typed_question_is_answered_from_the_document_in_text_and_voice(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client], assistants
) -> None:
    assistant = await assistants(cluster, service)
    await upload(human, "bakery-handbook.txt", BAKERY)
    user, session_id = await user_in_session(cluster, human, assistant.agent, clients)
    seen: list[Message] = []
    user.on("message:new", seen.append)

    text, audio, events = await answer_to(user, session_id, "When does the bakery open on Sundays?", seen)

    # The extractive answer quotes the sentence that answers and cites the document.
    assert "On Sundays the bakery opens at nine and closes at noon." in text.content
    assert "bakery-handbook.txt" in text.content
    assert "Mill of Arden" not in text.content
    # It came as deltas of one stream, in order, that make up the final message.
    deltas = [e.data for e in events if e.name == "message:delta" and e.data.stream_id == text.metadata["streamId"]]
    assert len(deltas) >= 2 and [d.index for d in deltas] == list(range(len(deltas)))
    assert "".join(d.delta for d in deltas) == text.content
    # And as live audio: l16 at espeak-ng's rate, 20 ms frames, stored with the spoken text.
    started = [e.data for e in events if e.name == "audio:started"]
    assert len(started) == 1 and started[0].role == "assistant" and started[0].mime_type == "audio/l16"
    assert started[0].sample_rate == 22050
    frames = [e.data for e in events if e.name == "audio:frame" and e.data.stream_id == started[0].stream_id]
    assert len(frames) > 50 and all(len(f.data) == 882 for f in frames)
    ended = [e.data for e in events if e.name == "audio:ended"]
    assert ended and ended[0].message_id == audio.id and not ended[0].discarded
    assert audio.metadata["mimeType"] == "audio/l16" and audio.metadata["sampleRate"] == 22050
    assert audio.metadata["bytes"] == sum(len(f.data) for f in frames)
    assert audio.content == " ".join(text.content.split())
    # Real speech: not silence.
    pcm = b"".join(f.data for f in frames)
    loudest = max(abs(int.from_bytes(pcm[i : i + 2], "big", signed=True)) for i in range(0, len(pcm), 2))
    assert loudest > 1000

    # A question no document answers.
    text, audio, _ = await answer_to(user, session_id, "What is the capital city of Mongolia?", seen)
    assert text.content == DONT_KNOW and audio.content == DONT_KNOW
