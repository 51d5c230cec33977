"""Two real nodes (dist/, on the running services) and the assistant as a real process.

The cluster, accounts and helpers are the Python SDK's test fixtures (sdk/python/tests/
conftest.py, loaded by path: that directory is not a package on the path); only the
cluster's embedder differs: 256 dimensions instead of 8, so that retrieval ranks chunks
by what they say, in a Milvus collection of its own.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest

REPO = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("voicehelper_sdk_fixtures", REPO / "sdk/python/tests/conftest.py")
assert _spec is not None and _spec.loader is not None
sdk = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = sdk
_spec.loader.exec_module(sdk)

Cluster = sdk.Cluster
Human = sdk.Human
ServiceAccount = sdk.ServiceAccount
eventually = sdk.eventually
unique = sdk.unique
# Fixtures, used by name: `service` and `human` run on the cluster below.
service = sdk.service
human = sdk.human
clients = sdk.clients


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "NODE_COMPILE_CACHE": os.path.join("/tmp", "voicehelper-test-compile-cache"),
        **sdk.services_env(),
        "HOST": "127.0.0.1",
        "JWT_SECRET": "test-only-jwt-secret-0123456789abcdef",
        "LOG_LEVEL": "warn",
        "REDIS_NAMESPACE": unique("asns"),
        "INGEST_QUEUE": unique("asingest"),
        "MILVUS_COLLECTION": "assistant_chunks_d256",
        "EMBEDDING_DIM": "256",
        "RECONCILE_INTERVAL_MS": "86400000",
        "SOCKET_MAX_IN_FLIGHT": "10000",
        **{f"RATE_LIMIT_{name}": sdk.LIFTED for name in _LIMITS.split()},
    }
    running = Cluster(env)
    try:
        running.start_node()
        running.start_node()
        yield running
    finally:
        running.stop()


_LIMITS = (
    "MESSAGE_SEND MESSAGE_DELTA AUDIO_CHUNK RETRIEVE CONNECTIONS LOGIN LOGIN_IP LOGIN_ACCOUNT REGISTER "
    "REFRESH HTTP SESSION_CREATE SESSION_JOIN SESSION_LEAVE SESSION_UPDATE TURN_INTERRUPT HISTORY_GET "
    "AUDIO_START AUDIO_END AUDIO_ABORT AGENT_REGISTER AGENT_RELEASE MESSAGE_TRANSCRIPT AUDIO_URL"
)


@dataclass
class AssistantProcess:
    """`python -m voicehelper_assistant` as the launcher runs it; its stderr kept for the test."""

    agent: str
    process: asyncio.subprocess.Process
    lines: list[str] = field(default_factory=list)
    _reader: asyncio.Task[None] | None = None

    def log(self) -> str:
        return "\n".join(self.lines[-80:])

    async def wait_for_line(self, pattern: str, timeout: float = 30.0) -> str:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            for line in self.lines:
                if re.search(pattern, line):
                    return line
            if self.process.returncode is not None:
                raise AssertionError(f"the assistant exited ({self.process.returncode}):\n{self.log()}")
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"no line matching {pattern!r}:\n{self.log()}")
            await asyncio.sleep(0.05)

    async def stop(self) -> int:
        if self.process.returncode is None:
            self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        if self._reader is not None:
            await asyncio.wait({self._reader}, timeout=5)
        return self.process.returncode if self.process.returncode is not None else -1


async def start_assistant(
    urls: list[str], api_key: str | None, agent: str, env: dict[str, str] | None = None, *extra: str
) -> AssistantProcess:
    args = [sys.executable, "-m", "voicehelper_assistant", "--agent", agent, "--log-level", "debug", *extra]
    for url in urls:
        args += ["--url", url]
    if api_key is not None:
        args += ["--api-key", api_key]
    process = await asyncio.create_subprocess_exec(
        *args,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("LLM_")}, **(env or {})},
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    running = AssistantProcess(agent, process)

    async def read() -> None:
        assert process.stderr is not None
        async for raw in process.stderr:
            running.lines.append(raw.decode(errors="replace").rstrip())

    running._reader = asyncio.create_task(read())
    return running


@pytest.fixture
async def assistants() -> AsyncIterator[Callable[..., Awaitable[AssistantProcess]]]:
    """Starts assistants (registered when returned); stops them after the test, printing their logs on failure."""
    started: list[AssistantProcess] = []

    async def start(
        cluster: Cluster, service: ServiceAccount, env: dict[str, str] | None = None, *extra: str
    ) -> AssistantProcess:
        agent = unique("assistant").replace("_", "-")
        running = await start_assistant([node.url for node in cluster.nodes], service.api_key, agent, env, *extra)
        started.append(running)
        await running.wait_for_line(r"serving agent")
        return running

    yield start
    for running in started:
        await running.stop()
        print(f"--- assistant {running.agent} ---\n{running.log()}")


async def upload(human: Human, title: str, text: str, timeout: float = 60.0) -> str:
    """Uploads a text document as the human and waits until it is ready; returns its id."""
    form = aiohttp.FormData()
    form.add_field("file", text.encode(), filename=title, content_type="text/plain")
    form.add_field("title", title)
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{human.base}/v1/documents", data=form, headers={"Authorization": f"Bearer {human.token}"}
        ) as response:
            body = await response.json(content_type=None)
            assert response.status == 202, body
    document_id = str(body["document"]["id"])
    status = ""

    async def ready() -> bool:
        nonlocal status
        code, data = await human.http("GET", f"/v1/documents/{document_id}")
        assert code == 200, data
        status = data["document"]["status"]
        assert status != "failed", data
        return bool(status == "ready")

    await eventually(ready, timeout)
    return document_id
