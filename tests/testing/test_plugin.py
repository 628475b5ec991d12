"""The pytest plugin ``drachtio.testing``: small ``Srf`` applications tested with its fixtures.

Each test runs a server in the test's process (``drachtio_server``, T1 = 50
ms), attaches an application to it, and plays the far end with phones
(``sip_phone``, ``sip_phone_factory``) doing real SIP over loopback.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from drachtio import LocalError, Server, ServerConfig, SipError, Srf
from drachtio.app import Dialog, Request, Response
from drachtio.testing import PhoneFactory, SipPhone, sdp, server_config

if sys.version_info >= (3, 11):
    import tomllib
else:
    import tomli as tomllib

pytest_plugins = ["pytester"]

ROOT = Path(__file__).parent.parent.parent
PHONE_SDP = sdp(40000)
APP_SDP = sdp(50000)
WAIT = 2.0


def answering_app() -> tuple[Srf, asyncio.Queue[Dialog]]:
    """Answers every INVITE 200 with ``APP_SDP``; each call's dialog goes to the queue."""
    srf = Srf()
    dialogs: asyncio.Queue[Dialog] = asyncio.Queue()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await dialogs.put(await srf.create_uas(req, res, local_sdp=APP_SDP))

    return srf, dialogs


@pytest.mark.parametrize("sip_transport", ["udp", "tcp"])
@pytest.mark.parametrize("link", ["embedded", "remote"])
async def test_the_app_answers_and_the_phone_hangs_up(
    drachtio_server: Server, sip_phone: SipPhone, sip_transport: str, link: str
) -> None:
    srf, dialogs = answering_app()
    if link == "embedded":
        await srf.attach(drachtio_server)
    else:
        secret = drachtio_server.config.secrets[0]
        await srf.connect(*drachtio_server.control_address, secret)
    assert sip_phone.transport == sip_transport

    call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP)
    answer = await call.final()
    assert answer.status == 200
    assert call.remote_sdp == APP_SDP
    await call.ack()
    dialog = await asyncio.wait_for(dialogs.get(), WAIT)
    assert dialog.remote_sdp == PHONE_SDP
    assert dialog.call_id == call.call_id

    assert (await call.bye()).status == 200
    assert await asyncio.wait_for(dialog.wait_destroyed(), WAIT) == "BYE received"
    assert call.ended
    await srf.close()


async def test_the_app_hangs_up_and_the_phone_sees_the_bye(
    drachtio_server: Server, sip_phone: SipPhone
) -> None:
    srf = Srf()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        dialog = await srf.create_uas(req, res, local_sdp=APP_SDP)
        await dialog.destroy(headers={"X-Why": "done"})

    await srf.attach(drachtio_server)
    call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP)
    await call.ack()
    bye = await call.wait_bye()
    assert bye.header("X-Why") == "done"
    assert call.ended


async def test_a_wait_for_what_never_comes_fails_instead_of_hanging(
    drachtio_server: Server, sip_phone: SipPhone
) -> None:
    srf = Srf()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await res.send(180)  # and never more

    await srf.attach(drachtio_server)
    call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP)
    await call.provisional(180)
    with pytest.raises(TimeoutError, match=r"no final response to INVITE sip:bob@example\.com"):
        await call.final(timeout=0.1)
    with pytest.raises(TimeoutError, match="no INVITE came"):
        await sip_phone.expect_invite(timeout=0.05)


async def test_cancel_before_the_answer(drachtio_server: Server, sip_phone: SipPhone) -> None:
    srf = Srf()
    outcome: asyncio.Future[tuple[str, int]] = asyncio.get_running_loop().create_future()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        await res.send(180)
        reason = await req.wait_cancelled()
        try:
            await srf.create_uas(req, res, local_sdp=APP_SDP)
        except SipError as exc:
            outcome.set_result((reason, exc.status))

    await srf.attach(drachtio_server)
    call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP)
    assert (await call.provisional(180)).status == 180
    assert (await call.cancel()).status == 200
    assert (await call.final()).status == 487
    assert await asyncio.wait_for(outcome, WAIT) == ("cancelled by the caller", 487)


async def test_a_reinvite_from_the_phone_gets_the_apps_sdp(
    drachtio_server: Server, sip_phone: SipPhone
) -> None:
    srf, dialogs = answering_app()
    await srf.attach(drachtio_server)
    call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP)
    await call.ack()
    dialog = await asyncio.wait_for(dialogs.get(), WAIT)

    held = sdp(40000, version=2) + "a=sendonly\r\n"
    response = await call.reinvite(held)
    assert response.status == 200
    assert response.body.decode() == APP_SDP
    assert dialog.remote_sdp == held
    # The re-INVITE's 2xx was acknowledged: the call goes on, and ends cleanly.
    assert (
        await call.request("INFO", body="x", headers={"Content-Type": "text/plain"})
    ).status == 200
    assert (await call.bye()).status == 200
    assert await asyncio.wait_for(dialog.wait_destroyed(), WAIT) == "BYE received"


async def test_the_app_calls_the_phone_which_answers(
    drachtio_server: Server, sip_phone: SipPhone
) -> None:
    srf = Srf()
    await srf.attach(drachtio_server)
    provisional: list[int] = []
    calling = asyncio.create_task(
        srf.create_uac(
            sip_phone.uri,
            local_sdp=APP_SDP,
            headers={"X-Account": "42"},
            on_provisional=lambda r: provisional.append(r.status),
        )
    )
    callee = await sip_phone.expect_invite()
    assert callee.invite.header("X-Account") == "42"
    assert callee.remote_sdp == APP_SDP
    await callee.ringing()
    await callee.answer(sdp=PHONE_SDP)
    dialog = await asyncio.wait_for(calling, WAIT)
    assert dialog.remote_sdp == PHONE_SDP
    assert provisional == [100, 180]

    # The app changes the media: the phone answers the re-INVITE itself.
    modifying = asyncio.create_task(dialog.modify(sdp(50000, version=2)))
    reinvite = await callee.expect_request("INVITE")
    assert reinvite.request.body.decode() == sdp(50000, version=2)
    await reinvite.respond(200, sdp=sdp(40000, version=2))
    assert (await asyncio.wait_for(modifying, WAIT)).status == 200
    assert dialog.remote_sdp == sdp(40000, version=2)

    await dialog.destroy()
    assert dialog.destroy_reason == "BYE sent"
    await callee.wait_bye()


async def test_the_app_calls_the_phone_which_rejects(
    drachtio_server: Server, sip_phone: SipPhone
) -> None:
    srf = Srf()
    await srf.attach(drachtio_server)
    calling = asyncio.create_task(srf.create_uac(sip_phone.uri, local_sdp=APP_SDP))
    callee = await sip_phone.expect_invite()
    await callee.reject(486)
    with pytest.raises(SipError) as failed:
        await asyncio.wait_for(calling, WAIT)
    assert failed.value.status == 486


def b2bua_app() -> tuple[Srf, asyncio.Queue[tuple[Dialog, Dialog] | SipError]]:
    """Bridges every call to the Request-URI's user at the URI in ``X-Callee``."""
    srf = Srf()
    outcomes: asyncio.Queue[tuple[Dialog, Dialog] | SipError] = asyncio.Queue()

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        callee = req.get("X-Callee")
        assert callee is not None
        try:
            await outcomes.put(await srf.create_b2bua(req, res, callee))
        except SipError as exc:
            await outcomes.put(exc)

    return srf, outcomes


async def test_a_b2bua_between_two_phones(
    drachtio_server: Server, sip_phone_factory: PhoneFactory
) -> None:
    alice = await sip_phone_factory("alice")
    bob = await sip_phone_factory("bob", transport="tcp")
    srf, outcomes = b2bua_app()
    await srf.attach(drachtio_server)

    call = await alice.invite(
        drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP, headers={"X-Callee": bob.uri}
    )
    callee = await bob.expect_invite()
    assert callee.remote_sdp == PHONE_SDP  # the caller's offer, passed on
    assert callee.source[0] == "tcp"
    await callee.ringing()
    assert (await call.provisional(180)).status == 180
    await callee.answer(sdp=APP_SDP)
    assert (await call.final()).status == 200
    assert call.remote_sdp == APP_SDP  # the callee's answer, passed back
    await call.ack()
    outcome = await asyncio.wait_for(outcomes.get(), WAIT)
    assert not isinstance(outcome, SipError)
    uas, uac = outcome

    assert (await call.bye()).status == 200
    await callee.wait_bye()
    assert await asyncio.wait_for(uas.wait_destroyed(), WAIT) == "BYE received"
    assert await asyncio.wait_for(uac.wait_destroyed(), WAIT) == "BYE sent"


async def test_a_b2bua_passes_the_callees_rejection_back(
    drachtio_server: Server, sip_phone: SipPhone, caplog: pytest.LogCaptureFixture
) -> None:
    # One phone, two lines: it calls in as "phone" and is called as "bob".
    srf, outcomes = b2bua_app()
    await srf.attach(drachtio_server)
    call = await sip_phone.invite(
        drachtio_server,
        "sip:bob@example.com",
        sdp=PHONE_SDP,
        headers={"X-Callee": sip_phone.uri_of("bob")},
    )
    callee = await sip_phone.expect_invite()
    assert callee.invite.uri.user == "bob"
    await callee.reject(486)
    assert (await call.final()).status == 486
    outcome = await asyncio.wait_for(outcomes.get(), WAIT)
    assert isinstance(outcome, SipError) and outcome.status == 486
    # A busy callee is an outcome the application handles, not an error to log.
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_a_b2bua_passes_the_callers_cancel_on(
    drachtio_server: Server, sip_phone_factory: PhoneFactory
) -> None:
    alice = await sip_phone_factory("alice")
    bob = await sip_phone_factory("bob")
    srf, outcomes = b2bua_app()
    await srf.attach(drachtio_server)
    call = await alice.invite(
        drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP, headers={"X-Callee": bob.uri}
    )
    callee = await bob.expect_invite()
    await callee.ringing()
    await call.provisional(180)
    await call.cancel()
    assert (await call.final()).status == 487
    await callee.wait_cancel()
    assert callee.cancelled
    outcome = await asyncio.wait_for(outcomes.get(), WAIT)
    assert isinstance(outcome, SipError) and outcome.status == 487


async def test_requests_outside_a_dialog_both_ways(
    drachtio_server: Server, sip_phone: SipPhone
) -> None:
    srf = Srf()

    @srf.options
    async def on_options(req: Request, res: Response) -> None:
        await res.send(200, headers={"X-Seen": req.get("X-Probe") or ""})

    await srf.attach(drachtio_server)
    answer = await sip_phone.request(
        drachtio_server, "OPTIONS", "sip:app@example.com", headers={"X-Probe": "1"}
    )
    assert answer.status == 200 and answer.header("X-Seen") == "1"

    sending = asyncio.create_task(
        srf.request(
            sip_phone.uri,
            "MESSAGE",
            headers={"Content-Type": "text/plain"},
            body="hello",
        )
    )
    message = await sip_phone.expect_request("MESSAGE")
    assert message.request.body == b"hello"
    await message.respond(202)
    assert (await asyncio.wait_for(sending, WAIT)).status == 202


class TestConfigOverride:
    """A test's own ``drachtio_config`` fixture changes the server's settings."""

    @pytest.fixture
    def drachtio_config(self) -> ServerConfig:
        return server_config(no_route_status=480)

    async def test_the_server_answers_with_the_configured_status(
        self, drachtio_server: Server, sip_phone: SipPhone
    ) -> None:
        # No application is attached: the server answers on its own.
        assert drachtio_server.config.no_route_status == 480
        call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP)
        assert (await call.final()).status == 480
        with pytest.raises(LocalError, match="nothing to ACK"):
            await call.ack()


class TestUnacknowledged:
    """T1 = 5 ms: the server gives up on a 2xx without ACK after 64*T1 = 0.32 s."""

    @pytest.fixture
    def drachtio_config(self) -> ServerConfig:
        return server_config(t1=0.005)

    async def test_a_call_the_phone_never_acknowledges_fails_the_uas_with_408(
        self, drachtio_server: Server, sip_phone: SipPhone
    ) -> None:
        srf = Srf()
        outcome: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        @srf.invite
        async def on_invite(req: Request, res: Response) -> None:
            try:
                await srf.create_uas(req, res, local_sdp=APP_SDP)
            except SipError as exc:
                outcome.set_result(exc.status)

        await srf.attach(drachtio_server)
        call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=PHONE_SDP)
        assert (await call.final()).status == 200  # and no ACK
        assert await asyncio.wait_for(outcome, WAIT) == 408
        # The server ends the call it answered.
        bye = await call.wait_bye()
        assert bye.header("Reason") == 'SIP;text="no ACK for the 2xx"'


# ---------------------------------------------------------------- the plugin itself

PROJECT_TEST = """
import pytest
from drachtio import Srf
from drachtio.testing import sdp

@pytest.mark.asyncio
async def test_call(drachtio_server, sip_phone):
    srf = Srf()

    @srf.invite
    async def on_invite(req, res):
        await srf.create_uas(req, res, local_sdp=sdp(50000))

    await srf.attach(drachtio_server)
    call = await sip_phone.invite(drachtio_server, "sip:bob@example.com", sdp=sdp())
    assert (await call.final()).status == 200
    await call.ack()
    assert (await call.bye()).status == 200

@pytest.mark.asyncio
async def test_no_answer(drachtio_server, sip_phone):
    call = await sip_phone.invite(drachtio_server, "sip:bob@example.com")
    assert (await call.final()).status == 200  # fails: no application, 503
"""


def test_a_project_in_strict_mode_gets_the_fixtures(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As a project would without automatic plugin loading (pytest-asyncio's
    # default strict mode, no conftest): the plugin named with -p.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    pytester.makepyfile(test_project=PROJECT_TEST)
    result = pytester.runpytest(
        "-p",
        "asyncio",
        "-p",
        "drachtio.testing",
        "-o",
        "asyncio_default_fixture_loop_scope=function",
    )
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*assert 503 == 200*"])


def test_the_entry_point_names_the_plugin() -> None:
    with (ROOT / "pyproject.toml").open("rb") as f:
        project = tomllib.load(f)["project"]
    assert project["entry-points"]["pytest11"] == {"drachtio": "drachtio.testing"}


def test_importing_drachtio_and_its_testing_helpers_does_not_import_pytest() -> None:
    code = (
        "import sys, drachtio, drachtio.testing\n"
        "assert 'pytest' not in sys.modules and '_pytest' not in sys.modules, 'pytest imported'\n"
        "print(drachtio.testing.SipPhone.__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "SipPhone"


async def test_an_extension_method_is_handled_as_written(
    drachtio_server: Server, sip_phone: SipPhone
) -> None:
    srf = Srf()
    seen: list[str] = []

    @srf.handle("FooBar")
    async def on_foobar(req: Request, res: Response) -> None:
        seen.append(req.method)
        await res.send(200)

    await srf.attach(drachtio_server)
    assert (await sip_phone.request(drachtio_server, "FooBar", "sip:bob@example.com")).status == 200
    assert seen == ["FooBar"]
    # The same letters in another case are another method (RFC 3261 §7.1): not routed.
    answer = await sip_phone.request(drachtio_server, "FOOBAR", "sip:bob@example.com")
    assert answer.status == 503
    assert seen == ["FooBar"]
    await srf.close()
