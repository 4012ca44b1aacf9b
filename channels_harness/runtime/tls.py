"""TLS certificates for wss:// servers, made at start: nothing for the user to set up.

:func:`certificates` makes (once per process) a throwaway certificate authority
with trustme and a server certificate it signed for the loopback address and
``localhost``, and writes them to a private temporary folder that is removed
when the process exits. Servers read the key and certificate files; clients
trust the authority through :func:`client_context` and nothing else, so a
connection only succeeds against a server this harness configured.
"""

from __future__ import annotations

import atexit
import functools
import shutil
import ssl
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from channels_harness.runtime.loopback import LOOPBACK

# What the certificate is for: the address servers bind and the name clients may use.
IDENTITIES = (LOOPBACK, "localhost")


@dataclass(frozen=True)
class TlsFiles:
    """Where the certificate authority, the server certificate and its key are."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def describe(self) -> dict[str, object]:
        """For results: what the certificate is, without any key material."""
        return {"issuer": "trustme (throwaway CA made at start)", "identities": list(IDENTITIES)}


def _pkcs8(pem: bytes) -> bytes:
    """The private key ``pem`` in PKCS#8 (granian reads no other format)."""
    key = serialization.load_pem_private_key(pem, password=None)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@functools.cache
def certificates() -> TlsFiles:
    """This process's certificate authority and server certificate, made on first
    use in a private folder that is removed at exit."""
    import trustme

    folder = Path(tempfile.mkdtemp(prefix="channels-harness-tls-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    authority = trustme.CA(organization_name="channels-harness")
    leaf = authority.issue_cert(*IDENTITIES)
    files = TlsFiles(folder / "ca.pem", folder / "server.pem", folder / "server.key")
    authority.cert_pem.write_to_path(str(files.ca_file))
    files.cert_file.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
    files.key_file.write_bytes(_pkcs8(leaf.private_key_pem.bytes()))
    files.key_file.chmod(0o600)
    return files


@functools.cache
def client_context(ca_file: str | Path) -> ssl.SSLContext:
    """A client context that trusts the authority in ``ca_file`` only and checks
    the server's name, as a browser would."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(ca_file))
    return context
