"""Hypothesis strategies shared by the drachtio-srf dialect's tests."""

from __future__ import annotations

from hypothesis import strategies as st

TOKEN = st.text(st.characters(codec="utf-8", exclude_characters="|\r\n"))
"""Text that can stand as one token of a leader (possibly empty)."""

MSG_ID = TOKEN.filter(bool)
"""A non-empty token: a msgId, a transaction id."""

BODY = st.text(st.characters(codec="utf-8"))
"""Any text UTF-8 can carry: a SIP message's body, multi-byte characters included."""
