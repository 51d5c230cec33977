"""The complete worker of docs/workers.md, run as its readers run it, against a real node.

The first Python block of the page is written to a file and started as `python echo.py URL
KEY` (with its agent renamed, so that no other test's worker of `echo` can take the
session); a user's message in a session for that agent is answered with "You said: ...".
The page promises a complete worker in under 40 lines: the block is held to it.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

from voicehelper import Client, Message

from .conftest import Cluster, Human, ServiceAccount, eventually, unique

PAGE = Path(__file__).resolve().parents[3] / "docs" / "workers.md"


def example() -> str:
    found = re.search(r"```python\n(.*?)```", PAGE.read_text(), re.DOTALL)
    assert found is not None, f"no Python block in {PAGE}"
    return found.group(1)


async def test_the_documented_worker_answers(
    cluster: Cluster, service: ServiceAccount, human: Human, clients: list[Client], tmp_path: Path
) -> None:
    code = example()
    assert len(code.splitlines()) < 40
    agent = unique("echo").replace("_", "-")
    assert code.count('"echo"') == 1
    script = tmp_path / "echo.py"
    script.write_text(code.replace('"echo"', f'"{agent}"'))
    url = cluster.nodes[0].url
    worker = await asyncio.create_subprocess_exec(
        sys.executable, str(script), url, service.api_key, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT
    )
    assert worker.stdout is not None
    try:
        session_id = await human.create_session(agent)
        # It says so once it has joined the session it was given.
        said = ""
        while f"answering {session_id}" not in said:
            line = await asyncio.wait_for(worker.stdout.readline(), 30)
            assert line, f"the worker ended: {said}"
            said += line.decode(errors="replace")
        user = await Client.connect(url, token=human.token)
        clients.append(user)
        told: list[Message] = []
        user.on("message:new", told.append)
        await user.join(session_id)
        await user.send(session_id, "hello there", role="user")
        await eventually(lambda: any(m.role == "assistant" for m in told), timeout=30)
        answer = next(m for m in told if m.role == "assistant")
        assert answer.content.strip() == "You said: hello there"
    finally:
        worker.kill()
        await worker.wait()
