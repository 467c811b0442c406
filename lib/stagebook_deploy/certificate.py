"""A self-signed certificate for the api-server's HTTPS, for rehearsals and tests only.

A real deployment puts its own certificate and key in the inventory's vault
(``vault_airflow_tls_cert``, ``vault_airflow_tls_key``); the multi-host
rehearsal makes one here for the api-server's address, as the workers and the
browser reach it, and hands it to the converge the same way.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def self_signed(address: str, days: int = 30) -> tuple[str, str]:
    """Return a self-signed certificate for the IP ``address`` and its key, both PEM.

    The certificate is its own CA (``basicConstraints`` critical, CA true), so
    that a client given it as its trust anchor verifies the server with it.
    """
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, address)])
    now = datetime.datetime.now(datetime.UTC)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(address))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def write(folder: Path, address: str) -> tuple[Path, Path]:
    """Write :func:`self_signed` for ``address`` as ``folder/api.crt`` (0644) and ``api.key`` (0600).

    Return both paths; an existing pair is kept (a second converge changes nothing).
    """
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / "api.crt", folder / "api.key"
    if not (cert.is_file() and key.is_file()):
        cert_pem, key_pem = self_signed(address)
        # The key is created 0600 before a byte of it is written.
        with os.fdopen(os.open(key, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(key_pem)
        cert.write_text(cert_pem)
        cert.chmod(0o644)
    return cert, key


def vault_vars(cert: Path, key: Path) -> dict[str, str]:
    """Return the vault variables that give the converge ``cert`` and ``key`` (their PEM text)."""
    return {"vault_airflow_tls_cert": cert.read_text(), "vault_airflow_tls_key": key.read_text()}
