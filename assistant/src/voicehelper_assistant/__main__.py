"""`python -m voicehelper_assistant`: the reference assistant as a process.

Exits 0 on SIGTERM/SIGINT (after cutting the answers being given), 2 on bad arguments,
3 when the API key is refused and 4 when no node answered within `--give-up-after`
seconds (at start, or later after losing the connection).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from voicehelper import AuthenticationError, Client, ConnectionState, VoiceHelperError

from .llm import LlmConfig
from .speech import DEFAULT_VOICE, espeak_binary
from .turn import Settings
from .worker import Assistant, load_recognizer

log = logging.getLogger("voicehelper_assistant")

EXIT_REFUSED = 3
EXIT_UNREACHABLE = 4


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m voicehelper_assistant",
        description="The reference voice assistant: hears, retrieves, answers and speaks in dispatched sessions.",
    )
    parser.add_argument("--url", action="append", default=[], help="a node's URL (repeat for several; env VOICEHELPER_URLS, comma-separated)")
    parser.add_argument("--api-key", default=None, help="the service account's API key (env VOICEHELPER_API_KEY)")
    parser.add_argument("--agent", default="assistant", help="the agent served (default: assistant)")
    parser.add_argument("--capacity", type=int, default=10, help="sessions served at once (default: 10)")
    parser.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    parser.add_argument(
        "--give-up-after", type=float, default=120.0, metavar="SECONDS",
        help="exit when no node answers for this long (default: 120)",
    )
    args = parser.parse_args(argv)
    if not args.url:
        args.url = [url.strip() for url in os.environ.get("VOICEHELPER_URLS", "").split(",") if url.strip()]
    args.api_key = args.api_key or os.environ.get("VOICEHELPER_API_KEY") or None
    if not args.url:
        parser.error("give --url (or VOICEHELPER_URLS)")
    if not args.api_key:
        parser.error("give --api-key (or VOICEHELPER_API_KEY)")
    if not 1 <= args.capacity <= 10000:
        parser.error("--capacity is 1-10000")
    return args


def settings_from_env() -> Settings:
    base_url = os.environ.get("LLM_BASE_URL", "").strip()
    llm = None
    if base_url:
        llm = LlmConfig(
            base_url,
            api_key=os.environ.get("LLM_API_KEY") or None,
            model=os.environ.get("LLM_MODEL") or LlmConfig.model,
        )
    espeak = espeak_binary()
    if espeak is None:
        log.warning("espeak-ng is not installed: answers are given in text only")
    return Settings(voice=os.environ.get("ASSISTANT_VOICE") or DEFAULT_VOICE, espeak=espeak, llm=llm)


async def serve(args: argparse.Namespace) -> int:
    settings = settings_from_env()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    recognizer = asyncio.create_task(load_recognizer())
    try:
        client = await Client.connect(args.url, api_key=args.api_key, timeout=args.give_up_after)
    except AuthenticationError as error:
        log.error("the API key was refused (%s): %s", error.code, error.message)
        recognizer.cancel()
        return EXIT_REFUSED
    except VoiceHelperError as error:
        log.error("no node answered within %.0f s at %s: %s", args.give_up_after, ", ".join(args.url), error.message)
        recognizer.cancel()
        return EXIT_UNREACHABLE
    log.info("connected to %s (node %s)", client.urls[0] if len(client.urls) == 1 else client.urls, client.node_id)
    gone: asyncio.TimerHandle | None = None
    unreachable = asyncio.Event()

    def watch(state: ConnectionState) -> None:
        nonlocal gone
        if state.state == "connected" and gone is not None:
            gone.cancel()
            gone = None
        elif state.state in ("disconnected", "connecting") and gone is None:
            gone = loop.call_later(args.give_up_after, unreachable.set)

    client.on("state", watch)
    assistant = Assistant(client, args.agent, args.capacity, settings, await recognizer)
    code = 0
    try:
        await assistant.start()
        outcomes = {
            asyncio.create_task(stop.wait()): 0,
            asyncio.create_task(unreachable.wait()): EXIT_UNREACHABLE,
            asyncio.create_task(client.wait_closed()): EXIT_REFUSED,
        }
        done, pending = await asyncio.wait(outcomes, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        # A signal wins over what the stop itself may cause.
        code = 0 if stop.is_set() else min(outcomes[task] for task in done)
        if code == EXIT_UNREACHABLE:
            log.error("no node answered for %.0f s: exiting", args.give_up_after)
        elif code == EXIT_REFUSED:
            log.error("the server ended the connection for good (the key revoked, or the account disabled)")
        else:
            log.info("stopping")
    except AuthenticationError as error:
        log.error("the API key was refused: %s", error.message)
        code = EXIT_REFUSED
    except VoiceHelperError as error:
        log.error("could not register agent %r: %s %s", args.agent, error.code, error.message)
        code = 1
    finally:
        await assistant.close()
        await client.close()
    return code


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return asyncio.run(serve(args))


if __name__ == "__main__":
    sys.exit(main())
