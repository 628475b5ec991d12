"""A registrar that also routes calls to the users registered with it.

REGISTER is handled by the in-memory ``Registrar`` (bindings kept in memory,
answered 200 with them). An INVITE is bridged to the first contact
registered for its Request-URI's address of record: 404 when there is none,
480 when that contact does not take the call; its ringing is relayed, and
a CANCEL from the caller cancels it. Run it beside a server::

    drachtio serve --secret s3cret
    python examples/registrar.py --secret s3cret

register a phone as ``sip:alice@127.0.0.1`` at 127.0.0.1:5060, and call
``sip:alice@127.0.0.1:5060``.
"""

from __future__ import annotations

import logging

from _common import parse, parser, run, serve

from drachtio import SipError, Srf
from drachtio.app import Request, Response
from drachtio.app.registrar import Registrar

log = logging.getLogger("registrar")


def build() -> Srf:
    """The application: a registrar, and INVITEs bridged to the registered users."""
    srf = Srf()
    registrar = Registrar()

    @srf.register
    async def on_register(req: Request, res: Response) -> None:
        await registrar.register(req, res)
        log.info("REGISTER %s answered %s", req.get("To"), res.status)

    @srf.invite
    async def on_invite(req: Request, res: Response) -> None:
        contacts = registrar.lookup(req.uri)
        if not contacts:
            raise SipError(404, "Not Found")

        try:
            caller, _ = await srf.create_b2bua(req, res, contacts[0], pass_failure=False)
        except SipError as exc:
            if exc.status == 487:
                return  # the caller gave up: the server has answered it 487
            log.info("%s did not answer: %d %s", contacts[0], exc.status, exc.reason)
            raise SipError(480, "Temporarily Unavailable") from exc
        log.info("call %s bridged to %s", caller.call_id, contacts[0])

    return srf


if __name__ == "__main__":
    args = parse(parser(__doc__))
    raise SystemExit(run(serve(build(), args)))
