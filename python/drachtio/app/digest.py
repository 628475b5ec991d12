"""Digest authentication for a UAC: answering a 401 or 407 challenge.

A SIP server or proxy that wants a request authenticated answers it with a
401 carrying ``WWW-Authenticate`` or a 407 carrying ``Proxy-Authenticate``
(RFC 3261 §22.2, §22.3); the client sends the request again, with a new
CSeq, carrying ``Authorization`` or ``Proxy-Authorization`` computed here
(:func:`with_credentials` gives the headers of that retry).

The computation is RFC 2617 §3.2.2 as RFC 3261 §22.4 uses it, with the
algorithms RFC 7616 §3.4 added and RFC 8760 brought to SIP: ``MD5``,
``MD5-sess``, ``SHA-256``, ``SHA-256-sess``, ``SHA-512-256`` and
``SHA-512-256-sess`` (the last two when this Python's ``hashlib`` has
SHA-512/256). With a ``qop`` of ``auth`` or ``auth-int`` the response covers
the cnonce and nonce count; without one it is the RFC 2069 response.

::

    # response: the SipResponse (401 or 407) to a REGISTER sent to sip:example.com
    answer = answer_challenge(
        response, method="REGISTER", uri="sip:example.com",
        credentials=DigestCredentials("alice", "secret"),
    )
    if answer is not None:
        headers.append(answer)  # ("Authorization", "Digest ..."); send again, CSeq + 1
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass, field

from drachtio._core import Challenge, SipRequest, SipResponse
from drachtio.errors import DrachtioError, ParseError
from drachtio.header_names import canonical_name

__all__ = [
    "Credentials",
    "DigestCredentials",
    "DigestError",
    "answer_challenge",
    "authorization",
    "with_credentials",
]

Credentials = tuple[str, str]
"""``(username, password)`` for digest authentication."""


class DigestError(DrachtioError, ValueError):
    """A digest challenge that cannot be answered, or an argument that cannot be sent.

    Raised by :func:`authorization` for a challenge of another scheme, an
    algorithm or qop this module does not implement, a challenge without
    realm or nonce, and a value that cannot be written in a quoted string.
    """


@dataclass(frozen=True, slots=True)
class DigestCredentials:
    """The username and password that answer digest challenges.

    The password is left out of ``repr`` so that it does not end up in logs.
    """

    username: str
    password: str = field(repr=False)


def _hash_available(name: str) -> bool:
    try:
        hashlib.new(name, usedforsecurity=False)
    except ValueError:
        return False
    return True


# Each algorithm's hashlib name and its strength, for choosing among
# several challenges (higher is stronger). A -sess variant has the strength
# of its hash. SHA-512/256 is in hashlib only when OpenSSL provides it.
_HASHES: dict[str, tuple[str, int]] = {
    name: spec
    for name, spec in {
        "MD5": ("md5", 0),
        "SHA-256": ("sha256", 1),
        "SHA-512-256": ("sha512_256", 2),
    }.items()
    if _hash_available(spec[0])
}


@dataclass(frozen=True, slots=True)
class _Plan:
    """How a challenge is answered: with which hash, session key and qop."""

    algorithm: str  # the token as the challenge wrote it, or "MD5"
    hash_name: str  # hashlib's name
    strength: int
    sess: bool
    qop: str | None  # "auth", "auth-int" or None (RFC 2069)
    realm: str
    nonce: str


def _plan(challenge: Challenge) -> _Plan:
    """Checks that ``challenge`` can be answered, and says how; raises :class:`DigestError`."""
    if not challenge.is_digest:
        raise DigestError(f"not a Digest challenge: {challenge.scheme}")
    realm = challenge.realm
    if realm is None:
        raise DigestError("the Digest challenge has no realm")
    nonce = challenge.nonce
    if nonce is None:
        raise DigestError("the Digest challenge has no nonce")
    # RFC 2617 §3.2.1: no algorithm means MD5. Tokens compare case-insensitively.
    algorithm = challenge.algorithm or "MD5"
    base = algorithm.upper()
    sess = base.endswith("-SESS")
    if sess:
        base = base[: -len("-SESS")]
    spec = _HASHES.get(base)
    if spec is None:
        supported = ", ".join(f"{name}, {name}-sess" for name in _HASHES)
        raise DigestError(f"unsupported digest algorithm {algorithm!r} (supported: {supported})")
    offered = [q.lower() for q in challenge.qop]
    qop: str | None
    if not offered:
        qop = None
    elif "auth" in offered:
        qop = "auth"
    elif "auth-int" in offered:
        qop = "auth-int"
    else:
        raise DigestError(f"unsupported qop {challenge.qop!r} (supported: auth, auth-int)")
    if sess and qop is None:
        # The session key covers a cnonce, which is only sent with a qop
        # (RFC 2617 §3.2.2): the server could not compute it.
        raise DigestError(f"algorithm {algorithm} needs a qop in the challenge")
    return _Plan(algorithm, spec[0], spec[1], sess, qop, realm, nonce)


def _quoted(value: str, what: str) -> str:
    """``value`` as a quoted-string (RFC 3261 §25.1), with ``"`` and ``\\`` escaped."""
    for char in value:
        if (char < " " and char != "\t") or char == "\x7f":
            raise DigestError(f"the {what} contains a control character: {value!r}")
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return f'"{escaped}"'


def authorization(
    challenge: Challenge,
    *,
    method: str,
    uri: str,
    credentials: DigestCredentials,
    body: bytes = b"",
    nc: int = 1,
    cnonce: str | None = None,
) -> str:
    """The Authorization or Proxy-Authorization value answering ``challenge``.

    The value is ``Digest username="...", realm="...", nonce="...", uri="...",
    response="...", algorithm=...``, then ``opaque="..."`` when the challenge
    has one, then ``qop=..., nc=..., cnonce="..."`` when it offers a qop:
    ``auth`` when offered, else ``auth-int`` (whose response covers ``body``).
    Without a qop the response is that of RFC 2069, for old servers.

    Args:
        challenge: a ``WWW-Authenticate`` or ``Proxy-Authenticate`` value.
        method: the method of the request being sent (``A2`` of RFC 2617).
        uri: its Request-URI, as the request carries it.
        credentials: the username and password.
        body: the request's body, for ``qop=auth-int``.
        nc: the nonce count, how many requests (this one included) have
            answered this nonce; sent as 8 hex digits.
        cnonce: the client nonce; a random one when ``None``.

    Raises:
        DigestError: not a Digest challenge, an unsupported algorithm or qop,
            no realm or nonce, ``nc`` out of range, or a control character in
            a value to be quoted.
    """
    plan = _plan(challenge)
    if not 1 <= nc <= 0xFFFFFFFF:
        raise DigestError(f"the nonce count must be 1 to 0xffffffff, not {nc}")
    if cnonce is None:
        cnonce = secrets.token_hex(16)
    elif not cnonce:
        raise DigestError("the cnonce must not be empty")

    def h(data: str | bytes) -> str:
        raw = data.encode("utf-8") if isinstance(data, str) else data
        return hashlib.new(plan.hash_name, raw, usedforsecurity=False).hexdigest()

    # RFC 7616 §3.4.2 (RFC 2617 §3.2.2.2): A1, with the nonces for -sess.
    ha1 = h(f"{credentials.username}:{plan.realm}:{credentials.password}")
    if plan.sess:
        ha1 = h(f"{ha1}:{plan.nonce}:{cnonce}")
    # RFC 7616 §3.4.3 (RFC 2617 §3.2.2.3): A2, with the body's hash for auth-int.
    a2 = f"{method}:{uri}"
    if plan.qop == "auth-int":
        a2 += f":{h(body)}"
    ha2 = h(a2)
    nc_text = f"{nc:08x}"
    if plan.qop is None:
        response = h(f"{ha1}:{plan.nonce}:{ha2}")  # RFC 2069
    else:
        response = h(f"{ha1}:{plan.nonce}:{nc_text}:{cnonce}:{plan.qop}:{ha2}")

    params = [
        f"username={_quoted(credentials.username, 'username')}",
        f"realm={_quoted(plan.realm, 'realm')}",
        f"nonce={_quoted(plan.nonce, 'nonce')}",
        f"uri={_quoted(uri, 'uri')}",
        f'response="{response}"',
        f"algorithm={plan.algorithm}",
    ]
    opaque = challenge.opaque
    if opaque is not None:
        params.append(f"opaque={_quoted(opaque, 'opaque')}")
    if plan.qop is not None:
        params += [f"qop={plan.qop}", f"nc={nc_text}", f"cnonce={_quoted(cnonce, 'cnonce')}"]
    return "Digest " + ", ".join(params)


def answer_challenge(
    response: SipResponse,
    *,
    method: str,
    uri: str,
    credentials: DigestCredentials,
    body: bytes = b"",
    nc: int = 1,
) -> tuple[str, str] | None:
    """The header that answers a 401 or 407, as ``(name, value)``; ``None`` if there is none.

    A 401 is answered with ``Authorization`` from its ``WWW-Authenticate``
    challenges, a 407 with ``Proxy-Authorization`` from its
    ``Proxy-Authenticate`` ones. Challenges that cannot be answered (another
    scheme, an unsupported algorithm or qop, a malformed value) are skipped.

    Of several answerable challenges the one with the strongest algorithm is
    taken (SHA-512-256, then SHA-256, then MD5), the first of them on a tie.
    RFC 8760 §2.4 has a UAC use the topmost challenge it supports unless a
    local policy says otherwise; this is such a policy, against the
    downgrade of its security considerations (§3): the challenges are not
    protected, and an on-path attacker could reorder them to put MD5 first.

    One header answers one challenge: for challenges of several realms
    (proxies reached by forking, RFC 3261 §22.3) call :func:`authorization`
    for each.

    Args:
        response: the response received.
        method, uri, credentials, body, nc: as for :func:`authorization`;
            ``method`` and ``uri`` are those of the request sent again.

    Raises:
        DigestError: the arguments cannot be sent (``nc`` out of range, a
            control character in the username or ``uri``).
    """
    if response.status == 401:
        challenge_header, answer_header = "WWW-Authenticate", "Authorization"
    elif response.status == 407:
        challenge_header, answer_header = "Proxy-Authenticate", "Proxy-Authorization"
    else:
        return None
    best: tuple[int, Challenge] | None = None
    for value in response.header_all(challenge_header):
        try:
            challenge = Challenge(value)
            plan = _plan(challenge)
        except (ParseError, DigestError):
            continue
        if best is None or plan.strength > best[0]:
            best = (plan.strength, challenge)
    if best is None:
        return None
    value = authorization(
        best[1], method=method, uri=uri, credentials=credentials, body=body, nc=nc
    )
    return answer_header, value


def with_credentials(
    sent: SipRequest,
    response: SipResponse,
    headers: dict[str, str | list[str]],
    body: str | bytes | None,
    auth: Credentials | None,
) -> dict[str, str | list[str]] | None:
    """The headers of ``sent`` retried with the answer to ``response``'s digest
    challenge, or None: the same Call-ID, From (and tag) and To, the next
    CSeq (RFC 3261 §22.2)."""
    if auth is None or response.status not in (401, 407):
        return None
    raw = body.encode("utf-8") if isinstance(body, str) else (body or b"")
    answer = answer_challenge(
        response,
        method=sent.method,
        uri=str(sent.uri),
        credentials=DigestCredentials(*auth),
        body=raw,
    )
    cseq = sent.cseq
    if answer is None or cseq is None:
        return None
    name, value = answer
    # What the retry writes replaces the application's, under any spelling
    # ("to", "t"): two of one header would make the request malformed.
    written = {"from", "to", "call-id", "cseq", canonical_name(name)}
    retry: dict[str, str | list[str]] = {
        **{key: item for key, item in headers.items() if canonical_name(key) not in written},
        "From": sent.header("From") or "",
        "To": sent.header("To") or "",
        "Call-ID": sent.call_id or "",
        "CSeq": f"{cseq.seq + 1} {sent.method}",
        name: value,
    }
    return retry
