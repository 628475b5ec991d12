"""The application tests reuse the server tests' harness (a server on free ports, sipp)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent.parent / "server"))


import pytest
from app_harness import Attach

from drachtio import Srf
from drachtio.server import Server


@pytest.fixture(params=["remote", "embedded"])
def attach(request: pytest.FixtureRequest) -> Attach:
    """How the application joins the server: over the control port, or in its process.

    Every test that takes it runs both ways: the same application code must
    behave the same.
    """

    async def remote(server: Server, srf: Srf) -> object:
        host, port = server.control_address
        return await srf.connect(host, port, "s3cret")

    async def embedded(server: Server, srf: Srf) -> object:
        return await srf.attach(server)

    return remote if request.param == "remote" else embedded
