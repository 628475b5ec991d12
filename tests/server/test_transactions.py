"""The transaction registries' rules on a simulated clock: no sockets, no sleeping.

The owners are plain objects: the registries only compare them and hold
them weakly once a transaction is finished.
"""

from __future__ import annotations

import gc

from drachtio import SipRequest, parse
from drachtio.protocol import Source
from drachtio.server.dialog import Dialog
from drachtio.server.transactions import (
    ClientTransactions,
    ClientTx,
    RecentlyFinished,
    ServerTransactions,
    ServerTx,
)

T0 = 1000.0
LISTENER = ("udp", "127.0.0.1", 5060)


class App:
    """An application, as far as the registries can tell."""


def request(method: str = "INVITE", *, from_tag: str = "f1") -> SipRequest:
    message = parse(
        (
            f"{method} sip:bob@127.0.0.1 SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK1\r\n"
            f"From: <sip:alice@127.0.0.1>;tag={from_tag}\r\n"
            "To: <sip:bob@127.0.0.1>\r\n"
            "Call-ID: c1\r\n"
            f"CSeq: 1 {method}\r\n"
            "Max-Forwards: 70\r\n"
            "Event: presence\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
    )
    assert isinstance(message, SipRequest)
    return message


def server_tx(
    tx_id: str, stack_id: int, owner: App | None, method: str = "INVITE"
) -> ServerTx[App]:
    source = Source("udp", "127.0.0.1", 5070)
    return ServerTx(tx_id, stack_id, request(method), owner, LISTENER, source, 0.0)


def client_tx(
    tx_id: str, stack_id: int, owner: App | None, method: str = "INVITE"
) -> ClientTx[App]:
    return ClientTx(tx_id, stack_id, request(method), owner, "<sip:127.0.0.1:5060>")


def subscribe_sent(txs: ClientTransactions[App], owner: App) -> ClientTx[App]:
    """A SUBSCRIBE outside any dialog, sent: Call-ID c1, From tag f1."""
    ctx = client_tx("t1", 1, owner, "SUBSCRIBE")
    ctx.subscribe_key = ("c1", "f1")
    txs.add(ctx)
    return ctx


# ------------------------------------------------------------ finished memory


def test_only_the_owner_learns_that_a_finished_transaction_existed() -> None:
    a, b = App(), App()
    finished: RecentlyFinished[App] = RecentlyFinished()
    finished.add("t1", a)
    finished.add("t2", None)
    assert "t1" in finished and "t2" in finished
    assert finished.owned_by("t1", a)
    assert not finished.owned_by("t1", b)
    assert not finished.owned_by("t2", a)
    assert not finished.owned_by("t3", a)


def test_the_oldest_finished_transaction_is_forgotten_first() -> None:
    a = App()
    finished: RecentlyFinished[App] = RecentlyFinished(size=2)
    for tx_id in ("t1", "t2", "t3"):
        finished.add(tx_id, a)
    assert "t1" not in finished
    assert finished.owned_by("t2", a) and finished.owned_by("t3", a)


def test_a_gone_owner_is_not_kept_alive_by_the_memory() -> None:
    finished: RecentlyFinished[App] = RecentlyFinished()
    owner: App | None = App()
    finished.add("t1", owner)
    owner = None
    gc.collect()
    assert "t1" in finished
    assert not finished.owned_by("t1", App())


# ------------------------------------------------------------ server transactions


def test_an_unanswered_request_is_overdue_after_the_answer_time_and_only_once() -> None:
    txs: ServerTransactions[App] = ServerTransactions(answer_within=32.0)
    tx = server_tx("t1", 1, App(), "OPTIONS")
    txs.add(tx, T0)
    assert txs.next_deadline() == T0 + 32
    assert txs.overdue(T0 + 31.9) == []
    assert txs.overdue(T0 + 32) == [tx]
    assert txs.overdue(T0 + 64) == []
    assert txs.is_pending(tx)  # the server answers it: overdue is only told


def test_an_answered_request_is_never_overdue_and_is_remembered_for_its_owner() -> None:
    owner, other = App(), App()
    txs: ServerTransactions[App] = ServerTransactions(answer_within=32.0)
    tx = server_tx("t1", 1, owner, "OPTIONS")
    txs.add(tx, T0)
    txs.finish(tx)
    assert txs.overdue(T0 + 100) == []
    assert txs.next_deadline() is None
    assert txs.get("t1") is None and txs.get_by_stack(1) is None and len(txs) == 0
    assert txs.was_finished("t1")
    assert txs.finished_by("t1", owner) and not txs.finished_by("t1", other)


def test_a_ringing_invite_may_ring_as_long_as_the_caller_waits() -> None:
    txs: ServerTransactions[App] = ServerTransactions(answer_within=32.0)
    tx = server_tx("t1", 1, App())
    txs.add(tx, T0)
    txs.ringing(tx)
    assert txs.overdue(T0 + 3600) == []
    assert txs.get("t1") is tx


def test_an_invite_answered_2xx_waits_for_its_ack_under_its_stack_id() -> None:
    txs: ServerTransactions[App] = ServerTransactions(answer_within=32.0)
    tx = server_tx("t1", 7, App())
    txs.add(tx, T0)
    txs.finish(tx, keep_for_ack=True)
    assert txs.get("t1") is None
    assert len(txs) == 1
    assert txs.pop_by_stack(7) is tx
    assert txs.pop_by_stack(7) is None
    assert len(txs) == 0


def test_a_request_answered_by_the_server_alone_is_remembered_as_finished() -> None:
    txs: ServerTransactions[App] = ServerTransactions(answer_within=32.0)
    tx = server_tx("t1", 1, None)
    txs.finish(tx)  # never handed to an application: answered 404, say
    assert txs.was_finished("t1")


def test_pending_requests_are_listed_by_owner() -> None:
    a, b = App(), App()
    txs: ServerTransactions[App] = ServerTransactions(answer_within=32.0)
    t1, t2, t3 = server_tx("t1", 1, a), server_tx("t2", 2, b), server_tx("t3", 3, a)
    for tx in (t1, t2, t3):
        txs.add(tx, T0)
    txs.finish(t3)
    assert txs.owned_by(a) == [t1]


# ------------------------------------------------------------ client transactions


def test_a_final_response_forgets_a_non_invite_at_once() -> None:
    owner = App()
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    ctx = client_tx("t1", 1, owner, "OPTIONS")
    txs.add(ctx)
    assert txs.get("t1") is ctx and txs.get_by_stack(1) is ctx and len(txs) == 1
    txs.final_response(ctx, 200, T0)
    assert ctx.answered
    assert txs.get("t1") is None and len(txs) == 0
    assert txs.finished_by("t1", owner)
    assert txs.next_deadline() is None


def test_an_invite_2xx_lingers_64_t1_for_forked_2xx() -> None:
    owner = App()
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    ctx = client_tx("t1", 1, owner)
    txs.add(ctx)
    txs.final_response(ctx, 200, T0)
    assert txs.get_by_stack(1) is ctx  # a forked 2xx still finds it
    assert txs.next_deadline() == T0 + 32
    txs.expire(T0 + 31.9)
    assert txs.get("t1") is ctx
    txs.expire(T0 + 32)
    assert txs.get("t1") is None and txs.get_by_stack(1) is None
    assert txs.finished_by("t1", owner)


def test_an_invite_failure_response_forgets_it_at_once() -> None:
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    ctx = client_tx("t1", 1, App())
    txs.add(ctx)
    txs.final_response(ctx, 486, T0)
    assert txs.get("t1") is None and txs.next_deadline() is None


def test_a_subscribe_is_matched_by_notifies_until_linger_after_its_2xx() -> None:
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    ctx = subscribe_sent(txs, App())
    assert txs.subscribing(("c1", "f1")) is ctx
    txs.final_response(ctx, 202, T0)
    assert txs.get("t1") is None  # the transaction is over...
    assert txs.subscribing(("c1", "f1")) is ctx  # ...NOTIFYs of other forks may come
    txs.expire(T0 + 32)
    assert txs.subscribing(("c1", "f1")) is None


def test_a_refused_subscribe_is_matched_no_more() -> None:
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    ctx = subscribe_sent(txs, App())
    txs.final_response(ctx, 403, T0)
    assert txs.subscribing(("c1", "f1")) is None
    assert txs.next_deadline() is None


def test_a_failed_transaction_is_forgotten_with_its_subscribe() -> None:
    owner = App()
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    ctx = subscribe_sent(txs, owner)
    assert txs.failed(1) is ctx
    assert txs.failed(1) is None
    assert txs.get("t1") is None and txs.subscribing(("c1", "f1")) is None
    assert txs.finished_by("t1", owner)


def test_a_transaction_forgotten_early_does_not_linger() -> None:
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    ctx = client_tx("t1", 1, App())
    txs.add(ctx)
    txs.final_response(ctx, 200, T0)
    txs.forget(ctx)
    assert txs.next_deadline() is None


def test_transactions_are_listed_by_owner_and_by_dialog() -> None:
    a, b = App(), App()
    dialog: Dialog[App] = Dialog("d1", "c1", "l", "r", "<sip:l>", "<sip:r>", "sip:r", [], "", a)
    txs: ClientTransactions[App] = ClientTransactions(linger=32.0)
    t1, t2 = client_tx("t1", 1, a), client_tx("t2", 2, b, "BYE")
    t2.dialog = dialog
    txs.add(t1)
    txs.add(t2)
    assert txs.owned_by(a) == [t1]
    assert txs.in_dialog(dialog) == [t2]
