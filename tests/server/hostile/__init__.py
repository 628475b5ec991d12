"""Hostile SIP values sent through a whole running server: the generator and the checks.

Valid requests and dialogs (calls, cancelled calls, subscriptions, calls the
application places to the peer) are built here, and a seeded random
:class:`Mutator` spoils some of their headers and bodies on the way out:
values replaced with hostile ones (empty, huge, negative, non-ASCII, 2^64,
unterminated quotes, parameters without values, runs of commas, wrong CSeq
methods, odd URIs...), headers dropped or doubled, headers added that the
server acts on (Session-Expires, Min-SE, Require, RAck, Event,
Subscription-State, Route...), SDP spoiled, Content-Length wrong. The peer
answers the server's own requests with spoiled responses likewise.

:class:`Fuzzer` runs such scenarios in batches against a server and an
application (a raw JSON client that answers every request: INVITE 180 then
200 with SDP, the others 200) and after each batch checks that the server
still answers an OPTIONS, that no error was logged and no exception reached
the loop, and that the application is still connected. At the end it checks
that nothing is held: no transaction and no dialog once the calls are over.

- :mod:`hostile.values`: the hostile values, :class:`Message`, :class:`Mutator`;
- :mod:`hostile.peer`: the peer on a real socket, the legs of its dialogs;
- :mod:`hostile.report`: the report, the error watch, the application;
- :mod:`hostile.scenarios`: the scenarios;
- :mod:`hostile.fuzzer`: the batches and the checks.

Used by ``benches/fuzz_server.py`` (runs for a time, prints a summary),
``tests/server/test_hostile_values.py`` (a fixed seed, some two hundred
messages) and ``tests/server/test_hostile_headers.py`` (its peer).
"""

from __future__ import annotations

from hostile.fuzzer import Fuzzer
from hostile.peer import Copied, Leg, Peer
from hostile.report import AnsweringApp, ErrorLog, Outcome, Report
from hostile.scenarios import SCENARIOS, Context
from hostile.values import Message, Mutator

__all__ = [
    "SCENARIOS",
    "AnsweringApp",
    "Context",
    "Copied",
    "ErrorLog",
    "Fuzzer",
    "Leg",
    "Message",
    "Mutator",
    "Outcome",
    "Peer",
    "Report",
]
