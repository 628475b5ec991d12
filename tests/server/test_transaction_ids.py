"""Transaction ids: random version 4 UUIDs, drawn from a pool, never handed out twice."""

from __future__ import annotations

import os
import re
import uuid

import pytest

from drachtio.server.ids import new_transaction_id

UUID4 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_ids_are_well_formed_version_4_uuids_and_unique_across_draws() -> None:
    # 2,000 ids span several draws from the system (256 ids each).
    ids = [new_transaction_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    for tx_id in ids:
        assert UUID4.fullmatch(tx_id), tx_id
        parsed = uuid.UUID(tx_id)
        assert (parsed.version, parsed.variant, str(parsed)) == (4, uuid.RFC_4122, tx_id)


def test_the_random_bits_vary_in_every_position() -> None:
    # Each of the 30 hex digits that are not fixed by the format takes many
    # values over 2,000 ids: the digits are the random ones, not a counter's.
    digits = [new_transaction_id().replace("-", "") for _ in range(2000)]
    for position in range(32):
        seen = {tx_id[position] for tx_id in digits}
        if position == 12:
            assert seen == {"4"}
        elif position == 16:
            assert seen == set("89ab")
        else:
            assert len(seen) == 16, position


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_hand_out_its_parent_s_ids() -> None:
    new_transaction_id()  # the pool holds digits not handed out yet
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then exit at once
        try:
            os.write(write_end, " ".join(new_transaction_id() for _ in range(10)).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        child = set(pipe.read().decode().split())
    os.waitpid(pid, 0)
    parent = {new_transaction_id() for _ in range(10)}
    assert len(child) == 10
    assert not child & parent
