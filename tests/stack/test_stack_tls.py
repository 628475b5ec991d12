"""SIP over TLS against real TLS peers (Python's ``ssl``, which is OpenSSL):
a call to the stack's TLS listener whose bytes on the wire are not SIP text,
a request the stack sends over a connection it opens and verifies, with the
peer's request back over that same connection, and the settings refused."""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from pathlib import Path

import pytest
from certs import CertFiles, make_certs, needs_openssl
from peers import Uas, address

from drachtio import (
    ResponseEvent,
    SipRequest,
    SipResponse,
    SipStack,
    TransportErrorEvent,
    parse,
)

pytestmark = needs_openssl

WAIT = 10.0


async def read_message(reader: asyncio.StreamReader) -> SipRequest | SipResponse:
    """One SIP message from a stream: the header section, then Content-Length bytes."""
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
    length = 0
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() in (b"content-length", b"l"):
            length = int(value)
    body = await asyncio.wait_for(reader.readexactly(length), WAIT) if length else b""
    return parse(head + body)


class Relay:
    """A TCP relay to ``target`` that keeps every byte it forwards, each way."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.upstream = bytearray()
        self.downstream = bytearray()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        server_r, server_w = await asyncio.open_connection(*self.target)

        async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter, kept: bytearray) -> None:
            while data := await r.read(65536):
                kept.extend(data)
                w.write(data)
                await w.drain()
            w.close()

        await asyncio.gather(
            pipe(client_r, server_w, self.upstream),
            pipe(server_r, client_w, self.downstream),
            return_exceptions=True,
        )


def request(
    method: str, uri: str, via: str, call_id: str, cseq: int, to: str | None = None
) -> bytes:
    """A request from a peer at ``via``, with a branch of its method and CSeq."""
    return (
        f"{method} {uri} SIP/2.0\r\n"
        f"Via: SIP/2.0/TLS {via};branch=z9hG4bK{method}{cseq}\r\n"
        "Max-Forwards: 70\r\n"
        "From: <sip:alice@example.com>;tag=a1\r\n"
        f"To: {to or f'<{uri}>'}\r\n"
        f"Call-ID: {call_id}\r\n"
        f"CSeq: {cseq} {method}\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def answer(req: SipRequest) -> bytes:
    """The peer's 200 to ``req``, its headers copied and To tagged."""
    lines = ["SIP/2.0 200 OK"]
    lines += [f"{name}: {req.header(name)}" for name in ("Via", "From", "Call-ID", "CSeq")]
    lines.append(f"To: {req.header('To')};tag=peer")
    return ("\r\n".join(lines) + "\r\nContent-Length: 0\r\n\r\n").encode()


async def test_a_call_over_tls_succeeds_and_its_bytes_are_not_sip_text(tmp_path: Path) -> None:
    certs = make_certs(tmp_path)
    uas = Uas()
    uas.stack = stack = await SipStack.start(
        ["udp:127.0.0.1:0", "tls:127.0.0.1:0"],
        uas.on_event,
        tls_certificate=certs.certificate,
        tls_key=certs.key,
    )
    relay = Relay(address(stack, "tls"))
    await relay.start()
    # The client verifies the stack's certificate: its authority, and 127.0.0.1.
    client = ssl.create_default_context(cafile=str(certs.ca))
    reader, writer = await asyncio.open_connection(
        "127.0.0.1", relay.port, ssl=client, server_hostname="127.0.0.1"
    )
    local = "127.0.0.1:{}".format(writer.get_extra_info("sockname")[1])
    uri = f"sips:service@127.0.0.1:{relay.port}"
    call_id = "tls-call-7f3a"

    writer.write(request("INVITE", uri, local, call_id, 1))
    statuses: list[int] = []
    while not statuses or statuses[-1] < 200:
        response = await read_message(reader)
        assert isinstance(response, SipResponse)
        statuses.append(response.status)
    assert statuses[-1] == 200
    to = response.header("To")
    writer.write(request("ACK", uri, local, call_id, 1, to))
    writer.write(request("BYE", uri, local, call_id, 2, to))
    bye = await read_message(reader)
    assert isinstance(bye, SipResponse)
    assert bye.status == 200
    writer.close()

    assert uas.methods == {"INVITE": 1, "BYE": 1}
    assert uas.acks == 1
    # On the wire: TLS records (a handshake first), never the SIP text.
    assert relay.upstream[:1] == b"\x16"
    assert relay.downstream[:1] == b"\x16"
    wire = bytes(relay.upstream + relay.downstream)
    for text in (b"INVITE", b"SIP/2.0", b"Via", call_id.encode()):
        assert text not in wire
    await relay.close()
    await stack.close(grace=0)


async def test_the_stack_connects_verifies_and_the_peer_sends_back_on_that_connection(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path)
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(certs.certificate, certs.key)
    connections = 0
    answered: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()

    async def peer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections
        connections += 1
        options = await read_message(reader)
        assert isinstance(options, SipRequest)
        writer.write(answer(options))
        # A request of its own, on the connection the stack opened.
        here = "127.0.0.1:{}".format(writer.get_extra_info("sockname")[1])
        writer.write(request("OPTIONS", "sip:stack@127.0.0.1", here, "tls-back", 1))
        response = await read_message(reader)
        assert isinstance(response, SipResponse)
        answered.set_result(response)

    server = await asyncio.start_server(peer, "127.0.0.1", 0, ssl=server_context)
    port = server.sockets[0].getsockname()[1]
    uas = Uas()
    uas.stack = stack = await SipStack.start(
        ["tls:127.0.0.1:0"],
        uas.on_event,
        tls_certificate=certs.certificate,
        tls_key=certs.key,
        tls_ca=certs.ca,
    )
    uri = f"sips:peer@127.0.0.1:{port}"
    options = SipRequest(
        "OPTIONS",
        uri,
        headers=[
            ("From", "<sip:stack@127.0.0.1>;tag=s1"),
            ("To", f"<{uri}>"),
            ("Call-ID", "tls-out"),
            ("CSeq", "1 OPTIONS"),
        ],
    )
    stack.send_request(options)
    assert (await asyncio.wait_for(answered, WAIT)).status == 200
    responses = [e for e in uas.events if isinstance(e, ResponseEvent)]
    assert [(e.response.status, e.source) for e in responses] == [(200, ("tls", "127.0.0.1", port))]
    assert uas.methods == {"OPTIONS": 1}
    assert connections == 1
    stats = stack.stats()
    assert (stats["tls_outbound_open"], stats["tls_inbound_open"]) == (1, 0)
    assert stats["tcp_outbound_open"] == stats["tls_outbound_opened"] - 1 == 0
    server.close()
    await stack.close(grace=0)


async def test_tls_settings_are_refused_by_name(tmp_path: Path) -> None:
    certs: CertFiles = make_certs(tmp_path)
    with pytest.raises(OSError, match=r"a TLS listener needs a certificate and its key"):
        await SipStack.start(["tls:127.0.0.1:0"], Uas().on_event)
    with pytest.raises(OSError, match=r"a TLS certificate needs its key \(tls_key\)"):
        await SipStack.start(["tls:127.0.0.1:0"], Uas().on_event, tls_certificate=certs.certificate)
    missing = tmp_path / "missing.pem"
    with pytest.raises(OSError, match=f"tls_ca {missing}: "):
        await SipStack.start(["udp:127.0.0.1:0"], Uas().on_event, tls_ca=missing)


def options_to(uri: str, call_id: str) -> SipRequest:
    return SipRequest(
        "OPTIONS",
        uri,
        headers=[
            ("From", "<sip:stack@127.0.0.1>;tag=s1"),
            ("To", f"<{uri}>"),
            ("Call-ID", call_id),
            ("CSeq", "1 OPTIONS"),
        ],
    )


async def tls_peer(
    certs: CertFiles, client_ca: CertFiles | None = None
) -> tuple[asyncio.Server, int, asyncio.Queue[SipRequest]]:
    """A TLS peer that answers 200 to what it receives; with ``client_ca``,
    it requires a client certificate of that authority."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.certificate, certs.key)
    if client_ca is not None:
        context.load_verify_locations(cafile=str(client_ca.ca))
        context.verify_mode = ssl.CERT_REQUIRED
    received: asyncio.Queue[SipRequest] = asyncio.Queue()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            while True:
                req = await read_message(reader)
                assert isinstance(req, SipRequest)
                received.put_nowait(req)
                writer.write(answer(req))

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=context)
    return server, server.sockets[0].getsockname()[1], received


async def final_status(uas: Uas, call_id: str) -> int | str:
    """The status of the response to ``call_id``, or the transport error's reason."""
    for _ in range(int(WAIT / 0.02)):
        for e in uas.events:
            if isinstance(e, ResponseEvent) and e.response.call_id == call_id:
                return e.response.status
            if isinstance(e, TransportErrorEvent):
                return e.reason
        await asyncio.sleep(0.02)
    raise AssertionError(f"no answer to {call_id}")


async def test_mutual_tls_listeners_require_a_client_certificate_of_their_authority(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path / "server")
    clients = make_certs(tmp_path / "clients", "clients")
    stranger = make_certs(tmp_path / "stranger", "stranger")
    uas = Uas()
    uas.stack = stack = await SipStack.start(
        ["tls:127.0.0.1:0"],
        uas.on_event,
        tls_certificate=certs.certificate,
        tls_key=certs.key,
        tls_client_ca=clients.ca,
    )
    host, port = address(stack, "tls")
    try:
        for presented, accepted in ((None, False), (stranger, False), (clients, True)):
            context = ssl.create_default_context(cafile=str(certs.ca))
            if presented is not None:
                context.load_cert_chain(presented.certificate, presented.key)
            reader, writer = await asyncio.open_connection(host, port, ssl=context)
            local = "127.0.0.1:{}".format(writer.get_extra_info("sockname")[1])
            writer.write(request("OPTIONS", f"sips:s@{host}:{port}", local, f"m-{accepted}", 1))
            if accepted:
                response = await read_message(reader)
                assert isinstance(response, SipResponse) and response.status == 200
            else:
                # TLS 1.3: the client learns of the refusal when it reads.
                with pytest.raises((ssl.SSLError, ConnectionError, asyncio.IncompleteReadError)):
                    await read_message(reader)
            writer.close()
        assert uas.methods == {"OPTIONS": 1}
        assert stack.stats()["tls_handshake_failures"] == 2
    finally:
        await stack.close(grace=0)


async def test_the_stack_presents_its_certificate_to_a_peer_that_requires_one(
    tmp_path: Path,
) -> None:
    certs = make_certs(tmp_path / "both")
    server, port, received = await tls_peer(certs, client_ca=certs)
    uas = Uas()
    uas.stack = stack = await SipStack.start(
        ["tls:127.0.0.1:0"],
        uas.on_event,
        tls_certificate=certs.certificate,
        tls_key=certs.key,
        tls_ca=certs.ca,
    )
    try:
        stack.send_request(options_to(f"sips:peer@127.0.0.1:{port}", "mutual-out"))
        assert await final_status(uas, "mutual-out") == 200
        assert (await asyncio.wait_for(received.get(), WAIT)).call_id == "mutual-out"
    finally:
        server.close()
        await stack.close(grace=0)


async def test_the_system_authorities_verify_a_peer_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    certs = make_certs(tmp_path / "peer")
    server, port, _ = await tls_peer(certs)
    # The system's authorities, as OpenSSL would find them: here the file
    # SSL_CERT_FILE names, holding the peer's authority.
    monkeypatch.setenv("SSL_CERT_FILE", str(certs.ca))
    try:
        for system_roots, expected in ((False, "no TLS certificate authorities"), (True, 200)):
            uas = Uas()
            uas.stack = stack = await SipStack.start(
                ["tls:127.0.0.1:0"],
                uas.on_event,
                tls_certificate=certs.certificate,
                tls_key=certs.key,
                tls_system_roots=system_roots,
            )
            call_id = f"roots-{system_roots}"
            stack.send_request(options_to(f"sips:peer@127.0.0.1:{port}", call_id))
            got = await final_status(uas, call_id)
            await stack.close(grace=0)
            if isinstance(expected, str):
                assert isinstance(got, str) and expected in got
            else:
                assert got == expected
    finally:
        server.close()
