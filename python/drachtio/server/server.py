"""The drachtio server: applications' control sessions on one side, the SIP stack on the other.

:class:`Server` is a thin asyncio adapter: :class:`~drachtio.SipStack` owns
sockets, transactions and retransmissions, :mod:`drachtio.protocol` owns the
control protocol, and the :class:`~drachtio.server.transaction_user.TransactionUser`
(RFC 3261 §8, §12) carries SIP events and commands to the sans-IO parts that
own the state: :mod:`~drachtio.server.routing` (which application gets a new
request), :mod:`~drachtio.server.transactions` and
:mod:`~drachtio.server.dialog_registry`. The server binds, accepts control
sessions, and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import importlib.util
import logging
import signal
import time
from collections.abc import Callable

from drachtio.channel import ChannelSettings
from drachtio.protocol import Command, Later, ResponseData
from drachtio.server.app_session import AppSession, EmbeddedApp
from drachtio.server.cdr import Cdr, CdrFile, CdrSubscriber
from drachtio.server.config import ConfigError, ServerConfig
from drachtio.server.control_tls import ControlTls
from drachtio.server.dialect import DialectSniffer
from drachtio.server.dialog import Dialog, Listener, uri_host
from drachtio.server.latency import Histogram
from drachtio.server.metrics_http import MetricsEndpoint
from drachtio.server.outbound import ROUTER_COUNTS, RequestRouter
from drachtio.server.outbound_idle import Use
from drachtio.server.routing import Routes
from drachtio.server.session import UnauthenticatedSessions
from drachtio.server.transaction_user import (
    CANCEL_APP_TIMEOUT,
    CANCEL_BY_CALLER,
    CANCEL_SERVER_ERROR,
    TransactionUser,
)
from drachtio.stack import SipStack

__all__ = ["CANCEL_APP_TIMEOUT", "CANCEL_BY_CALLER", "CANCEL_SERVER_ERROR", "Server"]

log = logging.getLogger("drachtio.server")

# Settings :meth:`Server.reload` takes as they are (the secrets are replaced
# in place; TLS files are read again whether their names changed or not).
_RELOADED = (
    "log_level",
    "tls_certificate",
    "tls_key",
    "tls_ca",
    "tls_client_ca",
    "tls_system_roots",
    "control_tls_certificate",
    "control_tls_key",
    "control_tls_client_ca",
)


class Server:
    """A drachtio server: SIP listeners, the control port, the applications' state.

    Embeddable on a host's loop, as uvicorn is::

        server = Server(ServerConfig(secrets=["s3cret"]))
        await server.start()      # binds, returns
        ...
        await server.stop()

    or ``await server.serve()`` to run until :meth:`stop` (or
    :meth:`request_stop`); :meth:`run` is ``asyncio.run`` of that, with
    SIGTERM/SIGINT stopping the server gracefully.
    """

    def __init__(self, config: ServerConfig, *, app: EmbeddedApp | None = None) -> None:
        """Check ``config``; nothing is bound until :meth:`start`.

        ``app`` (a :class:`~drachtio.Srf`) is attached on :meth:`start`: it
        serves this server from the same process.

        Raises:
            ConfigError: an invalid setting.
        """
        config.validate()
        self.config = config
        self._app = app
        self._stack: SipStack | None = None
        self._control: asyncio.Server | None = None
        self.metrics: MetricsEndpoint | None = None
        """The metrics endpoint once started, when ``config.metrics`` is set."""
        self._sessions: set[AppSession] = set()
        # Those not authenticated yet, at most config.max_unauthenticated.
        self.unauthenticated = UnauthenticatedSessions(config)
        # The bounds and timers every control session shares.
        self.channel_settings = ChannelSettings(
            max_frame_size=config.max_frame_size,
            max_write_buffer=config.max_write_buffer,
            max_pending=config.max_pending_requests,
            ping_interval=config.ping_interval,
            ping_timeout=config.ping_timeout,
        )
        self._listeners: list[Listener] = []
        self.hostport: list[str] = []
        self._routes: Routes[AppSession] = Routes()
        # Requests, transactions and dialogs: what SIP events and commands change.
        self._tu = TransactionUser(config, self._routes)
        # New requests routed by the request handler, when one is configured.
        self._router: RequestRouter | None = None
        if config.request_handler is not None:
            self._router = RequestRouter(self, self._tu, self._routes)
            self._tu.route_new = self._router.route
        self._stop_requested: asyncio.Event | None = None
        self._stopped = False
        self._control_tls: ControlTls | None = None
        self._cdr_file: CdrFile | None = None

    # ------------------------------------------------------------ lifecycle

    @property
    def sip_addresses(self) -> list[Listener]:
        """The SIP listeners as ``(transport, ip, port)``, real ports once started."""
        return list(self._listeners)

    @property
    def control_address(self) -> tuple[str, int]:
        """The control listener's ``(host, port)``, the real port once started."""
        if self._control is None or not self._control.sockets:
            return self.config.control_host, self.config.control_port
        name = self._control.sockets[0].getsockname()
        return name[0], name[1]

    @property
    def stats(self) -> dict[str, int]:
        """What the server holds now (sessions, transactions, dialogs) and the stack's counters."""
        counts = {
            "sessions": len(self._sessions),
            "control_unauthenticated": len(self.unauthenticated),
            "control_unauthenticated_dropped": self.unauthenticated.dropped,
            **self._tu.counts(),
        }
        if (router := self._router) is not None:
            counts.update(router.counts, requests_being_routed=len(router))
        else:
            counts.update(dict.fromkeys(ROUTER_COUNTS, 0), requests_being_routed=0)
        if self._stack is not None:
            counts.update(self._stack.stats())
        return counts

    @property
    def message_counts(self) -> dict[str, dict[str, int]]:
        """SIP requests by method and responses by status, received and sent.

        See :meth:`drachtio.SipStack.message_counts`; empty before the stack starts.
        """
        return {} if self._stack is None else self._stack.message_counts()

    @property
    def latencies(self) -> dict[str, Histogram]:
        """``app_response_time`` and ``post_dial_delay``, in seconds (``docs/metrics.md``)."""
        return {
            "app_response_time": self._tu.app_response_time,
            "post_dial_delay": self._tu.post_dial_delay,
        }

    async def start(self) -> None:
        """Bind the SIP listeners and the control port; return once both accept.

        Raises:
            OSError: an address could not be bound (the other is released).
        """
        if self._stack is not None:
            return
        config = self.config
        loop = asyncio.get_running_loop()
        self._stop_requested = asyncio.Event()
        self._control_tls = ControlTls(config)
        control_tls = self._control_tls.listening
        if config.cdr_file is not None:
            try:
                self._cdr_file = CdrFile(config.cdr_file)
            except OSError as exc:
                raise ConfigError(f"cdr_file: cannot open {config.cdr_file!r}: {exc}") from None
        self._stack = await SipStack.start(
            config.sip,
            self._tu.on_stack_event,
            t1=config.t1,
            supported=("100rel", "timer") if config.session_timer else ("100rel",),
            receive_on_loop=config.udp_on_loop,
            max_tcp_connections=config.max_tcp_connections,
            max_tcp_connections_per_ip=config.max_tcp_connections_per_ip,
            max_tcp_outbound=config.max_tcp_outbound,
            tcp_message_timeout=config.tcp_message_timeout,
            tls_certificate=config.tls_certificate,
            tls_key=config.tls_key,
            tls_ca=config.tls_ca,
            tls_client_ca=config.tls_client_ca,
            tls_system_roots=config.tls_system_roots,
            capture=config.capture_address,
            capture_id=config.capture_id,
            capture_password=config.capture_password,
            nameservers=config.nameservers,
        )
        self._tu.attach(self._stack, loop)
        if self._cdr_file is not None:
            self._tu.cdr_sink = self._write_cdr
        try:
            self._control = await loop.create_server(
                self._new_session,
                config.control_host,
                config.control_port,
                ssl=control_tls,
                ssl_handshake_timeout=config.auth_timeout if control_tls else None,
            )
            if (metrics := config.metrics_address) is not None:
                self.metrics = await MetricsEndpoint.start(self, *metrics)
        except OSError:
            if self._control is not None:
                self._control.close()
            await self._stack.close(grace=0)
            self._stack = None
            self._tu.detach()
            raise
        self._listeners = self._stack.local_addresses
        self.hostport = [f"{t}/{uri_host(ip)}:{port}" for t, ip, port in self._listeners]
        host, port = self.control_address
        loop_name = type(loop).__module__.partition(".")[0]
        log.info(
            "listening sip=%s control=%s:%d loop=%s",
            ",".join(self.hostport),
            uri_host(host),
            port,
            loop_name,
        )
        if self._app is not None:
            await self._app.attach(self)

    async def serve(self) -> None:
        """Start if needed and run until :meth:`request_stop` or :meth:`stop`; then stop."""
        await self.start()
        assert self._stop_requested is not None
        await self._stop_requested.wait()
        await self.stop()

    def request_stop(self) -> None:
        """Ask :meth:`serve` to stop the server (safe from a signal handler)."""
        if self._stop_requested is not None:
            self._stop_requested.set()

    async def stop(self) -> None:
        """Stop gracefully: no new connections, every application's calls ended, the stack closed.

        Pending requests are answered 480 and calls ended with BYE, as when
        an application disconnects; the stack then finishes its transactions
        for at most ``shutdown_grace`` seconds. Idempotent.
        """
        if self._stopped or self._stack is None:
            return
        self._stopped = True
        self.request_stop()
        if self._control is not None:
            self._control.close()
        if self._router is not None:
            await self._router.close()
        # The calls end because the server stops, whatever ends their dialogs next.
        self._tu.cdrs.shutdown(time.time())
        sessions = list(self._sessions)
        for session in sessions:
            session.close()
        if sessions:
            await asyncio.wait([s.done for s in sessions], timeout=self.config.shutdown_grace)
        await self._stack.close(grace=self.config.shutdown_grace)
        self._tu.stop_timers()
        if self._control is not None:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._control.wait_closed(), 1.0)
        if self.metrics is not None:
            await self.metrics.close()
        if self._cdr_file is not None:
            self._cdr_file.close()
        log.info("stopped")

    def _write_cdr(self, record: Cdr) -> None:
        assert self._cdr_file is not None
        try:
            self._cdr_file.write(record)
        except OSError as exc:
            log.error("could not write a call detail record to %s: %s", self._cdr_file.path, exc)

    def reload(self, config: ServerConfig) -> list[str]:
        """Apply what ``config`` changes that can change without a restart.

        The secrets are replaced (applications already authenticated stay),
        the TLS files of the SIP listeners and of the control listener are
        read again, renewed or not, for the handshakes from now on, and the
        log level is set. Calls, transactions and connections are untouched.
        Any other setting that differs needs a restart: it is logged and
        left as it was. Everything is checked before anything changes: on
        an error nothing does.

        Returns the names of what was applied.

        Raises:
            ConfigError: an invalid setting, or a TLS file that cannot be used.
        """
        config.validate()
        control = self._control_tls.prepare(config) if self._control_tls is not None else None
        if self._stack is not None:
            try:
                self._stack.reload_tls(
                    config.tls_certificate,
                    config.tls_key,
                    config.tls_ca,
                    config.tls_client_ca,
                    config.tls_system_roots,
                )
            except OSError as exc:
                raise ConfigError(f"tls_certificate: cannot reload: {exc}") from None
        applied = ["tls"] if self._stack is not None and config.tls_certificate else []
        if self._control_tls is not None and control is not None:
            self._control_tls.current = control
            applied.append("control_tls")
        if config.secrets != self.config.secrets:
            self.config.secrets[:] = config.secrets
            applied.append("secrets")
        for name in _RELOADED:
            setattr(self.config, name, getattr(config, name))
        level = self.config.log_level_number
        logging.getLogger("drachtio").setLevel(level)
        applied.append("log_level")
        needs_restart = [
            f.name
            for f in dataclasses.fields(ServerConfig)
            if f.name not in (*_RELOADED, "secrets")
            and getattr(config, f.name) != getattr(self.config, f.name)
        ]
        if needs_restart:
            log.warning("reload: these settings need a restart: %s", ", ".join(needs_restart))
        return applied

    def run(
        self,
        on_started: Callable[[Server], None] | None = None,
        reload_config: Callable[[], ServerConfig] | None = None,
    ) -> None:
        """Run the server on a new event loop until SIGTERM or SIGINT.

        The loop is the one ``config.loop`` names: ``"auto"`` takes uvloop
        when it is installed, asyncio's own loop otherwise.
        ``on_started(server)`` is called once the server listens (the
        ``drachtio`` command prints its addresses there). With
        ``reload_config``, SIGHUP calls it and passes what it returns to
        :meth:`reload` (the ``drachtio`` command reads its sources again); a
        failure is logged and changes nothing.

        Raises:
            OSError: an address could not be bound.
            ConfigError: ``config.loop`` is ``"uvloop"`` and uvloop is not installed.
        """
        if resolve_loop(self.config.loop) == "uvloop":
            import uvloop

            uvloop.run(self._run_with_signals(on_started, reload_config))
        else:
            asyncio.run(self._run_with_signals(on_started, reload_config))

    async def _run_with_signals(
        self,
        on_started: Callable[[Server], None] | None,
        reload_config: Callable[[], ServerConfig] | None,
    ) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self.request_stop)
        if reload_config is not None:
            loop.add_signal_handler(signal.SIGHUP, self._reload_from, reload_config)
        try:
            await self.start()
            if on_started is not None:
                on_started(self)
            # What startup made (modules, configuration, listeners) lives as
            # long as the process: the collector's full passes skip it from here.
            gc.freeze()
            await self.serve()
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)

    def _reload_from(self, reload_config: Callable[[], ServerConfig]) -> None:
        try:
            applied = self.reload(reload_config())
        except ConfigError as exc:
            log.error("reload failed, nothing changed: %s", exc)
        else:
            log.info("reloaded: %s", ", ".join(applied))

    # ------------------------------------------------------------ control side

    def _new_session(self) -> DialectSniffer:
        # The first bytes tell the dialect: JSON or drachtio-srf.
        return DialectSniffer(self)

    def session_opened(self, session: AppSession) -> None:
        """A client connected (called by the session); refused while stopping."""
        if self._stopped:
            session.close()
            return
        self._sessions.add(session)

    def execute(self, session: AppSession, command: Command) -> ResponseData | Later:
        """Carry out an authenticated client's command and return the response data.

        The requests the command leads to for ``session`` (the ``dialog``
        destroyed that a BYE it sends causes) are sent after the response:
        at the next turn of the loop, once the caller has sent the response.
        """
        return self._tu.execute(session, command)

    def route_cdr(self, subscriber: CdrSubscriber, kind: str, *, on: bool = True) -> None:
        """``subscriber`` takes its turn at the call detail records of ``kind``, or not."""
        self._tu.route_cdr(subscriber, kind, on=on)

    def dialog(self, dialog_id: str) -> Dialog[AppSession] | None:
        """The dialog ``dialog_id``, while it lasts (read it, do not change it)."""
        return self._tu.dialog(dialog_id)

    def use_of(self, session: AppSession) -> Use:
        """What ``session`` holds now: its transactions and dialogs (not its proxies)."""
        return self._tu.use_of(session)

    def session_closed(self, session: AppSession) -> None:
        """An application went away: free what it held (RFC 3261 has no owner-less calls).

        Its routes go; its dialogs go to another connected client with the
        same ``appName`` (``on_disconnect = "handoff"``, round robin), with
        the requests received in them and not answered yet; its other pending
        requests are answered 480 so no caller hangs; its INVITEs still
        ringing are cancelled; the dialogs no one took end with a BYE.
        """
        self._sessions.discard(session)
        self._tu.session_closed(session, self._heirs(session))

    def _heirs(self, session: AppSession) -> list[AppSession]:
        """The connected clients of the same ``appName`` that may take ``session``'s dialogs."""
        if self.config.on_disconnect != "handoff" or self._stopped or session.app_name is None:
            return []
        return [
            s
            for s in self._sessions
            if s is not session and s.app_name == session.app_name and s.authenticated and s.is_open
        ]


def resolve_loop(name: str) -> str:
    """The event loop ``name`` (a ``loop`` setting) stands for: ``"uvloop"`` or ``"asyncio"``.

    Raises:
        ConfigError: ``"uvloop"`` was asked for and it is not installed.
    """
    if name == "asyncio":
        return name
    if importlib.util.find_spec("uvloop") is not None:
        return "uvloop"
    if name == "uvloop":
        raise ConfigError("loop: uvloop is not installed (pip install uvloop)")
    return "asyncio"
