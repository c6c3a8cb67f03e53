"""A self-signed certificate valid only between two given dates (``openssl ca``: ``openssl req``
of OpenSSL 3.0 cannot set the start), for the tests of a device whose clock is outside them."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

_CA = """[ca]
default_ca = this
[this]
database = index.txt
new_certs_dir = .
serial = serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[any]
commonName = supplied
"""


def dated_cert(folder: Path, start: str, end: str) -> tuple[Path, Path]:
    """``cert.pem`` and ``key.pem`` in ``folder`` for 127.0.0.1, valid from ``start`` to ``end``
    (``YYYYMMDDHHMMSSZ``); skips the test without openssl."""
    if not shutil.which("openssl"):
        pytest.skip("openssl is not installed")
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "ca.cnf").write_text(_CA)
    (folder / "index.txt").write_text("")
    (folder / "serial").write_text("01\n")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key),
                    "-out", str(folder / "req.csr"), "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1"], check=True, capture_output=True, cwd=folder)
    subprocess.run(["openssl", "ca", "-batch", "-config", "ca.cnf", "-selfsign", "-keyfile", str(key),
                    "-in", "req.csr", "-out", str(cert), "-startdate", start, "-enddate", end],
                   check=True, capture_output=True, cwd=folder)
    key.chmod(0o644)
    return cert, key


@contextmanager
def handshake_server(cert: Path, key: Path) -> Iterator[int]:
    """A TLS server on 127.0.0.1 presenting ``cert`` that does the handshake and nothing more
    (a client's certificate check fails on its own side); yields its port."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            try:
                with context.wrap_socket(conn, server_side=True):
                    pass
            except (OSError, ssl.SSLError):
                conn.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()
