"""Two real nodes (from dist/, as `npm start` runs them) on the services `npm test` started.

Every test session keeps to a Redis namespace, a queue and accounts of its own, so it
shares the services with the vitest suite and with other runs.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from voicehelper import Client

REPO = Path(__file__).resolve().parents[3]
SERVICES = [
    "DATABASE_URL",
    "REDIS_URL",
    "MILVUS_ADDRESS",
    "NEO4J_URI",
    "NEO4J_USER",
    "NEO4J_PASSWORD",
    "S3_ENDPOINT",
    "S3_ACCESS_KEY",
    "S3_SECRET_KEY",
    "S3_BUCKET",
]
LIFTED = "1000000/1s"


def unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Node:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


@dataclass
class Cluster:
    env: dict[str, str]
    nodes: list[Node] = field(default_factory=list)
    tmp: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="vh-pytest-")))

    def start_node(self) -> Node:
        main = REPO / "dist" / "src" / "main.js"
        if not main.exists():
            raise RuntimeError(f"{main} is missing: build first (npm test does)")
        port = free_port()
        log = self.tmp / f"node-{port}.log"
        env = {**self.env, "PORT": str(port), "NODE_ID": f"py-{port}", "DATA_DIR": str(self.tmp / f"data-{port}")}
        with log.open("wb") as out:
            process = subprocess.Popen([node_binary(), str(main)], env=env, stdout=out, stderr=subprocess.STDOUT)
        node = Node(f"http://127.0.0.1:{port}", process, log)
        self.nodes.append(node)
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"the node exited early:\n{node.output()}")
            try:
                with urllib.request.urlopen(f"{node.url}/readyz", timeout=2) as response:
                    if response.status == 200:
                        return node
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the node did not become ready:\n{node.output()}")
            time.sleep(0.1)

    def cli(self, *args: str, stdin: str = "") -> str:
        run = subprocess.run(
            [node_binary(), str(REPO / "dist" / "src" / "cli" / "main.js"), *args],
            env=self.env,
            input=stdin.encode(),
            capture_output=True,
            timeout=60,
        )
        if run.returncode != 0:
            raise RuntimeError(f"voicehelper {' '.join(args)} failed ({run.returncode}): {run.stderr.decode()}")
        return run.stdout.decode()

    def stop(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.kill()
                node.process.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def node_binary() -> str:
    found = shutil.which("node")
    if found is None:
        raise RuntimeError("node is not on PATH (scripts/test.sh puts Node.js 24 there)")
    return found


def services_env() -> dict[str, str]:
    missing = [name for name in SERVICES if not os.environ.get(name)]
    if missing:
        raise RuntimeError(
            f"the real services are not configured ({', '.join(missing)} unset): run the tests with 'npm test'"
        )
    return {name: os.environ[name] for name in SERVICES}


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "NODE_COMPILE_CACHE": os.path.join(tempfile.gettempdir(), "voicehelper-test-compile-cache"),
        **services_env(),
        "HOST": "127.0.0.1",
        "JWT_SECRET": "test-only-jwt-secret-0123456789abcdef",
        "LOG_LEVEL": "warn",
        "REDIS_NAMESPACE": unique("pyns"),
        "INGEST_QUEUE": unique("pyingest"),
        "MILVUS_COLLECTION": "suite_chunks_d8",
        "EMBEDDING_DIM": "8",
        "RECONCILE_INTERVAL_MS": "86400000",
        # Fast cluster timers: a killed node's sessions and streams move on within a second or two.
        "STREAM_IDLE_MS": "1500",
        "STREAM_SWEEP_MS": "200",
        "STREAM_RESUME_GRACE_MS": "400",
        "NODE_ALIVE_MS": "3000",
        "AGENT_REDISPATCH_MS": "1000",
        "SOCKET_MAX_IN_FLIGHT": "10000",
        **{
            f"RATE_LIMIT_{name}": LIFTED
            for name in (
                "MESSAGE_SEND MESSAGE_DELTA AUDIO_CHUNK RETRIEVE CONNECTIONS LOGIN LOGIN_IP LOGIN_ACCOUNT REGISTER "
                "REFRESH HTTP SESSION_CREATE SESSION_JOIN SESSION_LEAVE SESSION_UPDATE TURN_INTERRUPT HISTORY_GET "
                "AUDIO_START AUDIO_END AUDIO_ABORT AGENT_REGISTER AGENT_RELEASE"
            ).split()
        },
    }
    running = Cluster(env)
    try:
        running.start_node()
        running.start_node()
        yield running
    finally:
        running.stop()


@dataclass(frozen=True)
class ServiceAccount:
    email: str
    api_key: str


@pytest.fixture(scope="session")
def service(cluster: Cluster) -> ServiceAccount:
    """A service account and its API key, made with the operators' CLI as a deployment would."""
    email = f"{unique('worker')}@example.test"
    cluster.cli("users", "create", "--email", email, "--role", "service", stdin="a long test-only password\n")
    printed = cluster.cli("keys", "create", "--user", email, "--name", "pytest")
    api_key = next(word for word in printed.split() if word.startswith("vhk_"))
    return ServiceAccount(email, api_key)


@dataclass
class Human:
    """The user side: an account registered over HTTP, with its own SDK client."""

    user_id: str
    token: str
    base: str

    async def http(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        async with aiohttp.ClientSession() as http:
            async with http.request(
                method, f"{self.base}{path}", json=body, headers={"Authorization": f"Bearer {self.token}"}
            ) as response:
                return response.status, await response.json(content_type=None)

    async def create_session(self, agent: str) -> str:
        status, body = await self.http("POST", "/v1/sessions", {"title": "pytest", "agent": agent})
        assert status == 201, body
        return str(body["session"]["id"])


async def register_human(base: str) -> Human:
    async with aiohttp.ClientSession() as http:
        email = f"{unique('human')}@example.test"
        body = {"email": email, "username": "human", "password": "a long test-only password"}
        async with http.post(f"{base}/v1/auth/register", json=body) as response:
            assert response.status == 201, await response.text()
            data = json.loads(await response.text())
    return Human(data["user"]["id"], data["accessToken"], base)


@pytest.fixture
async def human(cluster: Cluster) -> Human:
    return await register_human(cluster.nodes[0].url)


@pytest.fixture
async def clients() -> AsyncIterator[list[Client]]:
    """Clients a test opened (append them): closed after it, whatever happened."""
    opened: list[Client] = []
    yield opened
    await asyncio.gather(*(client.close() for client in opened), return_exceptions=True)


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 10.0) -> None:
    """Waits until `check` holds, or fails after `timeout` seconds."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the condition did not hold in time")
        await asyncio.sleep(0.02)
