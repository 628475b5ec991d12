"""``merge_headers`` against the rule it implements, stated the slow and plain way.

The rule: Session-Expires (``x``) and Min-SE of ours replace the
application's; each header of ours joins the first of the application's with
the same name in any case or form, unless it is an option tag already listed
in Supported (``k``) or Require; otherwise it is added.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from drachtio.protocol import SimpleHeaders
from drachtio.server.session_timer.headers import merge_headers

_COMPACT = {"x": "session-expires", "k": "supported"}


def _name_of(name: str) -> str:
    return _COMPACT.get(name.lower(), name.lower())


def _merge_by_rule(app: SimpleHeaders, ours: tuple[tuple[str, str], ...]) -> SimpleHeaders:
    """The rule, name by name: every comparison lower-cases both names again."""
    owned = {"session-expires", "min-se"}
    replaced = {_name_of(name) for name, _ in ours} & owned
    merged: SimpleHeaders = {n: v for n, v in app.items() if _name_of(n) not in replaced}
    for name, value in ours:
        key = next((n for n in merged if _name_of(n) == _name_of(name)), None)
        if key is None:
            merged[name] = value
            continue
        present = merged[key]
        values = present if isinstance(present, list) else [present]
        listed = any(item.strip().lower() == value.lower() for v in values for item in v.split(","))
        if _name_of(name) in ("supported", "require") and listed:
            continue
        merged[key] = [*values, value]
    return merged


_NAMES = st.sampled_from(
    [
        "Supported",
        "supported",
        "SUPPORTED",
        "k",
        "K",
        "Require",
        "require",
        "Session-Expires",
        "session-expires",
        "x",
        "X",
        "Min-SE",
        "min-se",
        "Contact",
        "X-App",
    ]
)
_VALUES = st.sampled_from(["timer", "TIMER", "100rel", "timer, path", " path ,timer", "90", ""])
_APP_VALUE = st.one_of(_VALUES, st.lists(_VALUES, min_size=1, max_size=3))


@settings(max_examples=400)
@given(
    app=st.dictionaries(_NAMES, _APP_VALUE, max_size=6),
    ours=st.lists(st.tuples(_NAMES, _VALUES), max_size=4).map(tuple),
)
def test_merge_headers_follows_the_rule(
    app: SimpleHeaders, ours: tuple[tuple[str, str], ...]
) -> None:
    before = {n: list(v) if isinstance(v, list) else v for n, v in app.items()}
    merged = merge_headers(app, ours)
    assert merged == _merge_by_rule(app, ours)
    assert list(merged) == list(_merge_by_rule(app, ours))  # the same order too
    assert app == before  # the application's headers are left as they were


def test_merge_headers_joins_the_first_of_two_spellings() -> None:
    app: SimpleHeaders = {"k": "path", "Supported": "gruu"}
    assert merge_headers(app, (("Supported", "timer"),)) == {
        "k": ["path", "timer"],
        "Supported": "gruu",
    }
