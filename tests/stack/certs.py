"""Throwaway TLS certificates for the tests, made by ``openssl`` when a test
runs: an authority, and a certificate for 127.0.0.1 that it signed. No key
is kept in the repository."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

needs_openssl = pytest.mark.skipif(
    shutil.which("openssl") is None,
    reason="openssl is not on PATH (Debian package openssl; scripts/test.sh installs it)",
)

_LEAF_EXTENSIONS = (
    "subjectAltName=IP:127.0.0.1\n"
    "basicConstraints=critical,CA:FALSE\n"
    "keyUsage=critical,digitalSignature\n"
    "extendedKeyUsage=serverAuth,clientAuth\n"
)
_EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]


@dataclass(frozen=True)
class CertFiles:
    """PEM files: the authority, and the certificate it signed with its key."""

    ca: Path
    certificate: Path
    key: Path


def _openssl(directory: Path, *args: str) -> None:
    subprocess.run(["openssl", *args], cwd=directory, check=True, capture_output=True)


def make_certs(directory: Path, name: str = "test") -> CertFiles:
    """A new authority ``{name}-ca.pem`` and a certificate for 127.0.0.1 it signed."""
    directory.mkdir(parents=True, exist_ok=True)
    ca, ca_key = f"{name}-ca.pem", f"{name}-ca.key"
    cert, key, csr, ext = f"{name}.pem", f"{name}.key", f"{name}.csr", f"{name}.ext"
    (directory / ext).write_text(_LEAF_EXTENSIONS)
    _openssl(
        directory,
        *("req", "-x509", "-nodes", "-days", "1", *_EC),
        *("-keyout", ca_key, "-out", ca, "-subj", f"/CN={name} test CA"),
        *("-addext", "basicConstraints=critical,CA:TRUE"),
        *("-addext", "keyUsage=critical,keyCertSign"),
    )
    _openssl(
        directory,
        *("req", "-nodes", *_EC, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1"),
    )
    _openssl(
        directory,
        *("x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial"),
        *("-days", "1", "-out", cert, "-extfile", ext),
    )
    return CertFiles(ca=directory / ca, certificate=directory / cert, key=directory / key)
