"""A webhook receiver on 127.0.0.1 that speaks HTTP/1.1 by hand, from threads of its own, so
that it can answer as slowly or as largely as a test needs, and count what it was sent.

- ``ok``: 204 at once.
- ``trickle``: the status line, then a header one byte per ``trickle_seconds``, for at most
  ``trickle_limit_seconds`` (a receiver that never finishes its answer).
- ``huge``: 200 with a body of ``huge_bytes``, sent from one preallocated buffer.

With ``tls`` (``certificate_for``) it speaks https and records the server name each client
asked for (SNI).
"""

from __future__ import annotations

import contextlib
import select
import socket
import socketserver
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

Behaviour = Literal["ok", "trickle", "huge"]


@dataclass
class Connection:
    opened_at: float  # time.monotonic()
    request: bytes = b""
    answered_bytes: int = 0
    closed_at: float | None = None


@dataclass
class RawReceiver:
    behaviour: Behaviour = "ok"
    trickle_seconds: float = 1.0
    trickle_limit_seconds: float = 30.0
    huge_bytes: int = 5 * 1024 * 1024
    tls: ssl.SSLContext | None = None
    connections: list[Connection] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self, sock: socket.socket) -> None:
        seen = Connection(opened_at=time.monotonic())
        self.connections.append(seen)
        try:
            if self.tls is not None:
                self.tls.sni_callback = lambda _s, name, _c: self.server_names.append(name)
                sock = self.tls.wrap_socket(sock, server_side=True)
            seen.request = _read_request(sock)
            if seen.request:
                self._answer(sock, seen)
        except OSError:  # ssl.SSLError is one too
            pass  # the client hung up (or refused the certificate): a cut answer, seen here
        finally:
            seen.closed_at = time.monotonic()

    def _answer(self, sock: socket.socket, seen: Connection) -> None:
        def send(data: bytes | memoryview) -> None:
            sock.sendall(data)
            seen.answered_bytes += len(data)

        if self.behaviour == "ok":
            send(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
        elif self.behaviour == "trickle":
            send(b"HTTP/1.1 200 OK\r\nX-Slow: ")
            end = time.monotonic() + self.trickle_limit_seconds
            while time.monotonic() < end:
                readable, _, _ = select.select([sock], [], [], self.trickle_seconds)
                if readable and not sock.recv(1):
                    return  # the client hung up
                send(b"x")
            send(b"\r\nContent-Length: 0\r\n\r\n")
        else:
            send(f"HTTP/1.1 200 OK\r\nContent-Length: {self.huge_bytes}\r\n\r\n".encode())
            view = memoryview(_zeros(self.huge_bytes))
            for start in range(0, self.huge_bytes, 16384):
                send(view[start:start + 16384])


def _read_request(sock: socket.socket) -> bytes:
    """Headers and a Content-Length body; ``b""`` if the client closed first."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = sock.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def certificate_for(name: str, folder: Path) -> tuple[ssl.SSLContext, Path]:
    """A server context with a self-signed certificate for the DNS name ``name`` only (no IP
    address in it), and the certificate's file, for a client to trust (``SSL_CERT_FILE``)."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .not_valid_before(now - timedelta(minutes=5))
                   .not_valid_after(now + timedelta(hours=1))
                   .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None),
                                  critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / f"{name}.crt", folder / f"{name}.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context, cert_file


_ZEROS: dict[int, bytes] = {}


def _zeros(size: int) -> bytes:
    """One buffer per size, made before a test measures anything."""
    if size not in _ZEROS:
        _ZEROS[size] = bytes(size)
    return _ZEROS[size]


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


@contextlib.contextmanager
def raw_receiver(receiver: RawReceiver) -> Iterator[RawReceiver]:
    if receiver.behaviour == "huge":
        _zeros(receiver.huge_bytes)

    class Handler(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            receiver._serve(self.request)

    server = _Server(("127.0.0.1", 0), Handler)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                              daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
