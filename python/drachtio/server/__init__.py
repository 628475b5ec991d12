"""The drachtio server: SIP on one side, applications over the JSON control protocol on the other.

``Server(config)`` runs on any asyncio loop (``await server.serve()``, or
``start()`` / ``stop()``); ``drachtio serve`` is the same from the command
line. See ``docs/server.md``.
"""

from __future__ import annotations

from drachtio.server.config import DEV_SECRET, ConfigError, ServerConfig, load_config
from drachtio.server.server import Server

__all__ = ["DEV_SECRET", "ConfigError", "Server", "ServerConfig", "load_config"]
