"""A self-signed TLS server context for the sandbox's app stand-ins, generated at runtime.

The stand-ins play the load balancers, which terminate TLS with the stack's ACM certificate.
No certificate is stored anywhere: each run makes a fresh RSA key and a self-signed
certificate for the given names (``cryptography``, installed with moto). Route 53's HTTPS
health checks do not validate the certificate (Route 53 Developer Guide, "How Amazon Route 53
determines whether a health check is healthy": checks do not fail if the certificate is
invalid or expired), so the sandbox's checker does not validate it either; what it needs is
a real TLS handshake.
"""

from __future__ import annotations

import datetime
import os
import ssl
import tempfile
from typing import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID


def self_signed_pem(names: Sequence[str], *, days: int = 7) -> tuple[bytes, bytes]:
    """(certificate PEM, private key PEM) for ``names`` (the first is the common name)."""
    if not names:
        raise ValueError("a certificate needs at least one name")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0][:64])])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def server_context(names: Sequence[str]) -> ssl.SSLContext:
    """A TLS 1.2+ server context with a fresh self-signed certificate for ``names``."""
    cert_pem, key_pem = self_signed_pem(names)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    # load_cert_chain reads files only: write them to a private temporary directory, then remove it.
    with tempfile.TemporaryDirectory(prefix="dr-platform-tls-") as directory:
        cert_path, key_path = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
        with open(cert_path, "wb") as f:
            f.write(cert_pem)
        with open(os.open(key_path, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(key_pem)
        context.load_cert_chain(cert_path, key_path)
    return context


def client_context() -> ssl.SSLContext:
    """What a Route 53 HTTPS checker does: TLS, but no validation of the chain or the name."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context
