"""Digest authentication for a UAC (drachtio.app.digest): the published
examples of RFC 7616 and RFC 2617, the other algorithms and qops against
their formulas, quoting, the choice among challenges, and a REGISTER
answered through sipp acting as a registrar that checks the password."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import shutil
import socket
from pathlib import Path

import pytest

from drachtio import (
    Challenge,
    Credentials,
    DrachtioError,
    ResponseEvent,
    SipRequest,
    SipResponse,
    SipStack,
)
from drachtio.app.digest import (
    DigestCredentials,
    DigestError,
    answer_challenge,
    authorization,
    with_credentials,
)
from drachtio.stack import StackEvent

MUFASA_7616 = DigestCredentials("Mufasa", "Circle of Life")
RFC7616_NONCE = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v"
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"
RFC7616_OPAQUE = "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"

ALICE = DigestCredentials("alice", "secret")
HAS_SHA512_256 = "sha512_256" in hashlib.algorithms_available


def h(name: str, text: str | bytes) -> str:
    data = text.encode() if isinstance(text, str) else text
    return hashlib.new(name, data).hexdigest()


def parsed(value: str) -> dict[str, str | None]:
    """The Authorization value as the core reads it back."""
    creds = Credentials(value)
    assert creds.scheme == "Digest"
    assert creds.is_digest
    names = ["algorithm", "opaque", "qop", "nc", "cnonce"]
    return {
        "username": creds.username,
        "realm": creds.realm,
        "nonce": creds.nonce,
        "uri": creds.uri,
        "response": creds.response,
        **{name: creds.param(name) for name in names},
    }


# --- The published examples ------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ],
)
def test_rfc7616_section_3_9_1_example(algorithm: str, expected: str) -> None:
    challenge = Challenge(
        f'Digest realm="http-auth@example.org", qop="auth, auth-int", '
        f'algorithm={algorithm}, nonce="{RFC7616_NONCE}", opaque="{RFC7616_OPAQUE}"'
    )
    value = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        credentials=MUFASA_7616,
        cnonce=RFC7616_CNONCE,
    )
    assert parsed(value) == {
        "username": "Mufasa",
        "realm": "http-auth@example.org",
        "nonce": RFC7616_NONCE,
        "uri": "/dir/index.html",
        "response": expected,
        "algorithm": algorithm,
        "opaque": RFC7616_OPAQUE,
        "qop": "auth",
        "nc": "00000001",
        "cnonce": RFC7616_CNONCE,
    }
    assert value == (
        f'Digest username="Mufasa", realm="http-auth@example.org", nonce="{RFC7616_NONCE}", '
        f'uri="/dir/index.html", response="{expected}", algorithm={algorithm}, '
        f'opaque="{RFC7616_OPAQUE}", qop=auth, nc=00000001, cnonce="{RFC7616_CNONCE}"'
    )


def test_rfc7616_example_with_another_password_gives_another_response() -> None:
    challenge = Challenge(
        f'Digest realm="http-auth@example.org", qop="auth", nonce="{RFC7616_NONCE}"'
    )
    value = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        credentials=DigestCredentials("Mufasa", "Circle Of Life"),
        cnonce=RFC7616_CNONCE,
    )
    assert parsed(value)["response"] != "8ca523f5e9506fed4657c9700eebdbec"


def test_rfc2617_section_3_5_example() -> None:
    challenge = Challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = authorization(
        challenge,
        method="GET",
        uri="/dir/index.html",
        credentials=DigestCredentials("Mufasa", "Circle Of Life"),
        cnonce="0a4f113b",
    )
    assert parsed(value) == {
        "username": "Mufasa",
        "realm": "testrealm@host.com",
        "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093",
        "uri": "/dir/index.html",
        "response": "6629fae49393a05397450978507c4ef1",
        "algorithm": "MD5",
        "opaque": "5ccc069c403ebaf9f0171e9517f40e41",
        "qop": "auth",
        "nc": "00000001",
        "cnonce": "0a4f113b",
    }


# --- The formulas: no qop, auth-int, -sess, the other hashes -----------------


def test_without_qop_the_response_is_rfc2069s() -> None:
    challenge = Challenge('Digest realm="atlanta.com", nonce="84a4cc6f3082121f32b42a2187831a9e"')
    value = authorization(
        challenge, method="INVITE", uri="sip:bob@biloxi.com", credentials=ALICE, cnonce="unused"
    )
    ha1 = h("md5", "alice:atlanta.com:secret")
    ha2 = h("md5", "INVITE:sip:bob@biloxi.com")
    assert parsed(value) == {
        "username": "alice",
        "realm": "atlanta.com",
        "nonce": "84a4cc6f3082121f32b42a2187831a9e",
        "uri": "sip:bob@biloxi.com",
        "response": h("md5", f"{ha1}:84a4cc6f3082121f32b42a2187831a9e:{ha2}"),
        "algorithm": "MD5",
        "opaque": None,
        "qop": None,
        "nc": None,
        "cnonce": None,
    }


@pytest.mark.parametrize(("algorithm", "hash_name"), [("MD5", "md5"), ("SHA-256", "sha256")])
def test_auth_int_covers_the_body(algorithm: str, hash_name: str) -> None:
    challenge = Challenge(f'Digest realm="r", nonce="n1", qop="auth-int", algorithm={algorithm}')
    body = b"v=0\r\no=- 1 1 IN IP4 192.0.2.1\r\n"
    value = authorization(
        challenge,
        method="INVITE",
        uri="sip:bob@example.org",
        credentials=ALICE,
        body=body,
        nc=2,
        cnonce="c1",
    )
    ha1 = h(hash_name, "alice:r:secret")
    ha2 = h(hash_name, f"INVITE:sip:bob@example.org:{h(hash_name, body)}")
    fields = parsed(value)
    assert (fields["qop"], fields["nc"], fields["cnonce"]) == ("auth-int", "00000002", "c1")
    assert fields["response"] == h(hash_name, f"{ha1}:n1:00000002:c1:auth-int:{ha2}")
    other = authorization(
        challenge,
        method="INVITE",
        uri="sip:bob@example.org",
        credentials=ALICE,
        body=body + b"s=-\r\n",
        nc=2,
        cnonce="c1",
    )
    assert parsed(other)["response"] != fields["response"]


def test_auth_is_preferred_to_auth_int_and_the_body_then_does_not_count() -> None:
    challenge = Challenge('Digest realm="r", nonce="n", qop="auth-int,auth"')
    values = [
        authorization(
            challenge, method="MESSAGE", uri="sip:b@x", credentials=ALICE, body=body, cnonce="c"
        )
        for body in (b"hello", b"bye")
    ]
    assert [parsed(v)["qop"] for v in values] == ["auth", "auth"]
    assert values[0] == values[1]


SESS = [("MD5-sess", "md5"), ("SHA-256-sess", "sha256")]
if HAS_SHA512_256:
    SESS.append(("SHA-512-256-sess", "sha512_256"))


@pytest.mark.parametrize(("algorithm", "hash_name"), SESS)
def test_sess_algorithms_key_with_the_nonces(algorithm: str, hash_name: str) -> None:
    challenge = Challenge(f'Digest realm="r", nonce="n", qop="auth", algorithm={algorithm}')
    value = authorization(
        challenge, method="REGISTER", uri="sip:example.org", credentials=ALICE, cnonce="cn"
    )
    ha1 = h(hash_name, f"{h(hash_name, 'alice:r:secret')}:n:cn")
    ha2 = h(hash_name, "REGISTER:sip:example.org")
    fields = parsed(value)
    assert fields["algorithm"] == algorithm
    assert fields["response"] == h(hash_name, f"{ha1}:n:00000001:cn:auth:{ha2}")


def test_sess_without_qop_cannot_be_answered() -> None:
    challenge = Challenge('Digest realm="r", nonce="n", algorithm=MD5-sess')
    with pytest.raises(DigestError, match="needs a qop"):
        authorization(challenge, method="REGISTER", uri="sip:example.org", credentials=ALICE)


@pytest.mark.skipif(not HAS_SHA512_256, reason="hashlib has no SHA-512/256 here")
def test_sha512_256() -> None:
    challenge = Challenge('Digest realm="r", nonce="n", qop="auth", algorithm=SHA-512-256')
    value = authorization(
        challenge, method="REGISTER", uri="sip:example.org", credentials=ALICE, cnonce="cn"
    )
    ha1 = h("sha512_256", "alice:r:secret")
    ha2 = h("sha512_256", "REGISTER:sip:example.org")
    fields = parsed(value)
    assert fields["algorithm"] == "SHA-512-256"
    assert fields["response"] == h("sha512_256", f"{ha1}:n:00000001:cn:auth:{ha2}")


def test_algorithm_names_compare_case_insensitively_and_are_echoed() -> None:
    challenge = Challenge('Digest realm="r", nonce="n", algorithm=sha-256')
    value = authorization(challenge, method="REGISTER", uri="sip:x", credentials=ALICE)
    ha1 = h("sha256", "alice:r:secret")
    fields = parsed(value)
    assert fields["algorithm"] == "sha-256"
    assert fields["response"] == h("sha256", f"{ha1}:n:{h('sha256', 'REGISTER:sip:x')}")


def test_non_ascii_values_are_hashed_as_utf8() -> None:
    challenge = Challenge('Digest realm="réalm", nonce="n"')
    creds = DigestCredentials("jürgen", "pässword")
    value = authorization(challenge, method="REGISTER", uri="sip:x", credentials=creds)
    ha1 = h("md5", "jürgen:réalm:pässword".encode())
    fields = parsed(value)
    assert fields["username"] == "jürgen"
    assert fields["response"] == h("md5", f"{ha1}:n:{h('md5', 'REGISTER:sip:x')}")


# --- Header syntax ----------------------------------------------------------


def test_quotes_and_backslashes_are_escaped() -> None:
    challenge = Challenge(r'Digest realm="the \"big\" realm", nonce="n\\1", opaque="o\"p"')
    creds = DigestCredentials('al"ice\\', 'pa"ss')
    value = authorization(challenge, method="REGISTER", uri="sip:x", credentials=creds)
    assert r'username="al\"ice\\"' in value
    assert r'realm="the \"big\" realm"' in value
    assert r'nonce="n\\1"' in value
    assert r'opaque="o\"p"' in value
    fields = parsed(value)
    assert fields["username"] == 'al"ice\\'
    assert fields["realm"] == 'the "big" realm'
    assert fields["nonce"] == "n\\1"
    assert fields["opaque"] == 'o"p'
    # The hashes are over the values, not their quoted forms.
    ha1 = h("md5", 'al"ice\\:the "big" realm:pa"ss')
    assert fields["response"] == h("md5", f"{ha1}:n\\1:{h('md5', 'REGISTER:sip:x')}")


@pytest.mark.parametrize("username", ["alice\r\nX-Injected: 1", "a\x00b", "a\x7fb"])
def test_control_characters_in_a_quoted_value_are_refused(username: str) -> None:
    challenge = Challenge('Digest realm="r", nonce="n"')
    creds = DigestCredentials(username, "secret")
    with pytest.raises(DigestError, match="control character"):
        authorization(challenge, method="REGISTER", uri="sip:x", credentials=creds)


def test_nonce_count_is_eight_hex_digits_and_bounded() -> None:
    challenge = Challenge('Digest realm="r", nonce="n", qop="auth"')
    for nc, text in [(1, "00000001"), (10, "0000000a"), (0xFFFFFFFF, "ffffffff")]:
        value = authorization(challenge, method="REGISTER", uri="sip:x", credentials=ALICE, nc=nc)
        assert parsed(value)["nc"] == text
    for nc in (0, -1, 0x100000000):
        with pytest.raises(DigestError, match="nonce count"):
            authorization(challenge, method="REGISTER", uri="sip:x", credentials=ALICE, nc=nc)


def test_a_random_cnonce_when_none_is_given() -> None:
    challenge = Challenge('Digest realm="r", nonce="n", qop="auth"')
    cnonces = {
        parsed(authorization(challenge, method="REGISTER", uri="sip:x", credentials=ALICE))[
            "cnonce"
        ]
        for _ in range(20)
    }
    assert len(cnonces) == 20
    for cnonce in cnonces:
        assert cnonce is not None and len(cnonce) == 32
        int(cnonce, 16)
    with pytest.raises(DigestError, match="cnonce"):
        authorization(challenge, method="REGISTER", uri="sip:x", credentials=ALICE, cnonce="")


# --- Challenges that cannot be answered ---------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('Digest realm="r", nonce="n", algorithm=SHA-1', "unsupported digest algorithm 'SHA-1'"),
        ('Digest realm="r", nonce="n", algorithm=AKAv1-MD5', "unsupported digest algorithm"),
        ('Digest realm="r", nonce="n", qop="auth-conf"', "unsupported qop"),
        ('Digest nonce="n"', "no realm"),
        ('Digest realm="r"', "no nonce"),
        ('Basic realm="r"', "not a Digest challenge"),
    ],
)
def test_unanswerable_challenges_raise_digest_error(value: str, message: str) -> None:
    with pytest.raises(DigestError, match=message) as raised:
        authorization(Challenge(value), method="REGISTER", uri="sip:x", credentials=ALICE)
    assert isinstance(raised.value, ValueError)
    assert isinstance(raised.value, DrachtioError)


def test_credentials_do_not_show_the_password() -> None:
    creds = DigestCredentials("alice", "hunter2")
    assert "hunter2" not in repr(creds)
    assert "alice" in repr(creds)
    assert creds == DigestCredentials("alice", "hunter2")
    with pytest.raises(dataclasses.FrozenInstanceError):
        creds.password = "x"  # type: ignore[misc]
    assert not hasattr(creds, "__dict__")


# --- answer_challenge ---------------------------------------------------------


def challenged(status: int, *headers: tuple[str, str]) -> SipResponse:
    return SipResponse(status, None, list(headers))


def test_a_401_is_answered_with_authorization() -> None:
    response = challenged(401, ("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"'))
    answer = answer_challenge(response, method="REGISTER", uri="sip:example.org", credentials=ALICE)
    assert answer is not None
    name, value = answer
    assert name == "Authorization"
    fields = parsed(value)
    assert (fields["username"], fields["realm"], fields["nonce"]) == ("alice", "r", "n")
    assert (fields["uri"], fields["qop"], fields["nc"]) == ("sip:example.org", "auth", "00000001")
    ha1 = h("md5", "alice:r:secret")
    ha2 = h("md5", "REGISTER:sip:example.org")
    assert fields["response"] == h("md5", f"{ha1}:n:00000001:{fields['cnonce']}:auth:{ha2}")


def test_the_retry_replaces_the_applications_dialog_headers_under_any_spelling() -> None:
    sent = SipRequest(
        "INVITE",
        "sip:bob@example.org",
        [
            ("From", "<sip:alice@example.org>;tag=a1"),
            ("To", "<sip:bob@example.org>"),
            ("Call-ID", "c1"),
            ("CSeq", "7 INVITE"),
        ],
    )
    response = challenged(401, ("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth"'))
    headers: dict[str, str | list[str]] = {
        "to": "<sip:other@example.org>",
        "f": "<sip:mallory@example.org>",
        "call-id": "not-this",
        "authorization": "Digest stale",
        "X-Kept": "yes",
    }
    retry = with_credentials(sent, response, headers, None, ("alice", "secret"))
    assert retry is not None
    assert sorted(retry) == ["Authorization", "CSeq", "Call-ID", "From", "To", "X-Kept"]
    assert retry["From"] == "<sip:alice@example.org>;tag=a1"
    assert retry["To"] == "<sip:bob@example.org>"
    assert (retry["Call-ID"], retry["CSeq"]) == ("c1", "8 INVITE")
    assert str(retry["Authorization"]).startswith("Digest ")
    assert headers["to"] == "<sip:other@example.org>"  # the application's own dict is left alone


def test_a_407_is_answered_with_proxy_authorization() -> None:
    response = challenged(
        407,
        ("WWW-Authenticate", 'Digest realm="not-this", nonce="x"'),
        ("Proxy-Authenticate", 'Digest realm="proxy", nonce="p", opaque="o"'),
    )
    answer = answer_challenge(
        response, method="INVITE", uri="sip:bob@example.org", credentials=ALICE, nc=3
    )
    assert answer is not None
    name, value = answer
    assert name == "Proxy-Authorization"
    fields = parsed(value)
    assert (fields["realm"], fields["nonce"], fields["opaque"]) == ("proxy", "p", "o")
    ha1 = h("md5", "alice:proxy:secret")
    assert fields["response"] == h("md5", f"{ha1}:p:{h('md5', 'INVITE:sip:bob@example.org')}")


def test_the_401s_own_challenge_header_is_required() -> None:
    response = challenged(401, ("Proxy-Authenticate", 'Digest realm="r", nonce="n"'))
    assert answer_challenge(response, method="REGISTER", uri="sip:x", credentials=ALICE) is None
    response = challenged(407, ("WWW-Authenticate", 'Digest realm="r", nonce="n"'))
    assert answer_challenge(response, method="REGISTER", uri="sip:x", credentials=ALICE) is None


@pytest.mark.parametrize("md5_first", [True, False])
def test_the_strongest_algorithm_is_chosen(md5_first: bool) -> None:
    md5 = ("WWW-Authenticate", 'Digest realm="r", nonce="n-md5", qop="auth", algorithm=MD5')
    sha = ("WWW-Authenticate", 'Digest realm="r", nonce="n-sha", qop="auth", algorithm=SHA-256')
    basic = ("WWW-Authenticate", 'Basic realm="r"')
    headers = [basic, md5, sha] if md5_first else [basic, sha, md5]
    answer = answer_challenge(
        challenged(401, *headers), method="REGISTER", uri="sip:x", credentials=ALICE
    )
    assert answer is not None
    fields = parsed(answer[1])
    assert (fields["algorithm"], fields["nonce"]) == ("SHA-256", "n-sha")
    assert fields["response"] is not None and len(fields["response"]) == 64


def test_among_equally_strong_challenges_the_first_is_chosen() -> None:
    response = challenged(
        401,
        ("WWW-Authenticate", 'Digest realm="r", nonce="first", algorithm=SHA-256'),
        (
            "WWW-Authenticate",
            'Digest realm="r", nonce="second", qop="auth", algorithm=SHA-256-sess',
        ),
    )
    answer = answer_challenge(response, method="REGISTER", uri="sip:x", credentials=ALICE)
    assert answer is not None
    assert parsed(answer[1])["nonce"] == "first"


def test_unanswerable_and_malformed_challenges_are_skipped() -> None:
    response = challenged(
        401,
        ("WWW-Authenticate", 'Digest realm="r", nonce="n1", algorithm=SHA-1'),
        ("WWW-Authenticate", 'Digest realm="r" nonce'),
        ("WWW-Authenticate", 'Digest realm="r", nonce="n2", algorithm=MD5-sess'),
        ("WWW-Authenticate", 'Digest realm="r", nonce="n3", algorithm=MD5'),
    )
    answer = answer_challenge(response, method="REGISTER", uri="sip:x", credentials=ALICE)
    assert answer is not None
    assert parsed(answer[1])["nonce"] == "n3"


@pytest.mark.parametrize(
    "response",
    [
        challenged(401, ("WWW-Authenticate", 'Basic realm="r"')),
        challenged(401, ("WWW-Authenticate", 'Digest realm="r", nonce="n", algorithm=SHA-1')),
        challenged(401),
        challenged(407, ("Proxy-Authenticate", 'Bearer realm="r"')),
        challenged(200, ("WWW-Authenticate", 'Digest realm="r", nonce="n"')),
        challenged(403, ("WWW-Authenticate", 'Digest realm="r", nonce="n"')),
    ],
    ids=["basic", "unsupported-algorithm", "no-challenge", "bearer", "200", "403"],
)
def test_nothing_to_answer_gives_none(response: SipResponse) -> None:
    assert answer_challenge(response, method="REGISTER", uri="sip:x", credentials=ALICE) is None


# --- Against sipp ---------------------------------------------------------------

SIPP = shutil.which("sipp")
SCENARIO = Path(__file__).parent / "scenarios" / "uas_register_digest.xml"


def free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.bind(("127.0.0.1", 0))
        port: int = udp.getsockname()[1]
        return port


class Client:
    """Sends requests with a SipStack and hands back their final responses."""

    def __init__(self) -> None:
        self.stack: SipStack | None = None
        self.finals: dict[int, asyncio.Future[SipResponse]] = {}

    def on_event(self, event: StackEvent) -> None:
        if isinstance(event, ResponseEvent) and event.response.status >= 200:
            future = self.finals.get(event.tx_id)
            if future is not None and not future.done():
                future.set_result(event.response)

    async def request(self, request: SipRequest, port: int) -> SipResponse:
        assert self.stack is not None
        tx_id = self.stack.send_request(request, ("udp", "127.0.0.1", port))
        self.finals[tx_id] = asyncio.get_running_loop().create_future()
        return await asyncio.wait_for(self.finals[tx_id], 10)


async def register_with_sipp(
    tmp_path: Path, challenge: str, credentials: DigestCredentials
) -> tuple[SipResponse, SipResponse, str | None]:
    """REGISTER to sipp, which answers 401; again with the answer to it.

    Returns the 401, the final response to the second REGISTER (200 when
    sipp's verifyauth accepted the Authorization, 403 when not), and the
    Authorization sent.
    """
    assert SIPP is not None
    port = free_udp_port()
    log = tmp_path / "sipp.out"
    with log.open("wb") as sink:
        sipp = await asyncio.create_subprocess_exec(
            SIPP,
            *f"-sf {SCENARIO} -m 1 -t u1 -i 127.0.0.1 -p {port}".split(),
            "-key",
            "challenge",
            challenge,
            "-nostdin",
            "-timeout",
            "20s",
            "-timeout_error",
            "-trace_err",
            cwd=tmp_path,
            stdout=sink,
            stderr=asyncio.subprocess.STDOUT,
        )
        client = Client()
        client.stack = stack = await SipStack.start(["udp:127.0.0.1:0"], client.on_event)
        try:
            uri = f"sip:127.0.0.1:{port}"
            headers = [
                ("From", f"<sip:alice@sipp.example>;tag={stack.new_tag()}"),
                ("To", "<sip:alice@sipp.example>"),
                ("Call-ID", f"digest-{stack.new_tag()}"),
                ("Contact", "<sip:alice@127.0.0.1>"),
                ("Expires", "60"),
            ]
            first = await client.request(
                SipRequest("REGISTER", uri, [*headers, ("CSeq", "1 REGISTER")]), port
            )
            answer = answer_challenge(first, method="REGISTER", uri=uri, credentials=credentials)
            sent = None
            again = [*headers, ("CSeq", "2 REGISTER")]
            if answer is not None:
                sent = answer[1]
                again.append(answer)
            second = await client.request(SipRequest("REGISTER", uri, again), port)
            returncode = await asyncio.wait_for(sipp.wait(), 30)
        finally:
            if sipp.returncode is None:
                sipp.kill()
                await sipp.wait()
            await stack.close(grace=0.5)
    output = log.read_text(errors="replace")
    for errors in tmp_path.glob("*_errors.log"):
        output += errors.read_text(errors="replace")
    assert returncode == 0, output[-3000:]
    return first, second, sent


SIPP_CHALLENGES = [
    'realm="sipp.example", nonce="a6ca2bf13de1433183f7c48781bd9304"',
    'realm="sipp.example", nonce="a6ca2bf13de1433183f7c48781bd9304", qop="auth"',
    'realm="sipp.example", nonce="a6ca2bf13de1433183f7c48781bd9304", opaque="0p4que", '
    "algorithm=MD5",
]


@pytest.mark.skipif(SIPP is None, reason="sipp is not on PATH")
@pytest.mark.parametrize("challenge", SIPP_CHALLENGES, ids=["md5", "md5-qop-auth", "md5-opaque"])
async def test_sipp_registrar_accepts_the_answer(tmp_path: Path, challenge: str) -> None:
    first, second, sent = await register_with_sipp(tmp_path, challenge, ALICE)
    assert first.status == 401
    assert sent is not None
    assert parsed(sent)["realm"] == "sipp.example"
    assert second.status == 200, second


@pytest.mark.skipif(SIPP is None, reason="sipp is not on PATH")
@pytest.mark.parametrize("challenge", SIPP_CHALLENGES[:2], ids=["md5", "md5-qop-auth"])
async def test_sipp_registrar_refuses_a_wrong_password(tmp_path: Path, challenge: str) -> None:
    wrong = DigestCredentials("alice", "not-the-secret")
    first, second, sent = await register_with_sipp(tmp_path, challenge, wrong)
    assert first.status == 401
    assert sent is not None
    assert second.status == 403, second
