"""A worker's node is killed with SIGKILL mid-conversation: the worker goes on on the other node."""

from __future__ import annotations

import asyncio
import signal

from voicehelper import Client, ConnectionState, Message, Registered, models

from .conftest import Cluster, Human, ServiceAccount, eventually, unique


async def test_worker_survives_sigkill_of_its_node(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client]
) -> None:
    doomed = cluster.start_node()
    survivor = cluster.nodes[0]
    worker = await Client.connect([doomed.url, survivor.url], api_key=service.api_key)
    clients.append(worker)
    assert worker.node_id == f"py-{doomed.url.rsplit(':', 1)[1]}"

    heard: list[Message] = []
    worker.on("message:new", heard.append)
    registered: list[Registered] = []
    worker.on("registered", registered.append)
    states: list[ConnectionState] = []
    worker.on("state", states.append)
    dispatches: list[models.AgentDispatchEvent] = []

    # The app's part: join each session dispatched here, as a worker does.
    @worker.on("agent:dispatch")
    async def dispatched(event: models.AgentDispatchEvent) -> None:
        dispatches.append(event)
        await worker.join(event.session_id)

    agent = unique("agent").replace("_", "-")
    await worker.register(agent)
    session_id = await human.create_session(agent)
    user = await Client.connect(cluster.nodes[1].url, token=human.token)
    clients.append(user)
    await user.join(session_id)
    told: list[Message] = []
    user.on("message:new", told.append)

    await eventually(lambda: session_id in worker.joined())
    before = await user.send(session_id, "before the crash", role="user")
    await eventually(lambda: [m.id for m in heard] == [before.id])
    reply = await worker.send(session_id, "a first answer")

    # The node stops reading first, so that the next answer is surely in flight, unacked,
    # when it dies.
    doomed.process.send_signal(signal.SIGSTOP)
    unacked = asyncio.create_task(worker.send(session_id, "an answer in flight", client_msg_id="in-flight-1"))
    await eventually(lambda: worker.pending(session_id) == 1)
    doomed.process.kill()
    doomed.process.wait()

    # The user goes on meanwhile.
    during = await user.send(session_id, "while the worker moves", role="user")

    # The worker reconnects to the other node, registers again, is dispatched the session
    # again, rejoins it from the last seq it handed on, and resends the answer.
    resent = await asyncio.wait_for(unacked, 30)
    assert resent.client_msg_id == "in-flight-1" and resent.content == "an answer in flight"
    assert worker.node_id == f"py-{survivor.url.rsplit(':', 1)[1]}"
    assert len(registered) == 2 and registered[1].worker_id != registered[0].worker_id
    assert any(state.state == "disconnected" for state in states)
    await eventually(lambda: len(dispatches) >= 2 and dispatches[-1].epoch > dispatches[0].epoch, 15)
    await eventually(lambda: any(m.id == during.id for m in heard), 15)

    after = await user.send(session_id, "after the move", role="user")
    await eventually(lambda: any(m.id == after.id for m in heard))

    # Each of the user's messages once, in order, across the crash.
    users = [m.id for m in heard if m.role == "user"]
    assert users == [before.id, during.id, after.id]
    assert [m.seq for m in heard] == sorted({m.seq for m in heard})
    # The resent answer was stored once: the user saw it once, and sending it again with the
    # same client_msg_id answers the same stored message.
    await eventually(lambda: any(m.id == resent.id for m in told))
    assert [m.id for m in told].count(resent.id) == 1
    again = await worker.send(session_id, "an answer in flight", client_msg_id="in-flight-1")
    assert (again.id, again.seq) == (resent.id, resent.seq)
    # The session holds each message once: the two written during the move in either order.
    history = await user.history(session_id)
    contents = [m.content for m in history.messages]
    assert contents[:2] == ["before the crash", "a first answer"] and contents[-1] == "after the move"
    assert sorted(contents[2:-1]) == ["an answer in flight", "while the worker moves"]
    assert reply.seq < resent.seq
