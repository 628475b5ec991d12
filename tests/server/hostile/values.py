"""Hostile values and the :class:`Mutator` that puts them into SIP messages.

A :class:`Message` is a SIP message being built, header by header. The
mutator spoils it from a seeded generator: values replaced with hostile ones
(empty, huge, negative, non-ASCII, 2^64, unterminated quotes, parameters
without values, runs of commas, wrong CSeq methods, odd URIs...), headers
dropped or doubled, headers added that the server reads itself (Route,
Record-Route, Contact, Session-Expires, RAck, Event, Subscription-State...),
the Request-URI, SDP or Content-Length spoiled.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# Values that no header expects, tried in any of them.
GENERIC = [
    "",
    " ",
    "0",
    "-1",
    "4294967296",
    "18446744073709551615",
    "18446744073709551616",
    "99999999999999999999999999999999",
    "NaN",
    "inf",
    "1e9",
    "0x10",
    "ümlaut ☃ \u202e",
    '"unterminated',
    '"\\',
    ";",
    ";;;",
    ";a",
    ";a=",
    ";=b",
    ",",
    ",,,,,,,,",
    "a" * 3000,
    "<>",
    "<",
    "sip:",
    "<sip:@>",
    "<sip:a@[::1>",
    "<tel:+1;phone-context=>",
    "<urn:x:y>",
    "*",
]

# Values aimed at what the server reads of a header, by its lower-case name.
SPECIFIC: dict[str, list[str]] = {
    "cseq": [
        "1 BYE",
        "abc INVITE",
        "4294967296 INVITE",
        "-1 INVITE",
        "1",
        "1 ",
        "0 INVITE",
        "2147483648 INVITE",
        "1 invite",
        "1 FOO",
    ],
    "max-forwards": ["0", "1", "-1", "256", "18446744073709551616", "abc", "70, 70"],
    "session-expires": [
        "1",
        "89",
        "90",
        "1099511627776",
        "abc",
        "1800;refresher=bogus",
        "1800;refresher",
        "1800;refresher=",
        "-5",
        "1800, 1800",
        "0",
    ],
    "min-se": ["1099511627776", "100000", "0", "-1", "abc", "90;x", "7200"],
    "supported": ["timer", "100rel", "bogus", ",,,", "timer, timer", "100rel,timer", ""],
    "require": ["timer", "100rel", "bogus", ",,,", "", "100rel, timer, replaces"],
    "proxy-require": ["bogus", "", ","],
    "rack": [
        "1 1 INVITE",
        "abc",
        "1 1",
        "18446744073709551616 1 INVITE",
        "1 1 BYE",
        "0 0 INVITE",
        "1 abc INVITE",
        "-1 -1 INVITE",
        "1 1 INVITE extra",
    ],
    "rseq": ["0", "-1", "abc", "4294967296", "18446744073709551616", ""],
    "event": ["", "presence;id=", "refer;id=abc", ";;", "foo bar", "refer;id", "dialog;id=1;id=2"],
    "subscription-state": [
        "active;expires=abc",
        "terminated;reason=",
        "bogus",
        "",
        "pending;expires=-1",
        "active;expires=18446744073709551616",
        "terminated",
        "active;expires",
        "active;expires=0",
    ],
    "expires": ["-1", "18446744073709551616", "abc", "0", "4294967296", ""],
    "refer-to": [
        "",
        "<sip:x",
        "garbage",
        "<sip:a@127.0.0.1?Replaces=x%3Bto-tag>",
        "<sip:a@127.0.0.1>;method=BYE",
        "<>",
    ],
    "replaces": ["x;to-tag=1;from-tag=2", "x", ";to-tag=", "x;early-only"],
    "route": [
        "<sip:127.0.0.1:9;lr>",
        "<sip:127.0.0.1:9>",
        "garbage",
        "<>",
        "<sip:127.0.0.1:9;lr>,,<sip:x>",
        "<sip:[::1]:9;lr>",
    ],
    "record-route": ["garbage", "<>", "<sip:127.0.0.1:9;lr>, garbage", "<sip:127.0.0.1:9>"],
    "contact": [
        "*",
        "<>",
        "garbage",
        "<sip:a@127.0.0.1>;expires=abc",
        "<sip:a@127.0.0.1>,,",
        "<sip:a@127.0.0.1;transport=bogus>",
        "<sips:a@127.0.0.1>",
        "<tel:+1>",
        '"unterminated <sip:a@127.0.0.1>',
        "<sip:a@127.0.0.1:99999>",
    ],
    "from": ["<sip:a@b>", "<sip:a@b>;tag=", "<sip:a@b>;tag", "<sip:a@b>;tag=1;tag=2", "garbage"],
    "to": [
        "<sip:b@c>;tag=",
        "<sip:b@c>;tag",
        "<sip:b@c>;tag=nosuch",
        "garbage",
        "<sip:b@c>;tag=1;tag=2",
    ],
    "call-id": ["", "x" * 2000, "ümlaut", "a b"],
    "via": [
        "SIP/2.0/UDP 127.0.0.1:9",
        "SIP/2.0/UDP 127.0.0.1:9;branch=",
        "SIP/2.0/FOO 127.0.0.1:9;branch=z9hG4bKx",
        "SIP/2.0/UDP",
        "garbage",
        "SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bKx;rport=abc",
    ],
    "content-type": ["application/sdp", "", "garbage", "multipart/mixed;boundary="],
    "reason": ["SIP;cause=abc", "Q.850;cause=99999999999", "garbage"],
    "retry-after": ["-1", "abc", "18446744073709551616"],
    "allow": [",,,", "INVITE,,ACK", ""],
}

# Headers a mutation adds to a request that did not carry them, with their
# weights: those the server itself reads after the parser (Route,
# Record-Route, the Contacts together) the most.
ADDED = {
    "route": 8,
    "record-route": 4,
    "contact": 4,
    "session-expires": 2,
    "min-se": 1,
    "supported": 1,
    "require": 1,
    "proxy-require": 1,
    "rack": 1,
    "event": 1,
    "subscription-state": 1,
    "expires": 1,
    "refer-to": 1,
    "replaces": 1,
    "max-forwards": 1,
    "reason": 1,
}

REQUEST_URIS = [
    "sip:",
    "tel:+1",
    "urn:x:y",
    "sip:a@[::1",
    "sips:x@127.0.0.1",
    "sip:a@127.0.0.1:99999",
    "sip:a@127.0.0.1;lr;maddr=",
    "sip:a@127.0.0.1:9;lr",
    "sip:%00@127.0.0.1",
    "sip:a@127.0.0.1?Route=%3Csip:x%3E",
    "*",
    "x" * 3000,
    "sip:a@127.0.0.1;transport=bogus",
]

BAD_SDP = [
    "v=0\r\nbad\r\n",
    "garbage",
    "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 \r\nt=0 0\r\nm=audio abc RTP/AVP\r\n",
    "\x00\x01\x02\xff",
    "v=0\r\n" + "a=x\r\n" * 2000,
]


@dataclass
class Message:
    """A SIP message being built: its start line, headers in order, body."""

    start: str
    headers: list[tuple[str, str]]
    body: str = ""
    content_length: str | None = None  # None: the body's length

    def header(self, name: str) -> str | None:
        return next((v for n, v in self.headers if n.lower() == name.lower()), None)

    def set(self, name: str, value: str) -> None:
        for i, (n, _) in enumerate(self.headers):
            if n.lower() == name.lower():
                self.headers[i] = (n, value)
                return
        self.headers.append((name, value))

    def encode(self) -> bytes:
        body = self.body.encode("utf-8", "surrogateescape")
        length = str(len(body)) if self.content_length is None else self.content_length
        lines = [self.start, *(f"{n}: {v}" for n, v in self.headers), f"Content-Length: {length}"]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape") + body


class Mutator:
    """Spoils messages at random, from a seed; each change is described in words."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    def hostile(self, name: str) -> str:
        """A hostile value for header ``name``: one aimed at it, or any."""
        specific = SPECIFIC.get(name.lower())
        if specific and self.rng.random() < 0.7:
            return self.rng.choice(specific)
        return self.rng.choice(GENERIC)

    def mutate(self, message: Message, *, most: int = 3) -> list[str]:
        """Spoil ``message`` in 1 to ``most`` ways; what was done, in words."""
        done = [self._one(message) for _ in range(self.rng.randint(1, most))]
        return [d for d in done if d]

    def one_read_later(self, message: Message) -> list[str]:
        """Give ``message`` one hostile value in a header the parser leaves to be
        read later (Route, Session-Expires, RAck, Event...), all else valid: what
        reaches the server's code beyond the parser."""
        name = self.rng.choices(list(ADDED), list(ADDED.values()))[0]
        value = self.hostile(name)
        message.set(name.title(), value)
        return [f"{name}: {value[:40]!r}"]

    def spoil(self, message: Message) -> list[str]:
        """:meth:`one_read_later` (two times in three) or :meth:`mutate`."""
        if self.rng.random() < 2 / 3:
            return self.one_read_later(message)
        return self.mutate(message)

    def maybe(self, message: Message, chance: float) -> list[str]:
        """:meth:`mutate` with probability ``chance``, else nothing."""
        return self.mutate(message) if self.rng.random() < chance else []

    def _one(self, message: Message) -> str:
        rng = self.rng
        kind = rng.choices(
            ["replace", "drop", "double", "add", "param", "body", "length", "uri"],
            weights=[40, 8, 10, 25, 8, 5, 4, 4],
        )[0]
        if kind == "uri" and not message.start.startswith("SIP/2.0"):
            method = message.start.partition(" ")[0]
            uri = rng.choice(REQUEST_URIS)
            message.start = f"{method} {uri} SIP/2.0"
            return f"Request-URI {uri[:40]!r}"
        index = rng.randrange(len(message.headers))
        name, value = message.headers[index]
        if name.lower() == "via" and rng.random() < 0.8:
            # Spare the Via most of the time: answers must find their way back.
            return ""
        if kind == "replace":
            new = self.hostile(name)
            message.headers[index] = (name, new)
            return f"{name}: {new[:40]!r}"
        if kind == "drop":
            del message.headers[index]
            return f"no {name}"
        if kind == "double":
            new = self.hostile(name)
            message.headers.insert(index + 1, (name, new))
            return f"second {name}: {new[:40]!r}"
        if kind == "add":
            added = rng.choices(list(ADDED), list(ADDED.values()))[0]
            new = self.hostile(added)
            message.headers.append((added.title(), new))
            return f"added {added}: {new[:40]!r}"
        if kind == "param":
            param = rng.choice(
                [
                    ";",
                    ";tag",
                    ";tag=",
                    ";branch",
                    ";lr",
                    ";expires=-1",
                    ";refresher=uac",
                    ';x="',
                    ";" + "p" * 500,
                ]
            )
            message.headers[index] = (name, value + param)
            return f"{name} + {param[:20]!r}"
        if kind == "body":
            message.body = rng.choice(BAD_SDP)
            message.set("Content-Type", "application/sdp")
            return f"body {message.body[:20]!r}"
        new_length = rng.choice(["0", "-1", "abc", "18446744073709551616", "1", "100000"])
        message.content_length = new_length
        return f"Content-Length: {new_length}"
