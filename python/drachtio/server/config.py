"""Settings of the drachtio server: defaults, a TOML file, the environment, flags.

:func:`load_config` merges them in that order, later sources winning, and
checks the result; the server itself only ever sees a :class:`ServerConfig`.
"""

from __future__ import annotations

import ipaddress
import logging
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from drachtio._core import _LISTEN_TRANSPORTS, _parse_listen, _parse_transport
from drachtio.errors import DrachtioError
from drachtio.protocol import DEFAULT_MAX_FRAME_SIZE

if TYPE_CHECKING:
    from drachtio.server.session_timer import SessionTimerConfig
    from drachtio.server.session_timer.agreement import Refresher

__all__ = [
    "DEV_SECRET",
    "ConfigError",
    "ServerConfig",
    "load_config",
    "parse_hostport",
    "parse_listen",
    "parse_metrics",
    "parse_nameserver",
]

DEV_SECRET = "cymru"
"""The secret ``--dev`` uses when none is configured (the seed's example); not for production."""

_ON_DISCONNECT = ("handoff", "bye")
_LOG_LEVELS = ("debug", "info", "warning", "error", "critical")
_LOG_FORMATS = ("text", "json")
_LOOPS = ("auto", "asyncio", "uvloop")
_HANDLER_METHODS = ("GET", "POST")
# The bounds on SIP TCP connections: integers, each with an environment
# variable and a flag, as tcp_message_timeout (docs/server.md).
_TCP_LIMITS = ("max_tcp_connections", "max_tcp_connections_per_ip", "max_tcp_outbound")
# PEM files for SIP over TLS, each with an environment variable and a flag.
_TLS_FILES = ("tls_certificate", "tls_key", "tls_ca", "tls_client_ca")
# PEM files of the control listener's TLS, each with an environment variable and a flag.
_CONTROL_TLS_FILES = ("control_tls_certificate", "control_tls_key", "control_tls_client_ca")
_FILES = (*_TLS_FILES, *_CONTROL_TLS_FILES)
# Session timers (RFC 4028, docs/session-timers.md): the integers, each with
# an environment variable and a flag, as session_timer and session_refresher.
_SESSION_TIMER_COUNTS = ("session_expires", "min_se", "max_422_retries")


class ConfigError(DrachtioError, ValueError):
    """A setting is missing or invalid; the message names it and where it came from."""


def parse_hostport(value: str, what: str = "control") -> tuple[str, int]:
    """Split ``HOST:PORT`` (``[v6]:PORT`` for IPv6) into host and port.

    Raises:
        ConfigError: not of that form, or the port is not 0-65535.
    """
    host, sep, port_text = value.rpartition(":")
    if not sep or not host or not port_text.isdigit():
        raise ConfigError(f"{what}: {value!r} is not HOST:PORT")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    port = int(port_text)
    if port > 65535:
        raise ConfigError(f"{what}: port {port} is out of range")
    return host, port


def parse_metrics(value: str) -> tuple[str, int]:
    """The address of the metrics endpoint: ``HOST:PORT``, or ``PORT`` alone for loopback.

    Raises:
        ConfigError: neither form, or the port is not 0-65535.
    """
    if value.isdigit():
        return parse_hostport(f"127.0.0.1:{value}", "metrics")
    return parse_hostport(value, "metrics")


def parse_nameserver(value: str) -> tuple[str, int]:
    """A DNS server: ``IP`` (port 53), ``IP:PORT`` or ``[IPv6]:PORT``.

    Raises:
        ConfigError: not of those forms, or the port is not 1-65535.
    """
    bad = ConfigError(f"nameservers: {value!r} is not IP, IP:PORT or [IPv6]:PORT")
    if not isinstance(value, str):
        raise bad
    try:
        return str(ipaddress.ip_address(value)), 53
    except ValueError:
        pass
    try:
        host, port = parse_hostport(value, "nameservers")
        ip = ipaddress.ip_address(host)
    except (ConfigError, ValueError):
        raise bad from None
    if ip.version == 6 and not value.startswith("["):
        raise bad
    if port == 0:
        raise ConfigError(f"nameservers: port 0 in {value!r}")
    return str(ip), port


def parse_listen(value: str) -> tuple[str, str, int]:
    """Split a SIP listen spec ``TRANSPORT:HOST:PORT`` into its parts.

    NAT parameters may follow (``;external=HOST[:PORT]``,
    ``;local-net=ADDRESS/PREFIX``, see ``docs/server.md``); they are checked
    as the stack reads them. The transport is returned in lower case.

    Raises:
        ConfigError: an unknown transport, one the server cannot listen on,
            not of that form, or a bad parameter.
    """
    base, _, params = value.partition(";")
    if params:
        parse_listen(base)
        try:
            _parse_listen(value)
        except ValueError as exc:
            raise ConfigError(f"sip: {exc}") from None
    name, sep, rest = base.partition(":")
    try:
        transport = _parse_transport(name) if sep else ""
    except ValueError:
        transport = ""
    if transport not in _LISTEN_TRANSPORTS:
        raise ConfigError(
            f"sip: {value!r} is not TRANSPORT:HOST:PORT with TRANSPORT one of "
            f"{', '.join(_LISTEN_TRANSPORTS)}"
        )
    host, port = parse_hostport(rest, "sip")
    return transport, host, port


@dataclass(slots=True)
class ServerConfig:
    """Everything the server needs; see ``docs/server.md`` for each setting.

    ``secrets`` is a list so that a new secret can be configured beside the old
    one while clients move (rotation); it never appears in ``repr()``.
    """

    sip: list[str] = field(default_factory=lambda: ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"])
    control_host: str = "127.0.0.1"
    control_port: int = 9022
    secrets: list[str] = field(default_factory=list, repr=False)
    auth_timeout: float = 10.0
    app_response_timeout: float = 32.0
    no_route_status: int = 503
    answer_options: bool = False
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE
    max_write_buffer: int = 4 * 1024 * 1024
    max_pending_requests: int = 10_000
    max_unauthenticated: int = 256
    log_level: str = "info"
    log_format: str = "text"
    sip_trace: bool = False
    t1: float = 0.5
    shutdown_grace: float = 5.0
    ping_interval: float = 30.0
    ping_timeout: float = 10.0
    on_disconnect: str = "handoff"
    loop: str = "auto"
    udp_on_loop: bool = True
    max_tcp_connections: int = 1024
    max_tcp_connections_per_ip: int = 64
    max_tcp_outbound: int = 1024
    tcp_message_timeout: float = 20.0
    tls_certificate: str | None = None
    tls_key: str | None = None
    tls_ca: str | None = None
    tls_client_ca: str | None = None
    tls_system_roots: bool = True
    control_tls_certificate: str | None = None
    control_tls_key: str | None = None
    control_tls_client_ca: str | None = None
    metrics: str | None = None
    capture: str | None = None
    cdr_file: str | None = None
    capture_id: int = 0
    capture_password: str | None = field(default=None, repr=False)
    session_timer: bool = True
    session_expires: int = 1800
    min_se: int = 90
    session_refresher: str = "uac"
    max_422_retries: int = 2
    session_timer_scale: float = 1.0
    request_handler: str | None = None
    request_handler_method: str = "GET"
    request_handler_timeout: float = 3.0
    request_handler_max_pending: int = 100
    # A connection the server opened to an application, left idle this long, is closed (0: never).
    outbound_idle_timeout: float = 30.0
    # Timer C of each branch of a proxied INVITE (RFC 3261 §16.6 item 11: over 3 minutes).
    proxy_timer_c: float = 185.0
    # How long a record-routed proxied call stays open with nothing of its
    # dialog passing through (its BYE lost): then its CDR stops dialog-timeout.
    proxy_dialog_timeout: float = 43200.0

    @property
    def session_timers(self) -> SessionTimerConfig:
        """The session-timer policy these settings make.

        Raises:
            ConfigError: naming the first bad session-timer setting.
        """
        # Imported here: the session-timer package reports its errors as ConfigError.
        from drachtio.server.session_timer import SessionTimerConfig

        return SessionTimerConfig(
            self.session_timer,
            self.session_expires,
            self.min_se,
            cast("Refresher", self.session_refresher),  # checked there
            self.max_422_retries,
        )

    nameservers: list[str] = field(default_factory=list)

    def validate(self) -> None:
        """Check every setting.

        Raises:
            ConfigError: naming the first bad setting.
        """
        for name in (
            "no_route_status",
            "max_frame_size",
            "max_write_buffer",
            "max_pending_requests",
            "max_unauthenticated",
            "control_port",
            "request_handler_max_pending",
            *_TCP_LIMITS,
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ConfigError(f"{name}: must be an integer, got {value!r}")
        for name in ("sip_trace", "udp_on_loop", "tls_system_roots", "answer_options"):
            value = getattr(self, name)
            if not isinstance(value, bool):
                raise ConfigError(f"{name}: must be true or false, got {value!r}")
        if self.log_format not in _LOG_FORMATS:
            raise ConfigError(
                f"log_format: must be one of {', '.join(_LOG_FORMATS)}, got {self.log_format!r}"
            )
        if self.loop not in _LOOPS:
            raise ConfigError(f"loop: must be one of {', '.join(_LOOPS)}, got {self.loop!r}")
        if not isinstance(self.log_level, str):
            raise ConfigError(f"log_level: must be a string, got {self.log_level!r}")
        if not self.sip:
            raise ConfigError("sip: at least one listen address is required")
        transports = {parse_listen(spec)[0] for spec in self.sip}
        for name in _FILES:
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value):
                raise ConfigError(f"{name}: must be a file name, got {value!r}")
        for secure in sorted(transports & {"tls", "wss"}):
            if not (self.tls_certificate and self.tls_key):
                raise ConfigError(f"sip: a {secure} listener needs tls_certificate and tls_key")
        if self.control_tls_certificate and not self.control_tls_key:
            raise ConfigError("control_tls_key: control_tls_certificate needs its key")
        if self.control_tls_key and not self.control_tls_certificate:
            raise ConfigError("control_tls_certificate: control_tls_key needs its certificate")
        if self.control_tls_client_ca and not self.control_tls_certificate:
            raise ConfigError(
                "control_tls_client_ca: client certificates need TLS on the control listener "
                "(control_tls_certificate and control_tls_key)"
            )
        if not isinstance(self.nameservers, list):
            raise ConfigError(f"nameservers: must be a list of addresses, got {self.nameservers!r}")
        for server in self.nameservers:
            parse_nameserver(server)
        if self.metrics is not None:
            if not isinstance(self.metrics, str):
                raise ConfigError(
                    f"metrics: must be a string HOST:PORT or PORT, got {self.metrics!r}"
                )
            parse_metrics(self.metrics)
        if self.cdr_file is not None and (not isinstance(self.cdr_file, str) or not self.cdr_file):
            raise ConfigError(f"cdr_file: must be a file name, got {self.cdr_file!r}")
        if self.capture is not None:
            if not isinstance(self.capture, str):
                raise ConfigError(f"capture: must be a string HOST:PORT, got {self.capture!r}")
            parse_hostport(self.capture, "capture")
        if (
            isinstance(self.capture_id, bool)
            or not isinstance(self.capture_id, int)
            or not 0 <= self.capture_id <= 0xFFFFFFFF
        ):
            raise ConfigError(
                f"capture_id: must be an integer 0-4294967295, got {self.capture_id!r}"
            )
        if self.capture_password is not None and (
            not isinstance(self.capture_password, str) or not self.capture_password
        ):
            raise ConfigError("capture_password: must be a non-empty string")
        if not 0 <= self.control_port <= 65535:
            raise ConfigError(f"control: port {self.control_port} is out of range")
        if not self.secrets:
            raise ConfigError(
                "no secret configured: give --secret, DRACHTIO_SECRET, or 'secrets' in the "
                "config file (or --dev for the documented development secret)"
            )
        if any(not isinstance(s, str) or not s for s in self.secrets):
            raise ConfigError("secrets: every secret must be a non-empty string")
        for name in (
            "auth_timeout",
            "app_response_timeout",
            "t1",
            "shutdown_grace",
            "ping_interval",
            "ping_timeout",
            "tcp_message_timeout",
            "session_timer_scale",
            "request_handler_timeout",
            "proxy_dialog_timeout",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
                raise ConfigError(f"{name}: must be a positive number of seconds, got {value!r}")
        idle = self.outbound_idle_timeout
        is_number = isinstance(idle, (int, float)) and not isinstance(idle, bool)
        if not is_number or not 0 <= idle < float("inf"):
            raise ConfigError(
                f"outbound_idle_timeout: must be a number of seconds, 0 for never, got {idle!r}"
            )
        timer_c = self.proxy_timer_c
        if isinstance(timer_c, bool) or not isinstance(timer_c, (int, float)) or timer_c <= 180:
            raise ConfigError(
                f"proxy_timer_c: must be over 180 seconds (RFC 3261 §16.6 item 11), got {timer_c!r}"
            )
        if not 300 <= self.no_route_status <= 699:
            raise ConfigError(
                f"no_route_status: must be a final error status 300-699, got {self.no_route_status}"
            )
        if self.max_frame_size < 2:
            raise ConfigError("max_frame_size: must be at least 2 bytes")
        if self.max_write_buffer < 1024:
            raise ConfigError("max_write_buffer: must be at least 1024 bytes")
        if self.max_pending_requests < 1:
            raise ConfigError("max_pending_requests: must be at least 1")
        for name in ("max_unauthenticated", "request_handler_max_pending", *_TCP_LIMITS):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name}: must be at least 1")
        if self.on_disconnect not in _ON_DISCONNECT:
            raise ConfigError(
                f"on_disconnect: must be one of {', '.join(_ON_DISCONNECT)}, "
                f"got {self.on_disconnect!r}"
            )
        if self.log_level.lower() not in _LOG_LEVELS:
            raise ConfigError(
                f"log_level: must be one of {', '.join(_LOG_LEVELS)}, got {self.log_level!r}"
            )
        _ = self.session_timers
        if self.request_handler is not None:
            # Imported here: the server package imports this module first.
            from drachtio.server.request_handler import HandlerError, check_handler_url

            try:
                check_handler_url(self.request_handler)
            except HandlerError as exc:
                raise ConfigError(f"request_handler: {exc}") from None
        if self.request_handler_method not in _HANDLER_METHODS:
            raise ConfigError(
                f"request_handler_method: must be GET or POST, got {self.request_handler_method!r}"
            )

    @property
    def metrics_address(self) -> tuple[str, int] | None:
        """The metrics endpoint's ``(host, port)``, or ``None`` when it is off."""
        return None if self.metrics is None else parse_metrics(self.metrics)

    @property
    def capture_address(self) -> tuple[str, int] | None:
        """The HEP collector's ``(host, port)``, or ``None`` when capture is off."""
        return None if self.capture is None else parse_hostport(self.capture, "capture")

    @property
    def log_level_number(self) -> int:
        """The ``logging`` level of :attr:`log_level`."""
        level: int = getattr(logging, self.log_level.upper())
        return level


# Settings read from the environment as numbers: variable -> (field, type).
_NUMERIC_ENV: dict[str, tuple[str, type[int] | type[float]]] = {
    f"DRACHTIO_{name.upper()}": (name, int)
    for name in (
        "max_unauthenticated",
        "capture_id",
        "request_handler_max_pending",
        *_TCP_LIMITS,
        *_SESSION_TIMER_COUNTS,
    )
}
for _name in (
    "tcp_message_timeout",
    "ping_interval",
    "ping_timeout",
    "request_handler_timeout",
    "outbound_idle_timeout",
):
    _NUMERIC_ENV[f"DRACHTIO_{_name.upper()}"] = (_name, float)

# TOML keys that map one to one onto a field.
_SCALARS = {
    f.name
    for f in fields(ServerConfig)
    if f.name not in ("sip", "control_host", "control_port", "secrets")
}


def _from_toml(data: Mapping[str, Any], path: Path) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"{path}: {key}"
        if key == "sip":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: must be an array of strings")
            values["sip"] = list(value)
        elif key == "control":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: must be a string HOST:PORT")
            values["control_host"], values["control_port"] = parse_hostport(value)
        elif key == "secret":
            if not isinstance(value, str):
                raise ConfigError(f"{where}: must be a string")
            values["secrets"] = [value]
        elif key == "secrets":
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(f"{where}: must be an array of strings")
            values["secrets"] = list(value)
        elif key in _SCALARS:
            values[key] = value
        else:
            raise ConfigError(f"{where}: unknown setting")
    return values


def _read_toml(path: Path) -> dict[str, Any]:
    if sys.version_info >= (3, 11):
        import tomllib
    else:
        import tomli as tomllib
    try:
        with path.open("rb") as f:
            return _from_toml(tomllib.load(f), path)
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _from_env(env: Mapping[str, str]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if env.get("DRACHTIO_SIP"):
        values["sip"] = [s.strip() for s in env["DRACHTIO_SIP"].split(",") if s.strip()]
    if env.get("DRACHTIO_CONTROL"):
        values["control_host"], values["control_port"] = parse_hostport(env["DRACHTIO_CONTROL"])
    if env.get("DRACHTIO_SECRET"):
        values["secrets"] = [env["DRACHTIO_SECRET"]]
    if env.get("DRACHTIO_LOG_LEVEL"):
        values["log_level"] = env["DRACHTIO_LOG_LEVEL"]
    if env.get("DRACHTIO_LOG_FORMAT"):
        values["log_format"] = env["DRACHTIO_LOG_FORMAT"]
    if env.get("DRACHTIO_LOOP"):
        values["loop"] = env["DRACHTIO_LOOP"]
    if env.get("DRACHTIO_SIP_TRACE"):
        values["sip_trace"] = _env_flag(env["DRACHTIO_SIP_TRACE"]) is True
    if env.get("DRACHTIO_ANSWER_OPTIONS"):
        values["answer_options"] = _env_flag(env["DRACHTIO_ANSWER_OPTIONS"])
    if env.get("DRACHTIO_TLS_SYSTEM_ROOTS"):
        values["tls_system_roots"] = _env_flag(env["DRACHTIO_TLS_SYSTEM_ROOTS"])
    if env.get("DRACHTIO_METRICS"):
        values["metrics"] = env["DRACHTIO_METRICS"]
    if env.get("DRACHTIO_CDR_FILE"):
        values["cdr_file"] = env["DRACHTIO_CDR_FILE"]
    if env.get("DRACHTIO_CAPTURE"):
        values["capture"] = env["DRACHTIO_CAPTURE"]
    if env.get("DRACHTIO_CAPTURE_PASSWORD"):
        values["capture_password"] = env["DRACHTIO_CAPTURE_PASSWORD"]
    if env.get("DRACHTIO_SESSION_TIMER"):
        values["session_timer"] = _env_flag(env["DRACHTIO_SESSION_TIMER"])
    if env.get("DRACHTIO_SESSION_REFRESHER"):
        values["session_refresher"] = env["DRACHTIO_SESSION_REFRESHER"]
    for name in ("request_handler", "request_handler_method"):
        if env.get(f"DRACHTIO_{name.upper()}"):
            values[name] = env[f"DRACHTIO_{name.upper()}"]
    if env.get("DRACHTIO_NAMESERVERS"):
        servers = env["DRACHTIO_NAMESERVERS"].split(",")
        values["nameservers"] = [s.strip() for s in servers if s.strip()]
    for name in _FILES:
        if env.get(f"DRACHTIO_{name.upper()}"):
            values[name] = env[f"DRACHTIO_{name.upper()}"]
    for var, (name, kind) in _NUMERIC_ENV.items():
        text = env.get(var)
        if text:
            try:
                values[name] = kind(text)
            except ValueError:
                values[name] = text  # validate() names it
    return values


def _env_flag(text: str) -> bool | str:
    """An on/off environment variable: ``1``, ``true``, ``yes``, ``on`` or their opposites.

    Anything else is returned as is, for :meth:`ServerConfig.validate` to name.
    """
    lower = text.strip().lower()
    if lower in ("1", "true", "yes", "on"):
        return True
    if lower in ("0", "false", "no", "off"):
        return False
    return text


def load_config(
    *,
    config_file: str | Path | None = None,
    env: Mapping[str, str] | None = None,
    sip: Sequence[str] | None = None,
    control: str | None = None,
    secrets: Sequence[str] | None = None,
    log_level: str | None = None,
    log_format: str | None = None,
    sip_trace: bool | None = None,
    loop: str | None = None,
    max_unauthenticated: int | None = None,
    max_tcp_connections: int | None = None,
    max_tcp_connections_per_ip: int | None = None,
    max_tcp_outbound: int | None = None,
    tcp_message_timeout: float | None = None,
    tls_certificate: str | None = None,
    tls_key: str | None = None,
    tls_ca: str | None = None,
    tls_client_ca: str | None = None,
    tls_system_roots: bool | None = None,
    answer_options: bool | None = None,
    control_tls_certificate: str | None = None,
    control_tls_key: str | None = None,
    control_tls_client_ca: str | None = None,
    metrics: str | None = None,
    capture: str | None = None,
    capture_id: int | None = None,
    cdr_file: str | None = None,
    ping_interval: float | None = None,
    ping_timeout: float | None = None,
    session_timer: bool | None = None,
    session_expires: int | None = None,
    min_se: int | None = None,
    session_refresher: str | None = None,
    max_422_retries: int | None = None,
    nameservers: Sequence[str] | None = None,
    request_handler: str | None = None,
    request_handler_method: str | None = None,
    outbound_idle_timeout: float | None = None,
    dev: bool = False,
) -> ServerConfig:
    """Build the configuration: defaults, then the TOML file, the environment, the flags.

    ``env`` defaults to nothing (pass ``os.environ`` to read it); its
    ``DRACHTIO_CONFIG`` names a config file when ``config_file`` is not
    given. With ``dev`` and no secret anywhere, :data:`DEV_SECRET` is used.

    Raises:
        ConfigError: a file that cannot be read, an unknown or invalid setting,
            or no secret (without ``dev``).
    """
    env = env or {}
    values: dict[str, Any] = {}
    path = config_file if config_file is not None else env.get("DRACHTIO_CONFIG")
    if path:
        values.update(_read_toml(Path(path)))
    values.update(_from_env(env))
    if sip:
        values["sip"] = list(sip)
    if control is not None:
        values["control_host"], values["control_port"] = parse_hostport(control)
    if secrets:
        values["secrets"] = list(secrets)
    if log_level is not None:
        values["log_level"] = log_level
    if log_format is not None:
        values["log_format"] = log_format
    if sip_trace is not None:
        values["sip_trace"] = sip_trace
    if loop is not None:
        values["loop"] = loop
    if nameservers:
        values["nameservers"] = list(nameservers)
    flags = {
        "max_unauthenticated": max_unauthenticated,
        "max_tcp_connections": max_tcp_connections,
        "max_tcp_connections_per_ip": max_tcp_connections_per_ip,
        "max_tcp_outbound": max_tcp_outbound,
        "tcp_message_timeout": tcp_message_timeout,
        "tls_certificate": tls_certificate,
        "tls_key": tls_key,
        "tls_ca": tls_ca,
        "tls_client_ca": tls_client_ca,
        "tls_system_roots": tls_system_roots,
        "answer_options": answer_options,
        "control_tls_certificate": control_tls_certificate,
        "control_tls_key": control_tls_key,
        "control_tls_client_ca": control_tls_client_ca,
        "metrics": metrics,
        "capture": capture,
        "capture_id": capture_id,
        "cdr_file": cdr_file,
        "ping_interval": ping_interval,
        "ping_timeout": ping_timeout,
        "session_timer": session_timer,
        "session_expires": session_expires,
        "min_se": min_se,
        "session_refresher": session_refresher,
        "max_422_retries": max_422_retries,
        "request_handler": request_handler,
        "request_handler_method": request_handler_method,
        "outbound_idle_timeout": outbound_idle_timeout,
    }
    values.update({name: value for name, value in flags.items() if value is not None})
    try:
        config = replace(ServerConfig(), **values)
    except TypeError as exc:  # pragma: no cover - keys are filtered above
        raise ConfigError(str(exc)) from None
    if dev and not config.secrets:
        config.secrets = [DEV_SECRET]
    config.validate()
    return config
