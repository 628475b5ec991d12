"""A response whose data comes later: a command the receiver settles after it returned.

Most commands are answered at once; ``proxy`` is answered when the request
it forwards is settled. The receiver returns a :class:`Later` and calls
:meth:`Later.resolve` when the data is known; whoever sends the response
(a channel, an in-process link) waits for it with :meth:`Later.then`.
"""

from __future__ import annotations

from collections.abc import Callable

from drachtio.protocol.results import ResponseData

__all__ = ["Later"]


class Later:
    """The data of a response not known yet; resolved once."""

    __slots__ = ("_callback", "_data")

    def __init__(self) -> None:
        self._data: ResponseData | None = None
        self._callback: Callable[[ResponseData], None] | None = None

    @property
    def resolved(self) -> bool:
        """Whether the data is known."""
        return self._data is not None

    def resolve(self, data: ResponseData) -> None:
        """The data is ``data``: it goes to the waiting sender (once; later calls do nothing)."""
        if self._data is not None:
            return
        self._data = data
        if self._callback is not None:
            callback, self._callback = self._callback, None
            callback(data)

    def then(self, callback: Callable[[ResponseData], None]) -> None:
        """Call ``callback`` with the data: at once if known, else when resolved."""
        if self._data is not None:
            callback(self._data)
        else:
            self._callback = callback
