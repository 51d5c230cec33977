"""A test double of an external LLM: a local OpenAI-compatible `/v1/chat/completions` that streams.

It answers every request with the pieces the test gave it, one server-sent event each, a
pause between them, and keeps each request (headers and JSON body) for the test to check.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web


@dataclass
class FakeChatCompletions:
    pieces: list[str] = field(default_factory=list)
    pause: float = 0.0
    requests: list[dict[str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> FakeChatCompletions:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._complete)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and server.sockets
        self.url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/v1"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _complete(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        try:
            for piece in self.pieces:
                event = {"object": "chat.completion.chunk", "choices": [{"index": 0, "delta": {"content": piece}}]}
                await response.write(f"data: {json.dumps(event)}\n\n".encode())
                if self.pause:
                    await asyncio.sleep(self.pause)
            await response.write(b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n')
            await response.write_eof()
        except ConnectionResetError:
            pass  # the assistant stopped reading: a barge-in
        return response
