"""drachtio.header_names (the Python side's compact forms) against the parser's own table."""

from __future__ import annotations

import string

import pytest

from drachtio import parse
from drachtio.header_names import COMPACT_FORMS, canonical_name

# A response whose every header is written in long form; a test writes one
# of them, or adds one, under a single letter.
BASE = [
    ("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK-1"),
    ("From", "<sip:a@h>;tag=1"),
    ("To", "<sip:b@h>;tag=2"),
    ("Call-ID", "c1"),
    ("CSeq", "1 OPTIONS"),
    ("Content-Length", "0"),
]

# The headers the parser checks as it reads, and a value each accepts.
PROBES = {"contact": "<sip:probe@h>"}


@pytest.mark.parametrize("letter", string.ascii_lowercase)
def test_a_single_letter_names_what_the_parser_takes_it_for(letter: str) -> None:
    # The parser writes each header under its canonical long name: a letter
    # it knows as a compact form comes out under that form's full name, any
    # other letter under itself. canonical_name must say the same.
    expected = canonical_name(letter)
    assert (letter in COMPACT_FORMS) == (expected != letter)
    headers = [(letter if name.lower() == expected else name, value) for name, value in BASE]
    if headers == BASE:  # not one of BASE's: added, with a value it takes
        value = PROBES.get(expected, "x-probe")
        headers.append((letter, value))
    else:
        value = dict(BASE)[next(name for name in dict(BASE) if name.lower() == expected)]
    text = "SIP/2.0 200 OK\r\n" + "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\n"
    written = parse(text.encode()).to_bytes().decode().split("\r\n")
    (line,) = [line for line in written[1:] if line.endswith(f": {value}")]
    assert line.split(":", 1)[0].lower() == expected
