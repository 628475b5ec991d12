"""Early dialogs of the INVITEs applications send (RFC 3261 §13.2.2.4, RFC 3262 §4), without I/O."""

from __future__ import annotations

from drachtio import SipRequest, SipResponse
from drachtio.server.dialog import Dialog, build_in_dialog_request
from drachtio.server.early import EarlyDialogs

CONTACT = "<sip:me@127.0.0.1>"


def _invite() -> SipRequest:
    return SipRequest(
        "INVITE",
        "sip:uas@127.0.0.1",
        [
            ("From", "<sip:uac@127.0.0.1>;tag=f1"),
            ("To", "<sip:uas@127.0.0.1>"),
            ("Call-ID", "c1"),
            ("CSeq", "5 INVITE"),
            ("Supported", "100rel"),
        ],
        b"",
    )


def _1xx(
    rseq: int | None, to_tag: str = "u1", require: str = "100rel", status: int = 183
) -> SipResponse:
    headers = [
        ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1"),
        ("From", "<sip:uac@127.0.0.1>;tag=f1"),
        ("To", f"<sip:uas@127.0.0.1>;tag={to_tag}"),
        ("Call-ID", "c1"),
        ("CSeq", "5 INVITE"),
        ("Contact", "<sip:uas@127.0.0.2:5070>"),
        ("Record-Route", "<sip:proxy@127.0.0.3;lr>"),
        ("Require", require),
    ]
    if rseq is not None:
        headers.append(("RSeq", str(rseq)))
    return SipResponse(status, None, headers)


def _early(
    early: EarlyDialogs[object], invite: SipRequest, response: SipResponse
) -> tuple[Dialog[object], bool]:
    found = early.provisional(invite, response, CONTACT, None)
    assert found is not None
    return found


def test_s12_1_2_a_tagged_1xx_creates_an_early_dialog_per_to_tag() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    first, created = _early(early, invite, _1xx(None, status=180))
    assert created and first.early
    assert (first.remote_target, first.route_set) == (
        "sip:uas@127.0.0.2:5070",
        ["<sip:proxy@127.0.0.3;lr>"],
    )
    again, created = _early(early, invite, _1xx(None))
    assert again is first and not created
    fork, created = _early(early, invite, _1xx(None, to_tag="u2"))
    assert created and fork.id != first.id
    assert len(early) == 2
    # No To tag, or an INVITE not sent (or answered already): no early dialog.
    untagged = SipResponse(180, None, [("To", "<sip:uas@127.0.0.1>"), ("Call-ID", "c1")])
    assert early.provisional(invite, untagged, CONTACT, None) is None
    other = SipRequest("INVITE", "sip:x@127.0.0.1", [("From", "<sip:a@b>;tag=zz")], b"")
    assert early.provisional(other, _1xx(None), CONTACT, None) is None


def test_s13_2_2_4_the_2xx_confirms_one_and_ends_the_others() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    first, _ = _early(early, invite, _1xx(None))
    fork, _ = _early(early, invite, _1xx(None, to_tag="u2"))
    assert early.confirmed(invite, first.id, 0.0) == [fork]
    assert len(early) == 0
    # The INVITE is answered: a late 1xx of another fork makes no early dialog.
    assert early.provisional(invite, _1xx(None, to_tag="u3"), CONTACT, None) is None
    assert early.ended(invite) == []


def test_a_final_non_2xx_ends_every_early_dialog() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    first, _ = _early(early, invite, _1xx(None))
    fork, _ = _early(early, invite, _1xx(None, to_tag="u2"))
    assert early.ended(invite) == [first, fork]
    assert len(early) == 0


def test_s4_each_reliable_1xx_in_order_gets_a_prack_in_its_early_dialog() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    dialog, _ = _early(early, invite, _1xx(8))
    assert early.reliable(dialog, invite, _1xx(8)) == "8 5 INVITE"
    prack = build_in_dialog_request(dialog, "PRACK", {"RAck": "8 5 INVITE"}, None)
    assert (str(prack.uri), prack.header("CSeq"), prack.header("To")) == (
        "sip:uas@127.0.0.2:5070",
        "6 PRACK",
        "<sip:uas@127.0.0.1>;tag=u1",
    )
    assert prack.header_all("Route") == ["<sip:proxy@127.0.0.3;lr>"]
    # A retransmission, or one out of order, gets none; the next one does.
    assert early.reliable(dialog, invite, _1xx(8)) is None
    assert early.reliable(dialog, invite, _1xx(10)) is None
    assert early.reliable(dialog, invite, _1xx(9)) == "9 5 INVITE"
    build_in_dialog_request(dialog, "PRACK", {"RAck": "9 5 INVITE"}, None)
    assert early.local_cseq(dialog.id) == 7
    # Another fork is another early dialog, counted on its own.
    fork, _ = _early(early, invite, _1xx(100, to_tag="u2"))
    assert early.reliable(fork, invite, _1xx(100, to_tag="u2")) == "100 5 INVITE"
    # Nothing the application would PRACK: the server does.
    assert early.rack_awaited(dialog) is None
    early.ended(invite)
    assert early.local_cseq(dialog.id) == 0


def test_s4_an_unreliable_1xx_gets_no_prack() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    dialog, _ = _early(early, invite, _1xx(None))
    assert early.reliable(dialog, invite, _1xx(None)) is None
    assert early.reliable(dialog, invite, _1xx(3, require="timer")) is None
    early.prack_sent(4)
    assert early.prack_answered(4)
    assert not early.prack_answered(4)


def test_s4_the_app_pracks_with_the_rack_awaited_once() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=True)
    dialog, _ = _early(early, invite, _1xx(20))
    assert early.rack_awaited(dialog) is None
    assert early.reliable(dialog, invite, _1xx(20)) is None  # not the server's to send
    assert early.rack_awaited(dialog) == "20 5 INVITE"
    early.app_pracked(dialog)
    assert early.rack_awaited(dialog) is None
    # A retransmission awaits nothing; the next reliable 1xx does.
    assert early.reliable(dialog, invite, _1xx(20)) is None
    assert early.rack_awaited(dialog) is None
    early.reliable(dialog, invite, _1xx(21))
    assert early.rack_awaited(dialog) == "21 5 INVITE"
    early.ended(invite)
    assert early.rack_awaited(dialog) is None


def test_s13_2_2_4_a_confirmed_dialog_takes_the_route_set_and_target_of_the_2xx() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    dialog, _ = _early(early, invite, _1xx(None))
    build_in_dialog_request(dialog, "UPDATE", {}, None)
    ok = SipResponse(
        200,
        None,
        [
            ("From", "<sip:uac@127.0.0.1>;tag=f1"),
            ("To", "<sip:uas@127.0.0.1>;tag=u1"),
            ("Call-ID", "c1"),
            ("CSeq", "5 INVITE"),
            ("Contact", "<sip:uas@127.0.0.9:5090>"),
            ("Record-Route", "<sip:p2@127.0.0.4;lr>, <sip:p1@127.0.0.3;lr>"),
        ],
    )
    dialog.confirm(ok)
    assert not dialog.early
    assert dialog.remote_target == "sip:uas@127.0.0.9:5090"
    assert dialog.route_set == ["<sip:p1@127.0.0.3;lr>", "<sip:p2@127.0.0.4;lr>"]
    # The CSeqs sent in the early dialog go on.
    assert build_in_dialog_request(dialog, "BYE", {}, None).header("CSeq") == "7 BYE"


def _2xx(to_tag: str) -> SipResponse:
    return SipResponse(
        200,
        None,
        [
            ("From", "<sip:uac@127.0.0.1>;tag=f1"),
            ("To", f"<sip:uas@127.0.0.1>;tag={to_tag}"),
            ("Call-ID", "c1"),
            ("CSeq", "5 INVITE"),
            ("Contact", "<sip:uas@127.0.0.2:5070>"),
        ],
    )


def test_s13_2_2_4_a_later_2xx_in_an_early_dialog_the_first_ended_is_known_for_64_t1() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    first, _ = _early(early, invite, _1xx(None))
    fork, _ = _early(early, invite, _1xx(None, to_tag="u2"))
    build_in_dialog_request(fork, "UPDATE", {}, None)  # CSeq 6 in the fork's early dialog
    assert early.confirmed(invite, first.id, 100.0) == [fork]
    # A fork that had no early dialog, or the first's 2xx again: not an ended one.
    assert early.ended_fork(invite, _2xx("u3"), 101.0) is None
    assert early.ended_fork(invite, _2xx("u1"), 101.0) is None
    # The ended fork's 2xx: the last CSeq sent in it, once.
    assert early.ended_fork(invite, _2xx("u2"), 131.9) == 6
    assert early.ended_fork(invite, _2xx("u2"), 131.9) is None


def test_s13_2_2_4_after_64_t1_the_ended_forks_are_forgotten() -> None:
    early: EarlyDialogs[object] = EarlyDialogs(32.0)
    invite = _invite()
    early.invite_sent(invite, app_pracks=False)
    first, _ = _early(early, invite, _1xx(None))
    _early(early, invite, _1xx(None, to_tag="u2"))
    early.confirmed(invite, first.id, 100.0)
    assert early.ended_fork(invite, _2xx("u2"), 132.0) is None
