"""The assistant as the launcher runs it: exit codes, signals, sessions at once, a question that waited."""

from __future__ import annotations

import asyncio
import signal
import uuid

from voicehelper import Client, Message

from .conftest import Cluster, Human, ServiceAccount, eventually, sdk, start_assistant, unique, upload
from .test_typed_turns import user_in_session


async def test_a_refused_key_exits_3_saying_so(cluster: Cluster) -> None:
    running = await start_assistant([cluster.nodes[0].url], f"vhk_{uuid.uuid4()}.not-the-secret", "assistant")
    assert await asyncio.wait_for(running.process.wait(), 60) == 3
    await running.stop()
    assert "the API key was refused" in running.log()


async def test_no_node_exits_4_after_the_wait(cluster: Cluster) -> None:
    closed = f"http://127.0.0.1:{sdk.free_port()}"
    running = await start_assistant([closed], "vhk_x.y", "assistant", None, "--give-up-after", "2")
    assert await asyncio.wait_for(running.process.wait(), 60) == 4
    await running.stop()
    assert "no node answered within 2 s" in running.log()


async def test_missing_arguments_exit_2(cluster: Cluster) -> None:
    running = await start_assistant([], None, "assistant", {"VOICEHELPER_URLS": "", "VOICEHELPER_API_KEY": ""})
    assert await asyncio.wait_for(running.process.wait(), 60) == 2
    await running.stop()
    assert "give --url (or VOICEHELPER_URLS)" in running.log()


async def test_env_configuration_and_sigterm(cluster: Cluster, service: ServiceAccount, human: Human) -> None:
    agent = unique("assistant").replace("_", "-")
    env = {"VOICEHELPER_URLS": ",".join(node.url for node in cluster.nodes), "VOICEHELPER_API_KEY": service.api_key}
    running = await start_assistant([], None, agent, env)
    try:
        await running.wait_for_line(r"serving agent")
        session_id = await human.create_session(agent)
        await eventually(lambda: any("dispatched" in line and session_id in line for line in running.lines), 30)
        running.process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(running.process.wait(), 30) == 0
    finally:
        await running.stop()
    # It left: its session waits for another worker of the agent.
    async def waiting() -> bool:
        status, body = await human.http("GET", f"/v1/sessions/{session_id}")
        assert status == 200
        return bool(body["session"]["agentStatus"]["state"] == "waiting")

    await eventually(waiting, 30)
    assert "stopping" in running.log()


async def test_a_question_asked_before_the_assistant_came_is_answered(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client], assistants
) -> None:
    agent_less = unique("assistant").replace("_", "-")
    await upload(human, "garden.txt", "The garden gate is painted green. The roses bloom in June.\n")
    # The session names an agent no worker serves yet: the question waits.
    user, session_id = await user_in_session(cluster, human, agent_less, clients)
    seen: list[Message] = []
    user.on("message:new", seen.append)
    await user.send(session_id, "What colour is the garden gate?", role="user")
    running = await start_assistant([n.url for n in cluster.nodes], service.api_key, agent_less)
    try:
        await running.wait_for_line(r"serving agent")
        await eventually(lambda: any(m.role == "assistant" and m.content_type == "text" for m in seen), 30)
    finally:
        await running.stop()
    answer = next(m for m in seen if m.role == "assistant" and m.content_type == "text")
    assert "The garden gate is painted green." in answer.content and "garden.txt" in answer.content


async def test_sessions_are_answered_at_once_each_from_its_own_owner(
    cluster: Cluster, service: ServiceAccount, clients: list[Client], assistants
) -> None:
    assistant = await assistants(cluster, service)
    owners = [await sdk.register_human(cluster.nodes[0].url) for _ in range(2)]
    await upload(owners[0], "moon.txt", "The moon base has three airlocks. Its crew eats algae bread.\n")
    await upload(owners[1], "ship.txt", "The ship has two airlocks. Its crew eats salted fish.\n")
    sessions = [await user_in_session(cluster, owner, assistant.agent, clients) for owner in owners]
    seen: list[list[Message]] = [[], []]
    for (user, _), box in zip(sessions, seen, strict=True):
        user.on("message:new", box.append)
    await asyncio.gather(
        *(user.send(session_id, "How many airlocks are there?", role="user") for user, session_id in sessions)
    )

    def answer(box: list[Message]) -> str | None:
        return next((m.content for m in box if m.role == "assistant" and m.content_type == "text"), None)

    await eventually(lambda: all(answer(box) is not None for box in seen), 30)
    assert "three airlocks" in (answer(seen[0]) or "") and "two airlocks" not in (answer(seen[0]) or "")
    assert "two airlocks" in (answer(seen[1]) or "") and "three airlocks" not in (answer(seen[1]) or "")
