"""TLS on the control listener: the server's certificate, and optionally client certificates.

:func:`control_ssl_context` turns the ``control_tls_*`` settings into the
:class:`ssl.SSLContext` the control listener is created with; a file that
cannot be read or used is a :class:`~drachtio.server.ConfigError` naming
the setting, before anything is bound.
"""

from __future__ import annotations

import ssl

from drachtio.server.config import ConfigError, ServerConfig

__all__ = ["ControlTls", "control_ssl_context"]


def control_ssl_context(config: ServerConfig) -> ssl.SSLContext | None:
    """The control listener's TLS context, or ``None`` when it speaks plain TCP.

    TLS 1.2 at least, with the defaults of :func:`ssl.create_default_context`.
    With ``control_tls_client_ca`` a client must present a certificate that
    chains to one of those authorities, else the handshake fails.

    Raises:
        ConfigError: the certificate, its key or the authorities could not
            be loaded (the message names the setting and the reason).
    """
    certificate, key = config.control_tls_certificate, config.control_tls_key
    if not certificate or not key:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(certificate, key)
    except OSError as exc:
        raise ConfigError(
            f"control_tls_certificate: cannot use {certificate!r} with control_tls_key "
            f"{key!r}: {_reason(exc)}"
        ) from None
    client_ca = config.control_tls_client_ca
    if client_ca:
        try:
            context.load_verify_locations(cafile=client_ca)
        except OSError as exc:
            raise ConfigError(
                f"control_tls_client_ca: cannot use {client_ca!r}: {_reason(exc)}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def _reason(exc: OSError) -> str:
    # ssl.SSLError is an OSError; its reason ("PEM_LIB", "KEY_VALUES_MISMATCH")
    # says more than its errno, strerror the rest (file not found...).
    if isinstance(exc, ssl.SSLError):
        return exc.reason or str(exc)
    return exc.strerror or str(exc)


class ControlTls:
    """The control listener's TLS, whose files can be loaded again while it listens.

    The listener is created with :attr:`listening`, the first context; each
    handshake then switches to the context current at that moment (the
    server-name callback runs at every handshake, with or without SNI), so
    that :meth:`reload` takes effect for the connections accepted after it.
    Connections already open keep what they negotiated.
    """

    __slots__ = ("current", "listening")

    def __init__(self, config: ServerConfig) -> None:
        """Load the ``control_tls_*`` files of ``config``.

        Raises:
            ConfigError: see :func:`control_ssl_context`.
        """
        self.current = control_ssl_context(config)
        self.listening = self.current
        if self.listening is not None:
            self.listening.sni_callback = self._switch

    def prepare(self, config: ServerConfig) -> ssl.SSLContext | None:
        """The context ``config`` describes, checked but not in use yet.

        Raises:
            ConfigError: a file cannot be used, or TLS would be turned on or
                off (the listener is created with it or without it: that
                needs a restart).
        """
        context = control_ssl_context(config)
        if (context is None) != (self.listening is None):
            raise ConfigError(
                "control_tls_certificate: turning TLS on or off on the control listener "
                "needs a restart"
            )
        return context

    def _switch(
        self, connection: ssl.SSLObject | ssl.SSLSocket, _name: str | None, context: ssl.SSLContext
    ) -> None:
        if self.current is not None and self.current is not context:
            connection.context = self.current
