"""The ``drachtio`` command line.

``drachtio --version`` prints the installed version; ``drachtio serve`` runs
the SIP server until SIGTERM or SIGINT (see ``docs/server.md``).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import logging
import os
import sys

__all__ = ["build_parser", "main", "package_version", "serve"]

# The exit status of a configuration error (as argparse's usage errors).
EXIT_CONFIG = 2


def package_version() -> str:
    """Return the installed version of the ``drachtio`` distribution."""
    return importlib.metadata.version("drachtio")


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``drachtio`` command."""
    parser = argparse.ArgumentParser(
        prog="drachtio",
        description="A SIP server controlled by applications over a JSON protocol.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    serve_parser = commands.add_parser(
        "serve",
        help="run the SIP server",
        description=(
            "Run the SIP server. Settings come from the config file, then the environment "
            "(DRACHTIO_SECRET, DRACHTIO_SIP, DRACHTIO_CONTROL, DRACHTIO_LOG_LEVEL, "
            "DRACHTIO_SIP_TRACE, DRACHTIO_LOOP, DRACHTIO_MAX_UNAUTHENTICATED, "
            "DRACHTIO_MAX_TCP_CONNECTIONS, DRACHTIO_MAX_TCP_CONNECTIONS_PER_IP, "
            "DRACHTIO_MAX_TCP_OUTBOUND, DRACHTIO_TCP_MESSAGE_TIMEOUT, "
            "DRACHTIO_TLS_CERTIFICATE, DRACHTIO_TLS_KEY, DRACHTIO_TLS_CA, "
            "DRACHTIO_CONTROL_TLS_CERTIFICATE, DRACHTIO_CONTROL_TLS_KEY, "
            "DRACHTIO_CONTROL_TLS_CLIENT_CA, DRACHTIO_METRICS, DRACHTIO_NAMESERVERS, "
            "DRACHTIO_CONFIG), "
            "then these flags, later ones winning."
        ),
    )
    serve_parser.add_argument(
        "--sip",
        action="append",
        metavar="TRANSPORT:HOST:PORT",
        help=(
            "a SIP listener (repeatable; default udp:127.0.0.1:5060 and tcp:127.0.0.1:5060); "
            "behind NAT add ;external=HOST[:PORT] and ;local-net=ADDRESS/PREFIX (repeatable)"
        ),
    )
    serve_parser.add_argument(
        "--control", metavar="HOST:PORT", help="the control listener (default 127.0.0.1:9022)"
    )
    serve_parser.add_argument(
        "--secret",
        action="append",
        metavar="SECRET",
        help="a secret applications authenticate with (repeatable, for rotation)",
    )
    serve_parser.add_argument("--config", metavar="FILE", help="a TOML config file")
    serve_parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error", "critical"],
        help="the log level (default info)",
    )
    serve_parser.add_argument(
        "--log-format",
        choices=["text", "json"],
        help="log lines as text or as one JSON object each (default text)",
    )
    serve_parser.add_argument(
        "--sip-trace",
        action="store_true",
        default=None,
        help="log every SIP message the server handles",
    )
    serve_parser.add_argument(
        "--loop",
        choices=["auto", "asyncio", "uvloop"],
        help="the event loop (default auto: uvloop when installed, else asyncio's own)",
    )
    serve_parser.add_argument(
        "--max-unauthenticated",
        type=int,
        metavar="N",
        help=(
            "control connections held before they authenticate; one more drops the oldest "
            "(default 256)"
        ),
    )
    serve_parser.add_argument(
        "--max-tcp-connections",
        type=int,
        metavar="N",
        help=(
            "inbound SIP TCP connections at once; at the bound one not in use makes room "
            "for a new one (default 1024)"
        ),
    )
    serve_parser.add_argument(
        "--max-tcp-connections-per-ip",
        type=int,
        metavar="N",
        help="inbound SIP TCP connections from one IP address (default 64)",
    )
    serve_parser.add_argument(
        "--max-tcp-outbound",
        type=int,
        metavar="N",
        help="SIP TCP connections the server opens itself, apart from inbound ones (default 1024)",
    )
    serve_parser.add_argument(
        "--tcp-message-timeout",
        type=float,
        metavar="SECONDS",
        help=(
            "an inbound SIP TCP connection without a complete SIP message by then is "
            "closed (default 20)"
        ),
    )
    serve_parser.add_argument(
        "--tls-certificate",
        metavar="FILE",
        help="PEM certificate chain of the tls listeners, leaf first (a tls listener needs it)",
    )
    serve_parser.add_argument(
        "--tls-key", metavar="FILE", help="PEM private key of --tls-certificate"
    )
    serve_parser.add_argument(
        "--tls-ca",
        metavar="FILE",
        help=(
            "PEM certificates of the authorities a peer's certificate must chain to when "
            "the server opens a TLS connection, besides the system's"
        ),
    )
    serve_parser.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="mutual TLS: PEM authorities a peer's client certificate must chain to; with it "
        "TLS and WSS listeners require a client certificate",
    )
    serve_parser.add_argument(
        "--answer-options",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="answer OPTIONS 200 when no application routes them (keep-alive pings; "
        "default off: such an OPTIONS gets the no-route status)",
    )
    serve_parser.add_argument(
        "--tls-system-roots",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="trust the system's certificate authorities when opening TLS connections (default on)",
    )
    serve_parser.add_argument(
        "--nameserver",
        action="append",
        metavar="IP[:PORT]",
        help=(
            "a DNS server for host names in SIP URIs (NAPTR, SRV, A/AAAA; repeatable; "
            "default the system's)"
        ),
    )
    serve_parser.add_argument(
        "--control-tls-certificate",
        metavar="FILE",
        help="PEM certificate chain of the control listener, leaf first: applications "
        "connect over TLS (needs --control-tls-key)",
    )
    serve_parser.add_argument(
        "--control-tls-key", metavar="FILE", help="PEM private key of --control-tls-certificate"
    )
    serve_parser.add_argument(
        "--control-tls-client-ca",
        metavar="FILE",
        help="PEM certificates of the authorities an application's client certificate must "
        "chain to; with it, a client certificate is required",
    )
    serve_parser.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve Prometheus metrics on /metrics and a health check on /health there "
        "(PORT alone: on 127.0.0.1; default off)",
    )
    serve_parser.add_argument(
        "--capture",
        metavar="HOST:PORT",
        help="send a copy of every SIP message to a Homer collector there (HEP v3 over UDP; "
        "default off; its password only in the config file or DRACHTIO_CAPTURE_PASSWORD)",
    )
    serve_parser.add_argument(
        "--cdr-file",
        metavar="FILE",
        help="append a call detail record (attempt, start, stop) per line of JSON to FILE",
    )
    serve_parser.add_argument(
        "--capture-id",
        type=int,
        metavar="N",
        help="the capture agent id the copies carry (default 0)",
    )
    serve_parser.add_argument(
        "--ping-interval",
        type=float,
        metavar="SECONDS",
        help="an authenticated application silent this long is pinged (default 30)",
    )
    serve_parser.add_argument(
        "--ping-timeout",
        type=float,
        metavar="SECONDS",
        help="a pinged application that has not answered by then is dropped (default 10)",
    )
    serve_parser.add_argument(
        "--session-timer",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="negotiate and run session timers, RFC 4028 (default on)",
    )
    serve_parser.add_argument(
        "--session-expires",
        type=int,
        metavar="SECONDS",
        help="the session interval asked for, and the most granted (default 1800)",
    )
    serve_parser.add_argument(
        "--min-se",
        type=int,
        metavar="SECONDS",
        help="the smallest session interval accepted, at least 90 (default 90)",
    )
    serve_parser.add_argument(
        "--session-refresher",
        metavar="uac|uas",
        help="who refreshes when a caller supporting timers leaves it to us (default uac)",
    )
    serve_parser.add_argument(
        "--max-422-retries",
        type=int,
        metavar="N",
        help="how many 422 answers one INVITE is retried after (default 2)",
    )
    serve_parser.add_argument(
        "--request-handler",
        metavar="URL",
        help="ask this http(s) URL where each new request goes, or send each to the "
        "application listening at tcp://HOST:PORT (default off: applications connect)",
    )
    serve_parser.add_argument(
        "--request-handler-method",
        metavar="GET|POST",
        help="how the request handler is asked; POST sends the SIP request (default GET)",
    )
    serve_parser.add_argument(
        "--outbound-idle-timeout",
        type=float,
        metavar="SECONDS",
        help="a connection the server opened to an application is closed once idle "
        "this long; 0 never (default 30)",
    )
    serve_parser.add_argument(
        "--dev",
        action="store_true",
        help="development mode: without a configured secret, accept the documented dev secret",
    )
    return parser


def serve(args: argparse.Namespace) -> int:
    """Run the ``serve`` command and return its exit status."""
    from drachtio.server import DEV_SECRET, ConfigError, Server, ServerConfig, load_config
    from drachtio.server.log_format import JsonFormatter

    def configure() -> ServerConfig:
        return load_config(
            config_file=args.config,
            env=os.environ,
            sip=args.sip,
            control=args.control,
            secrets=args.secret,
            log_level=args.log_level,
            log_format=args.log_format,
            sip_trace=args.sip_trace,
            loop=args.loop,
            max_unauthenticated=args.max_unauthenticated,
            max_tcp_connections=args.max_tcp_connections,
            max_tcp_connections_per_ip=args.max_tcp_connections_per_ip,
            max_tcp_outbound=args.max_tcp_outbound,
            tcp_message_timeout=args.tcp_message_timeout,
            tls_certificate=args.tls_certificate,
            tls_key=args.tls_key,
            tls_ca=args.tls_ca,
            tls_client_ca=args.tls_client_ca,
            tls_system_roots=args.tls_system_roots,
            answer_options=args.answer_options,
            control_tls_certificate=args.control_tls_certificate,
            control_tls_key=args.control_tls_key,
            control_tls_client_ca=args.control_tls_client_ca,
            metrics=args.metrics,
            capture=args.capture,
            capture_id=args.capture_id,
            cdr_file=args.cdr_file,
            ping_interval=args.ping_interval,
            ping_timeout=args.ping_timeout,
            session_timer=args.session_timer,
            session_expires=args.session_expires,
            min_se=args.min_se,
            session_refresher=args.session_refresher,
            max_422_retries=args.max_422_retries,
            nameservers=args.nameserver,
            request_handler=args.request_handler,
            request_handler_method=args.request_handler_method,
            outbound_idle_timeout=args.outbound_idle_timeout,
            dev=args.dev,
        )

    try:
        config = configure()
    except ConfigError as exc:
        print(f"drachtio: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    handler = logging.StreamHandler(sys.stderr)
    if config.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=config.log_level_number, handlers=[handler])
    if args.dev and config.secrets == [DEV_SECRET]:
        logging.getLogger("drachtio.server").warning(
            "development mode: the documented development secret is accepted"
        )
    server = Server(config)

    def started(server: Server) -> None:
        host, port = server.control_address
        metrics = ""
        if server.metrics is not None:
            metrics_host, metrics_port = server.metrics.address
            metrics = f" metrics {metrics_host}:{metrics_port}"
        print(
            f"drachtio {package_version()} listening: sip {' '.join(server.hostport)} "
            f"control {host}:{port}{metrics}",
            flush=True,
        )

    try:
        # SIGHUP reads the same sources again (docs/server.md, "Reloading").
        server.run(on_started=started, reload_config=configure)
    except ConfigError as exc:
        print(f"drachtio: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except OSError as exc:
        print(f"drachtio: cannot listen: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the ``drachtio`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the process exit status. Usage errors exit through ``SystemExit``
    with status 2, as argparse does.
    """
    args = build_parser().parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "serve":
        return serve(args)
    raise AssertionError(f"unhandled command {args.command!r}")


if __name__ == "__main__":
    sys.exit(main())
