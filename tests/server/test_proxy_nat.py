"""Behind NAT the proxy knows itself by its external address too: the Route
and Via it wrote with that address are recognised as its own."""

from __future__ import annotations

from drachtio import SipRequest, SipStack
from drachtio.server.proxies import _routed_here, own_addresses


async def test_the_external_address_of_a_listener_names_the_server() -> None:
    stack = await SipStack.start(
        ["udp:127.0.0.1:0;external=203.0.113.5:5099;local-net=10.0.0.0/8"], lambda _event: None
    )
    try:
        ((_, ip, port),) = stack.local_addresses
        assert own_addresses(stack) == [(ip, port), ("203.0.113.5", 5099)]

        def bye(*routes: str) -> SipRequest:
            return SipRequest(
                "BYE",
                "sip:bob@192.0.2.20:5070",
                headers=[
                    *(("Route", route) for route in routes),
                    ("From", "<sip:alice@example.com>;tag=a"),
                    ("To", "<sip:bob@example.com>;tag=b"),
                    ("Call-ID", "nat-1"),
                    ("CSeq", "2 BYE"),
                ],
            )

        # The Record-Route the proxy wrote named its external address.
        assert _routed_here(stack, bye("<sip:203.0.113.5:5099;lr>"))
        assert _routed_here(stack, bye(f"<sip:{ip}:{port};lr>"))
        assert not _routed_here(stack, bye("<sip:198.51.100.7:5060;lr>"))
    finally:
        await stack.close(grace=0)
