"""Answers from an OpenAI-compatible chat-completions endpoint, streamed (server-sent events)."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import aiohttp

from voicehelper import models

from .answer import chunk_title

log = logging.getLogger("voicehelper_assistant")

SYSTEM_PROMPT = (
    "You are a voice assistant: every answer is read aloud. Answer in a few short, plain "
    "sentences, without lists, tables or Markdown. Answer from the documents below and name "
    "the document you used. When they do not hold the answer, say that you don't know it yet "
    "and that the user can upload a document about it."
)


@dataclass(frozen=True)
class LlmConfig:
    """Where answers come from: `base_url` (as `https://host/v1`), an optional bearer key and a model name."""

    base_url: str
    api_key: str | None = None
    model: str = "gpt-4o-mini"
    #: Seconds to wait for the next piece of the stream before giving up on the answer.
    read_timeout: float = 60.0

    @property
    def url(self) -> str:
        return self.base_url.rstrip("/") + "/chat/completions"


class LlmError(Exception):
    """The endpoint refused or broke off the answer."""


def build_messages(question: str, chunks: Sequence[models.Chunk], history: Sequence[models.Message]) -> list[dict[str, str]]:
    """The chat: the instructions with the retrieved chunks, the recent turns, then the question."""
    if chunks:
        documents = "\n\n".join(f"[{chunk_title(chunk)}]\n{chunk.content.strip()}" for chunk in chunks)
    else:
        documents = "(no document matches the question)"
    messages = [{"role": "system", "content": f"{SYSTEM_PROMPT}\n\nDocuments:\n{documents}"}]
    for message in history:
        # An answer is stored twice, as text and as its audio: the text speaks for both.
        if message.role == "assistant" and message.content_type == "audio":
            continue
        if message.role in ("user", "assistant") and message.content.strip():
            messages.append({"role": str(message.role), "content": message.content})
    messages.append({"role": "user", "content": question})
    return messages


async def stream_chat(
    config: LlmConfig, messages: list[dict[str, str]], http: aiohttp.ClientSession
) -> AsyncIterator[str]:
    """The answer's text as the endpoint streams it, piece by piece (`choices[0].delta.content`)."""
    headers = {"Accept": "text/event-stream"}
    if config.api_key:
        headers["Authorization"] = f"Bearer {config.api_key}"
    body: dict[str, Any] = {"model": config.model, "messages": messages, "stream": True}
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=config.read_timeout)
    try:
        async with http.post(config.url, json=body, headers=headers, timeout=timeout) as response:
            if response.status != 200:
                text = (await response.text())[:300]
                raise LlmError(f"{config.url} answered {response.status}: {text}")
            async for raw in response.content:
                line = raw.decode("utf-8", errors="replace").strip()
                if not line.startswith("data:"):
                    continue
                data = line[5:].strip()
                if data == "[DONE]":
                    return
                try:
                    event = json.loads(data)
                except json.JSONDecodeError:
                    log.warning("llm: skipping an event that is not JSON: %.100s", data)
                    continue
                if isinstance(event, dict) and event.get("error"):
                    raise LlmError(f"{config.url} broke off: {event['error']}")
                choices = event.get("choices") if isinstance(event, dict) else None
                if not choices:
                    continue
                content = (choices[0].get("delta") or {}).get("content")
                if isinstance(content, str) and content:
                    yield content
    except aiohttp.ClientError as error:
        raise LlmError(f"{config.url}: {error}") from error
    except TimeoutError as error:
        raise LlmError(f"{config.url}: no answer within {config.read_timeout} s") from error
