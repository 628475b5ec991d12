"""Which application takes a new request: the routes applications asked for.

An application routes a method (``route``); a request of that method
outside any dialog goes to one of the applications routing it, in turn
(round robin), or to one of those with a tag when the request handler
routes the request to that tag. Requests inside a dialog go to the dialog's owner instead
(:mod:`drachtio.server.dialogs`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Routes"]

_App = TypeVar("_App")


class Routes(Generic[_App]):
    """The applications routing each method, in the order they asked, and whose turn is next."""

    __slots__ = ("_apps", "_next")

    def __init__(self) -> None:
        self._apps: dict[str, list[_App]] = {}
        self._next: dict[str, int] = {}

    def __contains__(self, method: str) -> bool:
        """Whether some application routes ``method``."""
        return method in self._apps

    def methods(self) -> list[str]:
        """The methods some application routes, sorted (a 405's ``Allow``, RFC 3261 §8.2.1)."""
        return sorted(self._apps)

    def add(self, app: _App, method: str) -> None:
        """``app`` takes its turn at new ``method`` requests (once, however often it asks)."""
        apps = self._apps.setdefault(method, [])
        if app not in apps:
            apps.append(app)

    def remove(self, app: _App, method: str) -> None:
        """``app`` takes no more new ``method`` requests; the others keep their turns."""
        apps = self._apps.get(method)
        if apps is None or app not in apps:
            return
        index = apps.index(app)
        apps.remove(app)
        if not apps:
            del self._apps[method]
            self._next.pop(method, None)
        elif index < self._next.get(method, 0) % (len(apps) + 1):
            # The applications after the removed one moved down a place: so
            # does the cursor, so that the next in turn is not skipped.
            self._next[method] -= 1

    def remove_app(self, app: _App) -> None:
        """``app`` went away: it takes no more new requests of any method."""
        for method in [m for m, apps in self._apps.items() if app in apps]:
            self.remove(app, method)

    def routes(self, app: _App, method: str) -> bool:
        """Whether ``app`` routes ``method``."""
        return app in self._apps.get(method, ())

    def pick(self, method: str, accept: Callable[[_App], bool] | None = None) -> _App | None:
        """The application whose turn it is to take a new ``method`` request, or ``None``.

        With ``accept``, only the applications it accepts take turns (those
        with a tag): the first accepted from the one whose turn it is.
        """
        apps = self._apps.get(method)
        if not apps:
            return None
        start = self._next.get(method, 0) % len(apps)
        for step in range(len(apps)):
            index = (start + step) % len(apps)
            if accept is None or accept(apps[index]):
                self._next[method] = index + 1
                return apps[index]
        return None
