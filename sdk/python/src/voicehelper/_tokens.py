"""Access tokens: exchanged for an API key, renewed ahead of their expiry."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable, Sequence

import aiohttp

from .errors import AuthenticationError, VoiceHelperError, unavailable

#: Gives an access token; the argument says why: `initial`, `expiring` or `unauthorized`.
TokenProvider = Callable[[str], Awaitable[str]]


def token_expiry(token: str) -> float | None:
    """When a JWT expires (seconds since the epoch), read without verifying it."""
    parts = token.split(".")
    if len(parts) < 2:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:
        return None
    exp = payload.get("exp") if isinstance(payload, dict) else None
    return float(exp) if isinstance(exp, int | float) else None


def api_key_provider(urls: Sequence[str], api_key: str, timeout: float) -> TokenProvider:
    """Exchanges the key at `POST /v1/auth/token`, on the first node that answers."""

    async def exchange(_reason: str) -> str:
        last: Exception | None = None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as http:
            for url in urls:
                try:
                    async with http.post(f"{url.rstrip('/')}/v1/auth/token", json={"apiKey": api_key}) as response:
                        body = await response.json(content_type=None)
                except (aiohttp.ClientError, TimeoutError, ValueError) as error:
                    last = error
                    continue
                if response.status == 200 and isinstance(body, dict) and isinstance(body.get("accessToken"), str):
                    return str(body["accessToken"])
                error_body = body.get("error") if isinstance(body, dict) else None
                refused = VoiceHelperError.from_wire(error_body)
                if response.status == 401:
                    raise AuthenticationError(
                        "UNAUTHORIZED", f"the API key was refused: {refused.message}", details=refused.details
                    )
                # A node that cannot answer now (429, 503): another may.
                last = refused
        raise unavailable(f"no node exchanged the API key: {last}")

    return exchange


def static_provider(token: str) -> TokenProvider:
    async def provide(reason: str) -> str:
        if reason == "unauthorized":
            raise AuthenticationError("UNAUTHORIZED", "the access token was refused and the client cannot renew it")
        return token

    return provide


class TokenKeeper:
    """Asks the provider at start, `margin` seconds before the token expires, and after a refusal."""

    def __init__(self, provider: TokenProvider, margin: float, on_error: Callable[[BaseException], None]) -> None:
        self._provider = provider
        self._margin = margin
        self._on_error = on_error
        self._token: str | None = None
        self._pending: asyncio.Task[str] | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def current(self) -> str:
        if self._token is not None and not self._expires_within(self._margin):
            return self._token
        return await self.refresh("initial" if self._token is None else "expiring")

    async def refresh(self, reason: str) -> str:
        if self._pending is None:
            self._pending = asyncio.ensure_future(self._fetch(reason))
        pending = self._pending
        try:
            return await asyncio.shield(pending)
        finally:
            if pending.done() and self._pending is pending:
                self._pending = None

    def invalidate(self) -> None:
        """Forgets the token (it expired, or the server refused it): the next `current()` asks anew."""
        self._token = None

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.cancel()

    async def _fetch(self, reason: str) -> str:
        token = await self._provider(reason)
        self._token = token
        self._schedule(token)
        return token

    def _expires_within(self, seconds: float) -> bool:
        expiry = None if self._token is None else token_expiry(self._token)
        return expiry is not None and expiry - time.time() < seconds

    # Renewed ahead of time, so that a reconnect never waits for the exchange.
    def _schedule(self, token: str) -> None:
        self.stop()
        expiry = token_expiry(token)
        if expiry is None:
            return
        delay = max(1.0, expiry - time.time() - self._margin)
        self._timer = asyncio.get_running_loop().call_later(delay, self._renew)

    def _renew(self) -> None:
        asyncio.ensure_future(self._renew_reporting())

    async def _renew_reporting(self) -> None:
        try:
            await self.refresh("expiring")
        except Exception as error:  # noqa: BLE001 - the app hears of it through on_error
            self._on_error(error)
