"""The registrar's parts on a simulated clock, then a REGISTER from sipp through the server."""

from __future__ import annotations

from pathlib import Path

import pytest
from app_harness import Attach
from server_harness import needs_sipp, sipp_uac, start_server
from sipp_scenarios.parts import checked_recv, scenario_of
from sipp_scenarios.uac import send_register

from drachtio import SipRequest, Srf, parse
from drachtio.app import Request, Response
from drachtio.app.registrar import Registrar, Registration, address_of_record


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def register(*headers: str, cseq: int = 1, call_id: str = "reg-1") -> Request:
    text = (
        "REGISTER sip:example.com SIP/2.0\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n"
        "From: <sip:alice@Example.COM>;tag=1\r\nTo: <sip:alice@Example.COM>\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
        + "".join(f"{h}\r\n" for h in headers)
        + "Content-Length: 0\r\n\r\n"
    )
    message = parse(text.encode())
    assert isinstance(message, SipRequest)
    return Request(message, transaction_id="t", link=None)  # type: ignore[arg-type]


def test_bindings_expire_on_the_clock_and_lookup_is_by_canonical_address() -> None:
    clock = Clock()
    registrar = Registrar(clock=clock)
    registration = Registration.of(
        register("Contact: <sip:alice@10.0.0.1>;expires=120, <sip:alice@10.0.0.2>", "Expires: 600")
    )
    assert registration.aor == "sip:alice@example.com"
    assert registration.contacts == (("sip:alice@10.0.0.1", 120), ("sip:alice@10.0.0.2", 600))
    registrar.apply(registration)
    assert registrar.lookup("sip:alice@EXAMPLE.com") == ["sip:alice@10.0.0.2", "sip:alice@10.0.0.1"]
    clock.now += 121
    assert registrar.lookup("sip:alice@example.com") == ["sip:alice@10.0.0.2"]
    clock.now += 480
    assert registrar.lookup("sip:alice@example.com") == []


def test_expires_zero_and_star_remove_bindings_and_short_expiries_get_423() -> None:
    clock = Clock()
    registrar = Registrar(clock=clock, min_expires=60, max_expires=300)
    registrar.apply(Registration.of(register("Contact: <sip:a@10.0.0.1>", "Expires: 3600")))
    [binding] = registrar.bindings("sip:alice@example.com")
    assert binding.expires_in(clock.now) == 300  # shortened to max_expires
    assert registrar.apply(Registration.of(register("Contact: <sip:a@10.0.0.2>;expires=10"))) == 423
    removed = registrar.apply(
        Registration.of(register("Contact: <sip:a@10.0.0.1>;expires=0", cseq=2))
    )
    assert removed == []
    registrar.apply(Registration.of(register("Contact: <sip:a@10.0.0.3>", cseq=3)))
    assert registrar.apply(Registration.of(register("Contact: *", "Expires: 0", cseq=4))) == []
    assert registrar.lookup("sip:alice@example.com") == []
    with pytest.raises(ValueError, match="Expires: 0"):
        Registration.of(register("Contact: *"))


def test_an_older_cseq_of_the_same_call_id_changes_nothing() -> None:
    registrar = Registrar(clock=Clock())
    registrar.apply(Registration.of(register("Contact: <sip:a@10.0.0.1>", cseq=5)))
    registrar.apply(Registration.of(register("Contact: <sip:a@10.0.0.1>;expires=0", cseq=4)))
    assert registrar.lookup("sip:alice@example.com") == ["sip:a@10.0.0.1"]


def test_address_of_record_drops_parameters_and_port_case() -> None:
    from drachtio import Uri

    assert address_of_record(Uri("sip:Bob@Biloxi.Example.com;transport=tcp")) == (
        "sip:Bob@biloxi.example.com"
    )


@needs_sipp
async def test_a_register_from_sipp_is_answered_with_the_bindings(
    attach: Attach, tmp_path: Path
) -> None:
    server = await start_server()
    srf = Srf()
    registrar = Registrar()

    @srf.register
    async def on_register(req: Request, res: Response) -> None:
        await registrar.register(req, res)

    try:
        await attach(server, srf)
        sipp = await sipp_uac(tmp_path, server, REGISTER_SCENARIO)
        assert (await sipp.result()).successful == 1
        # The second REGISTER removed the binding; its 200 lists none (RFC 3261 §10.3).
        assert registrar.lookup("sip:sipp@127.0.0.1") == []
    finally:
        await srf.close()
        await server.stop()


# sipp registers, then removes every binding of its address of record.
REGISTER_SCENARIO = scenario_of(
    "register",
    send_register("sip:sipp@[local_ip]", "<sip:sipp@[local_ip]:[local_port]>;expires=300"),
    checked_recv(
        'response="200"',
        ("Contact: .sip:sipp@127.0.0.1:[0-9]+.;expires=(299|300)", "Date: "),
        "ok",
        timeout=None,
    ),
    send_register("sip:sipp@[local_ip]", "*", cseq=2, headers="Expires: 0"),
    '  <recv response="200">\n    <action>\n'
    '      <ereg regexp="Contact:" search_in="msg" check_it_inverse="true" assign_to="none"/>\n'
    '    </action>\n  </recv>\n  <Reference variables="none"/>\n',
)
