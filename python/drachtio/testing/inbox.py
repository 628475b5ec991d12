"""What a scripted phone waits for: items as they arrive, and the responses to its requests.

Every wait has a timeout, so an application that never answers fails the
test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Generic, TypeVar

from drachtio._core import SipRequest, SipResponse

__all__ = ["ClientTx", "Inbox", "final_response"]

_T = TypeVar("_T")


class Inbox(Generic[_T]):
    """Items as they arrive; :meth:`take` waits, with a timeout, for the first that matches."""

    def __init__(self) -> None:
        self._items: list[_T] = []
        self._arrived = asyncio.Event()
        self._error: BaseException | None = None

    def __len__(self) -> int:
        """How many items wait to be taken."""
        return len(self._items)

    def put(self, item: _T) -> None:
        self._items.append(item)
        self._arrived.set()

    def fail(self, error: BaseException) -> None:
        """Make waits for items not received yet raise ``error``."""
        if self._error is None:
            self._error = error
        self._arrived.set()

    async def take(
        self, match: Callable[[_T], bool], timeout: float, what: str, *, keep: bool = False
    ) -> _T:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            for index, item in enumerate(self._items):
                if match(item):
                    if not keep:
                        del self._items[index]
                    return item
            if self._error is not None:
                raise self._error
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"{what} within {timeout:g} s")
            self._arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), remaining)


class ClientTx:
    """A request the phone sent, and its responses."""

    def __init__(self, request: SipRequest, on_response: Callable[[SipResponse], None] | None):
        self.request = request
        self.responses: Inbox[SipResponse] = Inbox()
        self.on_response = on_response

    @property
    def what(self) -> str:
        return f"{self.request.method} {self.request.uri}"


async def final_response(tx: ClientTx, timeout: float) -> SipResponse:
    """The final response to ``tx``'s request; it stays in the inbox, to be asked for again."""
    return await tx.responses.take(
        lambda r: r.status >= 200, timeout, f"no final response to {tx.what}", keep=True
    )
