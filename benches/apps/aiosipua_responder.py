"""OPTIONS responder on aiosipua, a pure-Python asyncio SIP stack.

The second baseline of the bridge benchmark, written the way a user of
aiosipua writes a UAS: a ``SipUAS`` on a ``UdpSipTransport`` with its
default OPTIONS handling. Per datagram the library parses the message
(``SipMessage.parse``), stamps ``received``/``rport`` into the top Via,
checks the mandatory headers, dispatches on the method, builds the 200 OK
as a ``SipResponse`` (Via, From, Call-ID and CSeq copied, To with a new tag,
Allow), routes it by the top Via and serializes it. ``SipUAS`` keeps no
server transaction for a non-INVITE request (its transaction layer only
tracks INVITEs, for CANCEL), so a retransmitted OPTIONS is answered again.
The one change to the library's code path is how the socket is bound (see
``UdpProtocol``), without which aiosipua's UDP transport does not work on
uvloop.

Run: ``pip install aiosipua`` (benchmark only), then
``python benches/apps/aiosipua_responder.py [--port 0] [--loop uvloop]``.
Prints ``READY <port>`` once bound, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import responder_cli
from aiosipua.message import SipRequest, SipResponse
from aiosipua.transport import UdpSipTransport, _UdpProtocol
from aiosipua.uas import SipUAS


class UdpProtocol(_UdpProtocol):
    """aiosipua's datagram protocol without its check of the transport's class.

    aiosipua 0.7 asserts ``isinstance(transport, asyncio.DatagramTransport)``
    when bound, which the datagram transports of CPython's selector loop
    before 3.12 and of uvloop fail (they do not derive from that class): on
    uvloop the failed assertion closes the socket. Receiving is unchanged.
    """

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._owner._udp_transport = cast(asyncio.DatagramTransport, transport)


class CountingUdpTransport(UdpSipTransport):
    """aiosipua's UDP transport, bound through ``UdpProtocol``, counting the 200s it sends."""

    answered = 0
    port = 0

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: UdpProtocol(self), local_addr=self.local_addr
        )
        self._udp_transport = transport
        self.port = transport.get_extra_info("sockname")[1]

    def send(self, message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
        super().send(message, addr)
        if isinstance(message, SipResponse) and message.status_code == 200:
            self.answered += 1


async def serve(port: int) -> None:
    stop = responder_cli.stop_signal()
    transport = CountingUdpTransport(local_addr=("127.0.0.1", port))
    uas = SipUAS(transport)
    await uas.start()
    print("READY", transport.port, flush=True)
    try:
        await stop
    finally:
        await uas.stop()
    print("ANSWERED", transport.answered, flush=True)


def main() -> int:
    args = responder_cli.parser(__doc__).parse_args()
    return responder_cli.run(serve(args.port), args.loop)


if __name__ == "__main__":
    sys.exit(main())
