"""What the application tests share besides fixtures (importable by name, unlike a conftest)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from drachtio import Srf
from drachtio.server import Server

Attach = Callable[[Server, Srf], Awaitable[object]]
"""How the ``attach`` fixture joins an application to a server: ``await attach(server, srf)``."""
