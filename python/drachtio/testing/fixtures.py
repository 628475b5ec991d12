"""The pytest fixtures of :mod:`drachtio.testing` (registered by its ``pytest_configure``).

``drachtio_server``
    A started :class:`~drachtio.Server` on free loopback ports (UDP and TCP,
    T1 = 50 ms), stopped after the test. Its settings come from the
    ``drachtio_config`` fixture: override that one to change them.
``sip_phone``
    A started :class:`~drachtio.testing.SipPhone` (user ``phone``) on
    loopback, closed after the test.
``sip_phone_factory``
    ``await sip_phone_factory("alice", transport="tcp")``: more phones, each
    closed after the test.
``sip_transport``
    The transport of the phones (``"udp"``); parametrize it to run a test
    over both: ``@pytest.mark.parametrize("sip_transport", ["udp", "tcp"])``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from drachtio.server import Server, ServerConfig
from drachtio.testing import server_config
from drachtio.testing.phone import PhoneFactory, SipPhone

__all__ = [
    "drachtio_config",
    "drachtio_server",
    "sip_phone",
    "sip_phone_factory",
    "sip_transport",
]


@pytest.fixture
def drachtio_config() -> ServerConfig:
    """The settings ``drachtio_server`` starts with: :func:`~drachtio.testing.server_config`."""
    return server_config()


@pytest_asyncio.fixture
async def drachtio_server(drachtio_config: ServerConfig) -> AsyncIterator[Server]:
    """A started server on loopback, stopped after the test (its calls ended with BYE)."""
    server = Server(drachtio_config)
    await server.start()
    try:
        yield server
    finally:
        await server.stop()


@pytest.fixture
def sip_transport() -> str:
    """The transport of the ``sip_phone`` fixtures: ``"udp"``, or ``"tcp"`` when parametrized."""
    return "udp"


@pytest_asyncio.fixture
async def sip_phone_factory(sip_transport: str) -> AsyncIterator[PhoneFactory]:
    """Starts phones on loopback (``await sip_phone_factory("alice")``); closes them after."""
    phones: list[SipPhone] = []

    async def make(
        user: str = "phone", *, transport: str | None = None, timeout: float | None = None
    ) -> SipPhone:
        phone = await SipPhone.start(
            transport or sip_transport, user=user, timeout=5.0 if timeout is None else timeout
        )
        phones.append(phone)
        return phone

    try:
        yield make
    finally:
        for phone in phones:
            await phone.close()


@pytest_asyncio.fixture
async def sip_phone(sip_phone_factory: PhoneFactory) -> SipPhone:
    """A started phone (user ``phone``) on loopback, closed after the test."""
    return await sip_phone_factory()
