"""The SDK as its users install it: a wheel, installed into a clean virtual environment, used there.

The wheel is built from a copy of sdk/python (an in-tree build would leave build/ and
egg-info in the checkout), with the setuptools of the test venv and no build isolation, so it
needs no network. Its dependencies are installed at the pins of requirements-dev.txt from a
wheelhouse kept under the voicehelper cache, downloaded from PyPI the first time (pip's own
cache cannot be relied on: this network's proxy makes PyPI's answers uncacheable); the
install itself runs with --no-index. In the clean venv, a worker script registers an agent
on a real node and answers the session a user opens for it.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .conftest import Cluster, Human, ServiceAccount, unique

SDK = Path(__file__).resolve().parents[1]
PINS = SDK / "requirements-dev.txt"
DEPENDENCIES = ("python-socketio", "aiohttp", "pydantic")

# Runs in the clean venv with -I (no PYTHONPATH, no user site, not the script's directory on
# sys.path): what it imports can only come from what was installed there.
WORKER = """
import asyncio, importlib.metadata, json, os, sys
from pathlib import Path

import voicehelper
from voicehelper import Client

distribution = importlib.metadata.distribution("voicehelper")
print(json.dumps({
    "module": voicehelper.__file__,
    "prefix": sys.prefix,
    "recorded": sorted(str(f) for f in distribution.files or []),
    "py_typed": (Path(voicehelper.__file__).parent / "py.typed").is_file(),
    "direct_url": json.loads(distribution.read_text("direct_url.json") or "{}"),
    "versions": {name: importlib.metadata.version(name) for name in json.loads(os.environ["VH_DEPENDENCIES"])},
}), flush=True)


async def main() -> None:
    worker = await Client.connect(os.environ["VH_URL"], api_key=os.environ["VH_API_KEY"])
    dispatched = asyncio.Queue()
    worker.on("agent:dispatch", dispatched.put_nowait)
    await worker.register(os.environ["VH_AGENT"])
    print(json.dumps({"registered": worker.worker_id}), flush=True)
    dispatch = await asyncio.wait_for(dispatched.get(), 20)
    await worker.join(dispatch.session_id)
    answer = await worker.send(dispatch.session_id, "hello from the wheel")
    print(json.dumps({"session": answer.session_id, "role": answer.role, "content": answer.content}), flush=True)
    await worker.close()


asyncio.run(main())
"""


def pins() -> dict[str, str]:
    found: dict[str, str] = {}
    for line in PINS.read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.split("==", 1)
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def run(*args: str | Path) -> None:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True, timeout=180)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")


def wheelhouse(wheel: Path) -> Path:
    """The wheel's dependencies at the pins, downloaded once per change of the pins or of pyproject.toml."""
    key = hashlib.sha256(PINS.read_bytes() + (SDK / "pyproject.toml").read_bytes()).hexdigest()[:16]
    cache = Path(os.environ.get("VOICEHELPER_CACHE") or Path.home() / ".cache" / "voicehelper")
    house = cache / f"python-sdk-wheels-{key}"
    if house.is_dir():
        return house
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f"{house.name}-", dir=cache))
    try:
        run(sys.executable, "-m", "pip", "download", "-q", "--only-binary", ":all:", "-c", PINS, "-d", partial, wheel)
        for own in partial.glob("voicehelper-*.whl"):
            own.unlink()
        # Complete once renamed; a run that raced this one and renamed first wins.
        partial.rename(house)
    except OSError:
        if not house.is_dir():
            raise
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return house


@dataclass(frozen=True)
class Installed:
    python: Path
    venv: Path
    wheel: Path


@pytest.fixture(scope="module")
def installed() -> Iterator[Installed]:
    tmp = Path(tempfile.mkdtemp(prefix="vh-wheel-"))
    try:
        source = tmp / "source"
        shutil.copytree(
            SDK,
            source,
            ignore=shutil.ignore_patterns("tests", "tools", "build", "dist", "*.egg-info", "__pycache__", ".*"),
        )
        wheels = tmp / "wheels"
        run(sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", wheels, source)
        (wheel,) = wheels.glob("voicehelper-*.whl")
        venv = tmp / "venv"
        run(sys.executable, "-m", "venv", venv)
        python = venv / "bin" / "python"
        run(python, "-m", "pip", "install", "-q", "--no-index", "-f", wheelhouse(wheel), "-c", PINS, wheel)
        run(python, "-m", "pip", "check")
        yield Installed(python, venv, wheel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


async def test_wheel_in_a_clean_venv(
    cluster: Cluster, service: ServiceAccount, human: Human, installed: Installed
) -> None:
    agent = unique("agent").replace("_", "-")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "VH_URL": cluster.nodes[0].url,
        "VH_API_KEY": service.api_key,
        "VH_AGENT": agent,
        "VH_DEPENDENCIES": json.dumps(DEPENDENCIES),
    }
    process = await asyncio.create_subprocess_exec(
        str(installed.python),
        "-I",
        "-c",
        WORKER,
        env=env,
        cwd=installed.venv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )

    async def line() -> Any:
        assert process.stdout is not None and process.stderr is not None
        read = await asyncio.wait_for(process.stdout.readline(), 30)
        if not read:
            code = await process.wait()
            raise AssertionError(f"the worker exited ({code}):\n{(await process.stderr.read()).decode()}")
        return json.loads(read)

    try:
        # Imported from the venv's site-packages, installed from the wheel (not editable), with
        # its py.typed marker and the pinned versions of its dependencies.
        report = await line()
        site = Path(report["prefix"]) / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
        assert report["prefix"] == str(installed.venv)
        assert Path(report["module"]) == site / "voicehelper" / "__init__.py"
        assert report["py_typed"] and "voicehelper/py.typed" in report["recorded"]
        assert report["direct_url"]["url"].endswith(installed.wheel.name)
        assert "archive_info" in report["direct_url"]
        wanted = pins()
        assert report["versions"] == {name: wanted[name] for name in DEPENDENCIES}

        # On a real node: registered as a worker, dispatched the session a user opens for its
        # agent, and its answer is stored there.
        assert (await line())["registered"]
        session_id = await human.create_session(agent)
        answer = await line()
        assert answer == {"session": session_id, "role": "assistant", "content": "hello from the wheel"}
        status, body = await human.http("GET", f"/v1/sessions/{session_id}/messages")
        assert status == 200, body
        assert [m["content"] for m in body["messages"]] == ["hello from the wheel"]
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
