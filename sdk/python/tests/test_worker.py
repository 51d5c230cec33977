"""A worker on the SDK against two real nodes: the user's side talks through the other node."""

from __future__ import annotations

import uuid

import pytest

from voicehelper import AuthenticationError, Client, Message, VoiceHelperError, models

from .conftest import Cluster, Human, ServiceAccount, eventually, unique


async def worker_and_human(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client]
) -> tuple[Client, Client, str, list[models.AgentDispatchEvent]]:
    """A registered worker on node 0, a session naming its agent (dispatched to it, joined), the user on node 1."""
    worker = await Client.connect([cluster.nodes[0].url, cluster.nodes[1].url], api_key=service.api_key)
    clients.append(worker)
    agent = unique("agent").replace("_", "-")
    dispatches: list[models.AgentDispatchEvent] = []
    worker.on("agent:dispatch", dispatches.append)
    worker_id = await worker.register(agent, capacity=5)
    assert worker_id == worker.worker_id
    session_id = await human.create_session(agent)
    await eventually(lambda: any(d.session_id == session_id for d in dispatches))
    assert dispatches[0].agent == agent and dispatches[0].epoch >= 1
    joined = await worker.join(session_id, live_audio=True)
    assert joined.session.id == session_id and joined.session.agent == agent
    user = await Client.connect(cluster.nodes[1].url, token=human.token)
    clients.append(user)
    await user.join(session_id, live_audio=True)
    return worker, user, session_id, dispatches


async def test_conversation(cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client]) -> None:
    worker, user, session_id, _ = await worker_and_human(cluster, service, human, clients)
    heard: list[Message] = []
    worker.on("message:new", heard.append)
    told: list[Message] = []
    user.on("message:new", told.append)

    # The user's messages reach the worker once each, in order.
    sent = [await user.send(session_id, f"question {i}", role="user") for i in range(3)]
    await eventually(lambda: len(heard) == 3)
    assert [m.id for m in heard] == [m.id for m in sent]
    assert [m.seq for m in heard] == [sent[0].seq, sent[0].seq + 1, sent[0].seq + 2]

    # An answer comes back as stored, with its seq, and reaches the user.
    answer = await worker.send(session_id, "an answer")
    assert answer.seq == sent[-1].seq + 1 and answer.content == "an answer" and answer.role == "assistant"
    await eventually(lambda: any(m.id == answer.id for m in told))
    assert worker.last_seq(session_id) == answer.seq

    # A streamed turn: the user sees the deltas as they come, then the committed message.
    deltas = user.subscribe("message:delta")
    async with worker.stream(session_id) as turn:
        await turn.delta("Hel")
        await turn.delta("lo")
    assert turn.message is not None and turn.message.content == "Hello"
    assert turn.message.metadata["streamId"] == turn.stream_id
    first, second = await deltas.get(5), await deltas.get(5)
    assert [first.data.delta, second.data.delta] == ["Hel", "lo"]
    assert first.data.stream_id == turn.stream_id
    await eventually(lambda: any(m.id == turn.message.id for m in told if turn.message is not None))

    # Nothing came twice or out of order, on either side.
    assert [m.seq for m in heard] == sorted({m.seq for m in heard})
    assert [m.seq for m in told] == sorted({m.seq for m in told})


async def test_speak_audio(cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client]) -> None:
    worker, user, session_id, _ = await worker_and_human(cluster, service, human, clients)
    live = user.subscribe("audio:started", "audio:frame", "audio:ended")
    told: list[Message] = []
    user.on("message:new", told.append)
    frames = [bytes([i]) * 640 for i in range(20)]
    async with worker.speak(session_id, "audio/l16", 16000) as speaker:
        for frame in frames:
            await speaker.frame(frame)
    stored = speaker.message
    assert stored is not None and stored.content_type == "audio" and stored.role == "assistant"
    assert stored.metadata["bytes"] == 640 * 20 and stored.metadata["mimeType"] == "audio/l16"
    await eventually(lambda: any(m.id == stored.id for m in told))

    started = await live.get(5)
    assert started.name == "audio:started" and started.data.stream_id == speaker.stream_id
    assert started.data.sample_rate == 16000
    received = [await live.get(5) for _ in frames]
    assert [event.data.index for event in received] == list(range(20))
    assert b"".join(event.data.data for event in received) == b"".join(frames)
    ended = await live.get(5)
    assert ended.name == "audio:ended" and ended.data.message_id == stored.id


async def test_barge_in(cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client]) -> None:
    worker, user, session_id, _ = await worker_and_human(cluster, service, human, clients)
    interrupted = worker.subscribe("turn:interrupted")
    async with worker.stream(session_id) as turn:
        await turn.delta("Once upon ")
        await turn.delta("a time")
        # The user talks over it: what they heard is stored, the worker is told.
        cut = await user.interrupt(session_id, turn.stream_id, heard_chars=4)
        assert cut.content == "Once" and cut.metadata["interrupted"] is True
        event = await interrupted.get(5)
        assert event.data.stream_id == turn.stream_id and event.data.message_id == cut.id
        await turn.delta(" there was")
        raise AssertionError("a delta after the barge-in was taken")
    # The block swallowed StreamInterrupted; the stream's message is the stored turn.
    assert turn.interrupted and turn.message is not None and turn.message.id == cut.id

    # The worker can cut its own stream, too (it heard the user start speaking).
    async with worker.stream(session_id) as own:
        await own.delta("Let me explain")
        stored = await worker.interrupt(session_id, own.stream_id, heard_index=0)
    assert stored.content == "Let me explain" and own.message is not None and own.message.id == stored.id
    # Stored at its own request, the cut turn is in its session log at once: no gap waits for a rejoin.
    assert worker.last_seq(session_id) == stored.seq
    heard: list[Message] = []
    worker.on("message:new", heard.append)
    after = await user.send(session_id, "and then?", role="user")
    await eventually(lambda: any(m.id == after.id for m in heard))
    assert after.seq == stored.seq + 1 and [m.id for m in heard] == [after.id]


async def test_retrieve(cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client]) -> None:
    worker, _, session_id, _ = await worker_and_human(cluster, service, human, clients)
    result = await worker.retrieve("what did I upload?", top_k=3, session_id=session_id)
    assert isinstance(result, models.RetrieveResult)
    assert result.chunks == [] and isinstance(result.entities, list)
    assert result.timings.total_ms >= 0


async def test_wrong_api_key(cluster: Cluster) -> None:
    with pytest.raises(AuthenticationError) as refused:
        await Client.connect(cluster.nodes[0].url, api_key=f"vhk_{uuid.uuid4()}.not-the-secret")
    assert refused.value.code == "UNAUTHORIZED"


async def test_refused_events_carry_the_wire_code(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client]
) -> None:
    worker = await Client.connect(cluster.nodes[0].url, api_key=service.api_key)
    user = await Client.connect(cluster.nodes[1].url, token=human.token)
    clients.extend([worker, user])
    with pytest.raises(VoiceHelperError) as missing:
        await worker.join(str(uuid.uuid4()))
    assert missing.value.code == "NOT_FOUND"
    # Only services serve agents.
    with pytest.raises(VoiceHelperError) as forbidden:
        await user.register(unique("agent").replace("_", "-"))
    assert forbidden.value.code == "FORBIDDEN"
    # A user may send only role 'user': the server says so, and the message is not resent.
    session_id = await human.create_session(unique("agent").replace("_", "-"))
    await user.join(session_id)
    with pytest.raises(VoiceHelperError) as role:
        await user.send(session_id, "pretending", role="assistant")
    assert role.value.code == "FORBIDDEN" and user.pending(session_id) == 0
    # What the schema refuses never leaves the client.
    with pytest.raises(VoiceHelperError) as invalid:
        await worker.send("not-a-session-id", "hello")
    assert invalid.value.code == "VALIDATION"
