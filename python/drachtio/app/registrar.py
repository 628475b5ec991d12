"""A registrar's parts (RFC 3261 §10.3): what a REGISTER asks, and a location service.

:meth:`Registration.of` reads a REGISTER (the address of record, the
contacts with their expiry, a ``*`` removal); :class:`Registrar` keeps the
bindings in memory, applies a REGISTER to them and answers it with the
bindings now held; :meth:`Registrar.lookup` gives the contacts to call for
an address of record. A handler is a few lines::

    registrar = Registrar()

    @srf.register
    async def on_register(req, res):
        await registrar.register(req, res)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from drachtio._core import Uri
from drachtio.app.message import Request, Response
from drachtio.errors import ParseError

__all__ = ["Binding", "Registrar", "Registration"]


def address_of_record(uri: Uri) -> str:
    """The canonical form of an address of record: ``sip:user@host``, lower-case host (§10.3)."""
    scheme = "sips" if uri.scheme == "sips" else "sip"
    user = f"{uri.user}@" if uri.user else ""
    return f"{scheme}:{user}{(uri.host or '').lower()}"


@dataclass(frozen=True, slots=True)
class Binding:
    """One contact of an address of record, until ``expires_at`` (a ``time.time()``)."""

    contact: str
    """The Contact URI, as registered."""
    expires_at: float
    call_id: str
    cseq: int

    def expires_in(self, now: float) -> int:
        """Seconds left, rounded down, at ``now``."""
        return max(0, int(self.expires_at - now))


@dataclass(frozen=True, slots=True)
class Registration:
    """What one REGISTER asks for."""

    aor: str
    """The address of record (the To URI, canonical)."""
    contacts: tuple[tuple[str, int], ...]
    """Each Contact URI with the seconds it asks for (its ``expires``, else the Expires header)."""
    remove_all: bool
    """``Contact: *`` with ``Expires: 0``: remove every binding (§10.2.2)."""
    call_id: str
    cseq: int

    @classmethod
    def of(cls, req: Request, *, default_expires: int = 3600) -> Registration:
        """Read ``req`` (a REGISTER).

        Raises:
            ParseError: a To, Contact, Expires or CSeq that cannot be read.
            ValueError: ``*`` with other contacts or a non-zero Expires (answer 400).
        """
        message = req.message
        to = message.to
        cseq = message.cseq
        if to is None or cseq is None:
            raise ValueError("a REGISTER needs To and CSeq")
        header_expires = message.expires
        expires = default_expires if header_expires is None else header_expires
        if message.contact_is_star:
            if header_expires != 0 or len(message.header_all("Contact")) != 1:
                raise ValueError("'Contact: *' needs 'Expires: 0' and no other contact")
            return cls(address_of_record(to.uri), (), True, message.call_id or "", cseq.seq)
        contacts = tuple(
            (str(contact.uri), expires if contact.expires is None else contact.expires)
            for contact in message.contacts
        )
        return cls(address_of_record(to.uri), contacts, False, message.call_id or "", cseq.seq)


class Registrar:
    """An in-memory location service with a REGISTER handler.

    ``min_expires``: a shorter non-zero expiry is answered 423 (§10.3 step 7);
    ``max_expires``: a longer one is shortened. ``clock`` is ``time.time``;
    tests pass their own.
    """

    def __init__(
        self,
        *,
        min_expires: int = 60,
        max_expires: int = 7200,
        default_expires: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.min_expires = min_expires
        self.max_expires = max_expires
        self.default_expires = default_expires
        self._clock = clock
        self._bindings: dict[str, dict[str, Binding]] = {}

    def lookup(self, aor: str | Uri) -> list[str]:
        """The contacts registered for ``aor`` now (a URI or its text), newest first."""
        key = address_of_record(aor if isinstance(aor, Uri) else Uri(aor))
        now = self._clock()
        bindings = self._live(key, now)
        return [b.contact for b in sorted(bindings.values(), key=lambda b: -b.expires_at)]

    def bindings(self, aor: str) -> list[Binding]:
        """The live bindings of ``aor`` (canonical form)."""
        return list(self._live(aor, self._clock()).values())

    def _live(self, aor: str, now: float) -> dict[str, Binding]:
        bindings = self._bindings.get(aor, {})
        expired = [contact for contact, b in bindings.items() if b.expires_at <= now]
        for contact in expired:
            del bindings[contact]
        if not bindings:
            self._bindings.pop(aor, None)
        return bindings

    def apply(self, registration: Registration) -> list[Binding] | int:
        """Apply ``registration``; the bindings held now, or a status to answer with (423)."""
        now = self._clock()
        current = dict(self._live(registration.aor, now))
        if registration.remove_all:
            self._bindings.pop(registration.aor, None)
            return []
        for contact, asked in registration.contacts:
            if 0 < asked < self.min_expires:
                return 423
            old = current.get(contact)
            if (
                old is not None
                and old.call_id == registration.call_id
                and registration.cseq <= old.cseq
            ):
                continue  # out of order (§10.3 step 7): keep what is held
            if asked == 0:
                current.pop(contact, None)
                continue
            expires = min(asked, self.max_expires)
            current[contact] = Binding(
                contact, now + expires, registration.call_id, registration.cseq
            )
        if current:
            self._bindings[registration.aor] = current
        else:
            self._bindings.pop(registration.aor, None)
        return list(current.values())

    async def register(self, req: Request, res: Response) -> None:
        """Handle a REGISTER: apply it and answer 200 with every binding held (§10.3 step 8),
        400 when it cannot be read, 423 with Min-Expires when an expiry is too short."""
        try:
            registration = Registration.of(req, default_expires=self.default_expires)
        except (ParseError, ValueError) as exc:
            await res.send(400, str(exc).split("\n", 1)[0][:100])
            return
        result = self.apply(registration)
        if isinstance(result, int):
            await res.send(result, headers={"Min-Expires": str(self.min_expires)})
            return
        now = self._clock()
        contacts = [f"<{b.contact}>;expires={b.expires_in(now)}" for b in result]
        headers: dict[str, str | list[str]] = {"Date": _http_date(now)}
        if contacts:
            headers["Contact"] = contacts
        await res.send(200, headers=headers)


def _http_date(now: float) -> str:
    return time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(now))
