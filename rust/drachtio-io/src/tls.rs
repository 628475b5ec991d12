//! TLS (RFC 3261 §26.2, RFC 5630) with rustls: the configuration of the
//! TLS listeners (a certificate chain and its key) and of the connections
//! the stack opens (the certificate authorities a peer's certificate is
//! verified against), read from PEM files when the stack starts; and the
//! handshake that turns a TCP stream into a TLS one.

use crate::config::TlsConfig;
use std::io;
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio_rustls::rustls::server::WebPkiClientVerifier;
use tokio_rustls::rustls::{self, ClientConfig, RootCertStore, ServerConfig};
use tokio_rustls::{TlsAcceptor, TlsConnector, TlsStream};

/// The TLS side of a stack: what it accepts with and connects with.
#[derive(Default)]
pub(crate) struct Tls {
    /// With a certificate and key: TLS listeners can be bound.
    acceptor: Option<TlsAcceptor>,
    /// With certificate authorities: the stack can open TLS connections.
    connector: Option<TlsConnector>,
}

impl Tls {
    /// Reads the files `config` names. Errors name the setting, the file
    /// and what is wrong with it.
    pub(crate) fn load(config: &TlsConfig) -> io::Result<Tls> {
        let own = match (&config.certificate, &config.key) {
            (Some(cert), Some(key)) => Some(own_certificate(cert, key)?),
            (None, None) => None,
            (Some(_), None) => return Err(invalid("a TLS certificate needs its key (tls_key)")),
            (None, Some(_)) => {
                return Err(invalid("a TLS key needs its certificate (tls_certificate)"))
            }
        };
        let acceptor = match &own {
            Some(own) => Some(acceptor(own, config.client_ca.as_deref())?),
            None if config.client_ca.is_some() => {
                return Err(invalid(
                    "tls_client_ca needs a certificate for the listeners (tls_certificate)",
                ))
            }
            None => None,
        };
        let connector = connector(config, own)?;
        Ok(Tls {
            acceptor,
            connector,
        })
    }

    /// Whether a TLS listener can be bound.
    pub(crate) fn can_accept(&self) -> bool {
        self.acceptor.is_some()
    }

    /// Why the stack cannot open a TLS connection, if it cannot.
    pub(crate) fn cannot_connect(&self) -> Option<&'static str> {
        match self.connector {
            Some(_) => None,
            None => Some(
                "no TLS certificate authorities configured (tls_ca, tls_system_roots): \
                 the stack opens no TLS connection",
            ),
        }
    }

    /// The server side of the handshake on an accepted connection, within
    /// `timeout`.
    pub(crate) async fn accept(
        &self,
        stream: TcpStream,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, String> {
        let acceptor = self.acceptor.as_ref().ok_or("no TLS certificate")?;
        let handshake = acceptor.accept(stream);
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(tls)) => Ok(TlsStream::Server(tls)),
            Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
            Err(_) => Err("TLS handshake failed: timed out".to_string()),
        }
    }

    /// The client side of the handshake on a connection the stack opened to
    /// `ip`, resolved from `name` if it was named, within `timeout`: the
    /// peer's certificate must chain to a configured authority and name the
    /// host the message was sent to (RFC 5922 §7.2): `name`, else `ip`.
    pub(crate) async fn connect(
        &self,
        stream: TcpStream,
        ip: IpAddr,
        name: Option<&str>,
        timeout: Duration,
    ) -> Result<TlsStream<TcpStream>, String> {
        let connector = self
            .connector
            .as_ref()
            .ok_or_else(|| self.cannot_connect().unwrap_or_default().to_string())?;
        let (host, server_name) = match name {
            Some(name) => (
                name.to_string(),
                ServerName::try_from(name.to_string())
                    .map_err(|e| format!("TLS to {name}: {e}"))?,
            ),
            None => (ip.to_string(), ServerName::IpAddress(ip.into())),
        };
        let handshake = connector.connect(server_name, stream);
        match tokio::time::timeout(timeout, handshake).await {
            Ok(Ok(tls)) => Ok(TlsStream::Client(tls)),
            Ok(Err(e)) => Err(format!("TLS handshake with {host} failed: {e}")),
            Err(_) => Err(format!("TLS handshake with {host} failed: timed out")),
        }
    }
}

fn invalid(message: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidInput, message.into())
}

/// The crypto of every TLS session: rustls on ring.
fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn read(setting: &str, path: &Path) -> io::Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| invalid(format!("{setting} {}: {e}", path.display())))
}

/// The certificates of a PEM file; an error when there is none.
fn certificates(setting: &str, path: &Path) -> io::Result<Vec<CertificateDer<'static>>> {
    let pem = read(setting, path)?;
    let bad = |e: &dyn std::fmt::Display| invalid(format!("{setting} {}: {e}", path.display()));
    let certs = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"no PEM certificate in the file"));
    }
    Ok(certs)
}

/// A certificate chain and its key, as read from their files.
struct OwnCertificate {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The files, for error messages.
    files: String,
}

fn own_certificate(cert: &Path, key: &Path) -> io::Result<OwnCertificate> {
    let chain = certificates("tls_certificate", cert)?;
    let pem = read("tls_key", key)?;
    let key_der = PrivateKeyDer::from_pem_slice(&pem)
        .map_err(|e| invalid(format!("tls_key {}: {e}", key.display())))?;
    Ok(OwnCertificate {
        chain,
        key: key_der,
        files: format!(
            "tls_certificate {} and tls_key {}",
            cert.display(),
            key.display()
        ),
    })
}

/// The authorities of a PEM file, for `setting`.
fn roots_from(setting: &str, path: &Path, roots: &mut RootCertStore) -> io::Result<()> {
    for cert in certificates(setting, path)? {
        roots
            .add(cert)
            .map_err(|e| invalid(format!("{setting} {}: {e}", path.display())))?;
    }
    Ok(())
}

fn acceptor(own: &OwnCertificate, client_ca: Option<&Path>) -> io::Result<TlsAcceptor> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?;
    let builder = match client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            roots_from("tls_client_ca", path, &mut roots)?;
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| invalid(format!("tls_client_ca {}: {e}", path.display())))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let config = builder
        .with_single_cert(own.chain.clone(), own.key.clone_key())
        .map_err(|e| invalid(format!("{}: {e}", own.files)))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// What the stack connects with: the configured authorities and, with
/// `system_roots`, the system's; our certificate as the client's (for
/// peers that require mutual TLS). `None` without any authority.
fn connector(config: &TlsConfig, own: Option<OwnCertificate>) -> io::Result<Option<TlsConnector>> {
    let mut roots = RootCertStore::empty();
    if let Some(ca) = &config.ca {
        roots_from("tls_ca", ca, &mut roots)?;
    }
    if config.system_roots {
        // Unreadable or unparsable system certificates are skipped: the
        // others still verify, and a peer none of them vouch for fails its
        // handshake with a reason naming the issuer.
        for cert in rustls_native_certs::load_native_certs().certs {
            let _ = roots.add(cert);
        }
    }
    if roots.is_empty() {
        return Ok(None);
    }
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .with_root_certificates(roots);
    let config = match own {
        Some(own) => builder
            .with_client_auth_cert(own.chain, own.key)
            .map_err(|e| invalid(format!("{}: {e}", own.files)))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Some(TlsConnector::from(Arc::new(config))))
}
