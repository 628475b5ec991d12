"""Testing SIP applications: a server in the test's process and scripted SIP phones.

As a pytest plugin (registered under the ``pytest11`` entry point as
``drachtio``, so installed with the package) it gives the fixtures
``drachtio_server``, ``sip_phone`` and ``sip_phone_factory`` (see
:mod:`drachtio.testing.fixtures` and ``docs/app-guide.md``). Outside
pytest, :class:`SipPhone` and :func:`server_config` work on their own::

    server = Server(server_config(), app=srf)
    await server.start()
    async with await SipPhone.start() as phone:
        call = await phone.invite(server, "sip:bob@example.com", sdp=sdp())
        assert (await call.final()).status == 200

Importing this package does not import pytest; the fixtures are registered
when pytest configures the plugin.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from drachtio.server import ServerConfig
from drachtio.testing.calls import Call, IncomingCall, OutgoingCall
from drachtio.testing.incoming import IncomingRequest
from drachtio.testing.messages import Headers, sdp
from drachtio.testing.phone import PhoneFactory, SipPhone

if TYPE_CHECKING:
    import pytest

__all__ = [
    "Call",
    "Headers",
    "IncomingCall",
    "IncomingRequest",
    "OutgoingCall",
    "PhoneFactory",
    "SipPhone",
    "pytest_configure",
    "sdp",
    "server_config",
]


def server_config(**settings: Any) -> ServerConfig:
    """Settings for a server under test: UDP and TCP on free loopback ports, a
    free control port, a random secret, T1 = 50 ms and a short shutdown;
    ``settings`` (any :class:`~drachtio.ServerConfig` field) override them.

    Raises:
        ConfigError: an invalid setting.
    """
    values: dict[str, Any] = {
        "sip": ["udp:127.0.0.1:0", "tcp:127.0.0.1:0"],
        "control_host": "127.0.0.1",
        "control_port": 0,
        "secrets": [secrets.token_hex(16)],
        "t1": 0.05,
        "shutdown_grace": 0.01,
    }
    values.update(settings)
    config = ServerConfig(**values)
    config.validate()
    return config


def pytest_configure(config: pytest.Config) -> None:
    """Register the fixtures (pytest calls this when it loads the plugin).

    Without pytest-asyncio, which the fixtures run on, nothing is registered.
    """
    try:
        from drachtio.testing import fixtures
    except ModuleNotFoundError as exc:
        if exc.name == "pytest_asyncio":
            return
        raise
    if not config.pluginmanager.is_registered(fixtures):
        config.pluginmanager.register(fixtures, "drachtio.testing.fixtures")
