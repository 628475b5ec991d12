"""Running an application's handlers: their types, the middleware chain, the error answer.

A new request runs through the middleware that applies to its method, then
its handler (:func:`run_handler`); a request in a dialog goes to the
dialog's handler directly. A handler that raises :class:`~drachtio.SipError`
has the request answered with its status; any other exception is logged
and answered 500.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from drachtio.app.message import Request, Response
from drachtio.errors import ConnectionLost, LocalError, RequestFailed, SipError

__all__ = ["Handler", "Middleware", "answer_error", "run_handler"]

log = logging.getLogger("drachtio.app")

Handler = Callable[[Request, Response], Awaitable[None]]
"""A request handler: ``async def handler(req, res)``."""
Middleware = Callable[[Request, Response, Callable[[], Awaitable[None]]], Awaitable[None]]
"""``async def middleware(req, res, call_next)``: runs before the handler; ``await call_next()``."""


async def run_handler(
    handler: Handler,
    req: Request,
    res: Response,
    middleware: list[tuple[str | None, Middleware]] | None,
) -> None:
    """Run ``handler(req, res)`` behind those of ``middleware`` (``(method or
    None, middleware)`` pairs) that apply to the request's method; answer what
    it raises."""
    try:
        chain = (
            [m for method, m in middleware if method in (None, req.method)] if middleware else None
        )
        if chain:
            await _Chain(chain, handler, req, res).run(0)
        else:
            await handler(req, res)
    except SipError as exc:
        await answer_error(res, exc.status, exc.reason)
    except (ConnectionLost, asyncio.CancelledError):
        raise
    except Exception:
        log.exception("handler of %s failed, answering 500", req.method)
        await answer_error(res, 500, None)


async def answer_error(res: Response, status: int, reason: str | None) -> None:
    """Answer ``status`` unless the request has its final response; a failure is logged."""
    if res.finished:
        return
    try:
        await res._send(status, reason, None, None, None)
    except (RequestFailed, LocalError, ConnectionLost) as exc:
        log.info("could not answer %d: %s", status, exc)


@dataclass(slots=True)
class _Chain:
    """One request's way through the middleware to its handler.

    Each ``call_next`` is a bound method, not a closure that refers to
    itself: the request and its response are freed when the handler ends
    instead of waiting in a reference cycle for the garbage collector.
    """

    middleware: list[Middleware]
    handler: Handler
    req: Request
    res: Response

    async def run(self, index: int) -> None:
        if index == len(self.middleware):
            await self.handler(self.req, self.res)
        else:
            await self.middleware[index](self.req, self.res, partial(self.run, index + 1))
