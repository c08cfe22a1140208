"""Real file servers on 127.0.0.1 for batch-file tests: asyncssh SFTP, pyftpdlib FTP and FTPS, moto's S3.

Each server is a context manager (``serve_sftp``, ``serve_ftp``, ``serve_s3``) that can listen on a given
port, so a test can point a destination at a port where nothing listens yet and start the server later;
the fixtures (``sftp``, ``ftp`` for FTP and FTPS, ``s3``, ``silent_port``) wrap them for a module. Test
modules take the fixtures through ``tests/integration/conftest.py``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import socket
import threading
import uuid
import warnings
from collections.abc import Awaitable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncssh
import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from moto.server import ThreadedMotoServer

from leadrelay.domain.files import FtpDestination, S3Destination, SftpDestination

with warnings.catch_warnings():  # pyftpdlib still imports asyncore/asynchat on Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.ioloop import IOLoop
    from pyftpdlib.servers import FTPServer

__all__ = [
    "PASSWORD",
    "S3",
    "USER",
    "WAIT_S",
    "Ftp",
    "LoopThread",
    "Sftp",
    "ftp",
    "s3",
    "self_signed",
    "serve_ftp",
    "serve_s3",
    "serve_sftp",
    "sftp",
    "silent_port",
]

USER, PASSWORD = "relay", "s3cret-Pa55word"
S3_SECRET = "not-the-secret-key"
WAIT_S = 10.0


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and then says nothing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


def new_directory(root: Path) -> str:
    """A fresh, empty directory under a server's root; its name relative to the root."""
    directory = f"t{uuid.uuid4().hex[:8]}"
    (root / directory).mkdir()
    return directory


# --- SFTP --------------------------------------------------------------------------------------------


class LoopThread:
    """An event loop in a thread, so servers live across tests that each call ``asyncio.run``."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, awaitable: Awaitable[Any]) -> Any:
        async def wait() -> Any:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wait(), self.loop).result(timeout=WAIT_S)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=WAIT_S)
        self.loop.close()


@dataclass
class Sftp:
    port: int
    root: Path
    host_key: asyncssh.SSHKey
    client_key: asyncssh.SSHKey
    log: list[tuple[str, ...]] = field(default_factory=list)

    def dest(self, **overrides: Any) -> SftpDestination:
        options: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "username": USER}
        return SftpDestination(
            **{
                "password": PASSWORD,
                "directory": new_directory(self.root),
                "timeout_s": 5,
                **options,
                **overrides,
            }
        )

    def config(self, directory: str, **overrides: Any) -> dict[str, Any]:
        """A ``destination.sftp`` section of a partner's ``file`` channel (password login)."""
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
            "directory": directory,
            "timeout": "5s",
            **overrides,
        }


@contextmanager
def serve_sftp(root: Path, port: int = 0) -> Iterator[Sftp]:
    """An SFTP server chrooted to ``root`` (password ``USER``/``PASSWORD`` or the client key it makes)."""
    host_key = asyncssh.generate_private_key("ssh-ed25519")
    client_key = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    log: list[tuple[str, ...]] = []

    class Server(asyncssh.SSHServer):
        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return (username, password) == (USER, PASSWORD)

    class RecordingSftp(asyncssh.SFTPServer):
        def __init__(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
            super().__init__(chan, chroot=str(root).encode())

        def open(self, path: bytes, pflags: int, attrs: asyncssh.SFTPAttrs) -> object:
            log.append(("open", path.decode()))
            return super().open(path, pflags, attrs)

        def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
            log.append(("rename", oldpath.decode(), newpath.decode()))
            super().posix_rename(oldpath, newpath)

    loop = LoopThread()
    try:
        server = loop.run(
            asyncssh.listen(
                "127.0.0.1",
                port,
                server_factory=Server,
                server_host_keys=[host_key],
                authorized_client_keys=asyncssh.import_authorized_keys(
                    client_key.export_public_key().decode()
                ),
                sftp_factory=RecordingSftp,
                allow_scp=False,
            )
        )
    except BaseException:
        loop.stop()
        raise
    try:
        yield Sftp(server.get_port(), root, host_key, client_key, log)
    finally:
        server.close()
        loop.run(server.wait_closed())
        loop.stop()


@pytest.fixture(scope="module")
def sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sftp]:
    with serve_sftp(tmp_path_factory.mktemp("sftp")) as server:
        yield server


# --- FTP and FTPS ------------------------------------------------------------------------------------


@dataclass
class Ftp:
    port: int
    root: Path
    ca_pem: str
    log: list[tuple[str, str]]
    tls: bool
    quirks: dict[str, bool]  # "no_overwrite": refuse RNTO onto an existing file, as some servers do

    def dest(self, **overrides: Any) -> FtpDestination:
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
        }
        ca = {"ca_cert": self.ca_pem} if self.tls else {}
        return FtpDestination(
            **{
                "directory": new_directory(self.root),
                "tls": self.tls,
                "timeout_s": 5,
                **ca,
                **options,
                **overrides,
            }
        )

    def config(self, directory: str, **overrides: Any) -> dict[str, Any]:
        """A ``destination.ftp`` section of a partner's ``file`` channel (FTPS trusts the test CA)."""
        ca = {"ca_cert": self.ca_pem} if self.tls else {}
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
            "directory": directory,
            "tls": self.tls,
            "timeout": "5s",
            **ca,
            **overrides,
        }


def self_signed(directory: Path) -> tuple[Path, str]:
    """A certificate for 127.0.0.1 and its key in one PEM file (for the server), and the certificate alone."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "leadrelay test")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), False
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM).decode()
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    path = directory / "server.pem"
    path.write_text(cert_pem + key_pem)
    return path, cert_pem


@contextmanager
def serve_ftp(root: Path, certs: Path, *, tls: bool, port: int = 0) -> Iterator[Ftp]:
    """An FTP (or, with ``tls``, explicit FTPS only) server rooted at ``root``; its certificate in ``certs``.

    Users: ``USER`` may do anything, ``reader`` may only list and read, ``renamer`` may store but not rename.
    """
    certfile, ca_pem = self_signed(certs)
    log: list[tuple[str, str]] = []
    quirks = {"no_overwrite": False}
    authorizer = DummyAuthorizer()
    authorizer.add_user(USER, PASSWORD, str(root), perm="elradfmw")
    authorizer.add_user("reader", PASSWORD, str(root), perm="elr")
    authorizer.add_user("renamer", PASSWORD, str(root), perm="elrwd")  # no "f": may not rename
    base: Any = TLS_FTPHandler if tls else FTPHandler

    class Handler(base):  # type: ignore[misc]
        auth_failed_timeout = 0.01
        tls_control_required = tls
        tls_data_required = tls

        def pre_process_command(self, line: str, cmd: str, arg: str) -> None:
            log.append((cmd, arg))
            super().pre_process_command(line, cmd, arg)

        def ftp_RNTO(self, path: str) -> Any:
            if quirks["no_overwrite"] and Path(path).exists():
                return self.respond("550 File exists.")
            return super().ftp_RNTO(path)

    Handler.authorizer = authorizer
    if tls:
        Handler.certfile = str(certfile)
    # its own IO loop, not pyftpdlib's shared one: two servers at once, and closing one leaves the other
    server = FTPServer(("127.0.0.1", port), Handler, ioloop=IOLoop())
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            server.serve_forever(timeout=0.05, blocking=False, handle_exit=False)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield Ftp(server.address[1], root, ca_pem, log, tls, quirks)
    finally:
        stop.set()
        thread.join(timeout=WAIT_S)
        server.close_all()


@pytest.fixture(scope="module", params=["ftp", "ftps"])
def ftp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ftp]:
    root = tmp_path_factory.mktemp(request.param)
    with serve_ftp(root, tmp_path_factory.mktemp("cert"), tls=request.param == "ftps") as server:
        yield server


# --- S3 ----------------------------------------------------------------------------------------------


@dataclass
class S3:
    endpoint: str
    client: Any

    def dest(self, bucket: str, **overrides: Any) -> S3Destination:
        options: dict[str, Any] = {"endpoint_url": self.endpoint, "access_key_id": "testing"}
        return S3Destination(
            bucket, **{"secret_access_key": S3_SECRET, "timeout_s": 10, **options, **overrides}
        )

    def new_bucket(self) -> str:
        bucket = f"leads-{uuid.uuid4().hex[:8]}"
        self.client.create_bucket(Bucket=bucket)
        return bucket

    def config(self, bucket: str, **overrides: Any) -> dict[str, Any]:
        """A ``destination.s3`` section of a partner's ``file`` channel, pointed at this server."""
        return {
            "bucket": bucket,
            "endpoint_url": self.endpoint,
            "region": "us-east-1",
            "access_key_id": "testing",
            "secret_access_key": S3_SECRET,
            "timeout": "10s",
            **overrides,
        }


@contextmanager
def serve_s3() -> Iterator[S3]:
    """moto's S3 server on a free loopback port, with a client for it; no real AWS is ever asked."""
    with pytest.MonkeyPatch.context() as env:
        env.setenv("AWS_EC2_METADATA_DISABLED", "true")  # never ask an instance-metadata address
        for name in ("AWS_PROFILE", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
            env.delenv(name, raising=False)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        try:
            host, port = server.get_host_and_port()
            endpoint = f"http://{host}:{port}"
            client = boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name="us-east-1",
                aws_access_key_id="testing",
                aws_secret_access_key=S3_SECRET,
            )
            try:
                yield S3(endpoint, client)
            finally:
                client.close()
        finally:
            server.stop()


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
    with serve_s3() as server:
        yield server
