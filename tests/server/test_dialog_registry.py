"""The dialog registry: found by id and by key, owners, hand-over shares; no sockets."""

from __future__ import annotations

from drachtio import SipRequest, parse
from drachtio.server.dialog import Dialog, websocket_flow
from drachtio.server.dialog_registry import Dialogs


def dialog(
    dialog_id: str, owner: str | None, *, local: str = "L", remote: str = "R"
) -> Dialog[str]:
    return Dialog(dialog_id, "c1", local, remote, "<sip:l>", "<sip:r>", "sip:r", [], "", owner)


def request(to_tag: str | None, from_tag: str | None) -> SipRequest:
    to = "<sip:bob@127.0.0.1>" + (f";tag={to_tag}" if to_tag else "")
    from_ = "<sip:alice@127.0.0.1>" + (f";tag={from_tag}" if from_tag else "")
    message = parse(
        (
            "INFO sip:bob@127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
            f"From: {from_}\r\nTo: {to}\r\nCall-ID: c1\r\nCSeq: 2 INFO\r\n"
            "Max-Forwards: 70\r\nContent-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, SipRequest)
    return message


def test_a_dialog_is_found_by_id_until_removed_once() -> None:
    dialogs: Dialogs[str] = Dialogs()
    d = dialog("d1", "a")
    dialogs.add(d)
    assert "d1" in dialogs and dialogs.get("d1") is d and len(dialogs) == 1
    assert dialogs.remove(d)
    assert not dialogs.remove(d)
    assert dialogs.get("d1") is None and len(dialogs) == 0
    assert dialogs.receiving(request("L", "R")) is None


def test_a_received_request_finds_its_dialog_by_call_id_our_tag_and_theirs() -> None:
    dialogs: Dialogs[str] = Dialogs()
    d = dialog("d1", "a")
    dialogs.add(d)
    assert dialogs.receiving(request("L", "R")) is d
    assert dialogs.receiving(request("R", "L")) is None  # tags the other way round
    assert dialogs.receiving(request("L", "X")) is None
    assert dialogs.receiving(request(None, "R")) is None  # no To tag: a new request


def test_an_rfc_2543_peer_without_a_from_tag_has_the_empty_tag() -> None:
    dialogs: Dialogs[str] = Dialogs()
    d = dialog("d1", "a", remote="")
    dialogs.add(d)
    assert dialogs.receiving(request("L", None)) is d


def test_a_request_to_send_naming_another_owners_dialog_either_way_round() -> None:
    dialogs: Dialogs[str] = Dialogs()
    dialogs.add(dialog("d1", "a"))
    assert dialogs.names_other("b", request("R", "L"))  # as the dialog's own request
    assert dialogs.names_other("b", request("L", "R"))  # as its peer's
    assert not dialogs.names_other("a", request("R", "L"))
    assert not dialogs.names_other("b", request(None, "L"))  # a new request names none
    assert not dialogs.names_other("b", request("X", "L"))


def test_a_leaving_owners_dialogs_are_shared_out_in_turn() -> None:
    dialogs: Dialogs[str] = Dialogs()
    mine = [dialog(f"d{i}", "a", local=f"L{i}") for i in range(3)]
    theirs = dialog("other", "b", local="Lb")
    for d in [*mine, theirs]:
        dialogs.add(d)
    shares = dialogs.share_out("a", ["h1", "h2"])
    assert shares == [(mine[0], "h1"), (mine[1], "h2"), (mine[2], "h1")]
    assert all(d.owner is None for d in mine)  # until the heir takes it
    assert theirs.owner == "b"


def test_without_heirs_every_dialog_is_left_without_an_owner() -> None:
    dialogs: Dialogs[str] = Dialogs()
    d = dialog("d1", "a")
    dialogs.add(d)
    assert dialogs.share_out("a", []) == [(d, None)]
    assert d.owner is None


def test_the_dialogs_of_a_websocket_connection_are_found_by_its_flow() -> None:
    dialogs: Dialogs[str] = Dialogs()
    over_ws = dialog("ws-1", "app")
    over_ws.flow = websocket_flow("ws", "192.0.2.7", 50123)
    over_udp = dialog("udp-1", "app")
    over_udp.flow = websocket_flow("udp", "192.0.2.7", 50123)
    dialogs.add(over_ws)
    dialogs.add(over_udp)
    assert over_udp.flow is None  # reached by its address: no connection to lose
    assert dialogs.on_flow(("ws", "192.0.2.7", 50123)) == [over_ws]
    assert dialogs.on_flow(("ws", "192.0.2.7", 50124)) == []
    assert dialogs.on_flow(None) == []
