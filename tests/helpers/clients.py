"""Provider clients (DarajaClient, AirtelClient) for respx tests: a hand-moved clock, no pauses."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from collections.abc import Callable
from typing import Any


@contextlib.asynccontextmanager
async def client_maker(
    client_class: Callable[..., Any], default_config: Any, clock: Any, delays: list[float]
) -> AsyncIterator[Callable[..., Any]]:
    """Yield ``make(config=default_config, **kwargs)``: clients on ``clock`` whose pauses (in
    seconds) are appended to ``delays`` instead of slept; every one is closed at the end."""
    clients: list[Any] = []

    async def record_sleep(seconds: float) -> None:
        delays.append(seconds)

    def make(config: Any = default_config, **kwargs: Any) -> Any:
        kwargs.setdefault("clock", clock)
        client = client_class(config, sleep=record_sleep, **kwargs)
        clients.append(client)
        return client

    try:
        yield make
    finally:
        for client in clients:
            await client.aclose()
