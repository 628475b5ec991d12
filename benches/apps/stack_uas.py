"""A UAS on ``drachtio.SipStack`` that answers every request from Python.

INVITE gets 200 with an SDP answer and a Contact (the stack has already sent
100 Trying), BYE and any other request but ACK get 200; each final response
carries a To tag (RFC 3261 §8.2.6.2) when the request's To had none. ACKs
for the 2xx arrive as ``AckEvent`` and need nothing. Every answer crosses
Rust -> Python -> Rust: it is the Python side of the bridge and core-ceiling
benchmarks in ``benches/bench_stack.py``.

Run: ``python benches/apps/stack_uas.py [--port 0] [--transport udp] [--loop uvloop]
[--t1 0.5]``.
Prints ``READY <port>`` once bound, then serves until SIGINT or SIGTERM.
"""

from __future__ import annotations

import sys

import responder_cli

from drachtio import RequestEvent, SipResponse, SipStack
from drachtio.stack import StackEvent

SDP = (
    b"v=0\r\n"
    b"o=bench 1 1 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"m=audio 6000 RTP/AVP 0\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
)


class Uas:
    """Answers each request event as it is delivered."""

    def __init__(self, contact: str) -> None:
        self.stack: SipStack | None = None
        self.contact = contact
        self.tag = ";tag=uas1"
        self.answered = 0

    def on_event(self, event: StackEvent) -> None:
        if not isinstance(event, RequestEvent) or self.stack is None:
            return
        request = event.request
        method = request.method
        to = request.header("To") or ""
        headers = [] if ";tag=" in to else [("To", to + self.tag)]
        if method == "INVITE":
            headers.append(("Contact", self.contact))
            headers.append(("Content-Type", "application/sdp"))
            response = SipResponse(200, headers=headers, body=SDP)
        else:
            response = SipResponse(200, headers=headers)
        self.stack.respond(event.tx_id, response)
        self.answered += 1


async def serve(port: int, transport: str, t1: float) -> None:
    stop = responder_cli.stop_signal()
    uas = Uas("")
    stack = await SipStack.start([f"{transport}:127.0.0.1:{port}"], uas.on_event, t1=t1)
    bound = stack.local_addresses[0][2]
    uas.contact = f"<sip:uas@127.0.0.1:{bound};transport={transport}>"
    uas.stack = stack
    print("READY", bound, flush=True)
    try:
        await stop
    finally:
        await stack.close(grace=0.0)
    print("ANSWERED", uas.answered, flush=True)


def main() -> int:
    parser = responder_cli.parser(__doc__)
    parser.add_argument("--transport", choices=("udp", "tcp"), default="udp")
    parser.add_argument("--t1", type=float, default=0.5, help="RFC 3261 T1, seconds")
    args = parser.parse_args()
    return responder_cli.run(serve(args.port, args.transport, args.t1), args.loop)


if __name__ == "__main__":
    sys.exit(main())
