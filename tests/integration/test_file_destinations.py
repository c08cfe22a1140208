"""Uploads against real servers on 127.0.0.1: asyncssh SFTP, pyftpdlib FTP and FTPS, moto's S3 server."""

from __future__ import annotations

import asyncio
import datetime as dt
import http.server
import ipaddress
import socket
import threading
import uuid
import warnings
from collections.abc import Awaitable, Callable, Iterator
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

from leadrelay.adapters.files.destinations import UploadError, UploadResult, upload
from leadrelay.domain.files import Destination, FtpDestination, S3Destination, SftpDestination

with warnings.catch_warnings():  # pyftpdlib still imports asyncore/asynchat on Python 3.11
    warnings.simplefilter("ignore", DeprecationWarning)
    from pyftpdlib.authorizers import DummyAuthorizer
    from pyftpdlib.handlers import FTPHandler, TLS_FTPHandler
    from pyftpdlib.servers import FTPServer

USER, PASSWORD = "relay", "s3cret-Pa55word"
DATA = "first_name,monthly_bill\r\nZoë,120\r\n".encode()
WAIT_S = 10.0


def _upload(dest: Destination, name: str = "leads.csv", data: bytes = DATA) -> UploadResult:
    return asyncio.run(upload(dest, name, data))


def _failure(dest: Destination, name: str = "leads.csv") -> UploadError:
    with pytest.raises(UploadError) as caught:
        _upload(dest, name)
    error = caught.value
    for secret in (PASSWORD, "wrong-Pa55word", "not-the-secret-key", "BEGIN", "PRIVATE KEY"):
        assert secret not in str(error) and secret not in error.reason
    assert error.__cause__ is None
    return error


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and then says nothing."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(8)
        yield int(sock.getsockname()[1])


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
        directory = f"t{uuid.uuid4().hex[:8]}"
        (self.root / directory).mkdir()
        options: dict[str, Any] = {"host": "127.0.0.1", "port": self.port, "username": USER}
        return SftpDestination(
            **{"password": PASSWORD, "directory": directory, "timeout_s": 5, **options, **overrides}
        )


@pytest.fixture(scope="module")
def sftp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sftp]:
    root = tmp_path_factory.mktemp("sftp")
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
            return super().posix_rename(oldpath, newpath)

    loop = LoopThread()
    server = loop.run(
        asyncssh.listen(
            "127.0.0.1",
            0,
            server_factory=Server,
            server_host_keys=[host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(client_key.export_public_key().decode()),
            sftp_factory=RecordingSftp,
            allow_scp=False,
        )
    )
    try:
        yield Sftp(server.get_port(), root, host_key, client_key, log)
    finally:
        server.close()
        loop.run(server.wait_closed())
        loop.stop()


def test_sftp_upload_with_a_password_lands_whole(sftp: Sftp) -> None:
    dest = sftp.dest()
    sftp.log.clear()
    result = _upload(dest)
    final = sftp.root / dest.directory / "leads.csv"
    assert final.read_bytes() == DATA
    assert list((sftp.root / dest.directory).iterdir()) == [final]  # no .part left behind
    assert result.location == f"sftp://127.0.0.1:{sftp.port}/{dest.directory}/leads.csv"
    assert result.bytes == len(DATA) and result.duration_ms > 0
    part = f"{dest.directory}/leads.csv.part"
    assert sftp.log[0] == ("open", part)
    assert sftp.log[-1] == ("rename", part, f"{dest.directory}/leads.csv")


def test_sftp_replaces_an_existing_file(sftp: Sftp) -> None:
    dest = sftp.dest()
    _upload(dest, data=b"old, longer content\n")
    _upload(dest, data=b"new\n")
    assert (sftp.root / dest.directory / "leads.csv").read_bytes() == b"new\n"


@pytest.mark.parametrize("key_format", ["openssh", "pkcs8-pem"])
def test_sftp_key_authentication(sftp: Sftp, key_format: str) -> None:
    key_text = sftp.client_key.export_private_key(key_format).decode()
    dest = sftp.dest(password=None, private_key=key_text)
    _upload(dest, name="by-key.csv")
    assert (sftp.root / dest.directory / "by-key.csv").read_bytes() == DATA


def test_sftp_default_directory_is_the_login_directory(sftp: Sftp) -> None:
    result = _upload(sftp.dest(directory="."), name=f"home-{uuid.uuid4().hex[:6]}.csv")
    assert (sftp.root / result.location.rsplit("/", 1)[1]).read_bytes() == DATA


def test_sftp_host_key_checks(sftp: Sftp) -> None:
    fingerprint = sftp.host_key.get_fingerprint("sha256")
    _upload(sftp.dest(host_key=fingerprint))
    known = f"[127.0.0.1]:{sftp.port} {sftp.host_key.export_public_key().decode()}"
    _upload(sftp.dest(known_hosts=known))

    other = asyncssh.generate_private_key("ssh-ed25519")
    error = _failure(sftp.dest(host_key=other.get_fingerprint("sha256")))
    assert not error.retryable and "host key not trusted" in error.reason
    wrong_known = f"[127.0.0.1]:{sftp.port} {other.export_public_key().decode()}"
    assert not _failure(sftp.dest(known_hosts=wrong_known)).retryable


def test_sftp_wrong_password_is_final_and_secret(sftp: Sftp) -> None:
    error = _failure(sftp.dest(password="wrong-Pa55word"))
    assert not error.retryable
    assert error.reason == f"sftp 127.0.0.1:{sftp.port}: login refused for user 'relay'"


def test_sftp_unknown_key_and_bad_key_text_are_final(sftp: Sftp) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode()
    assert not _failure(sftp.dest(password=None, private_key=stranger)).retryable
    error = _failure(sftp.dest(password=None, private_key="-----BEGIN OPENSSH PRIVATE KEY-----\ngarbage\n"))
    assert not error.retryable and "private key cannot be read" in error.reason


def test_sftp_unreadable_known_hosts_is_final(sftp: Sftp) -> None:
    error = _failure(sftp.dest(known_hosts="just-a-host-name\n"))
    assert not error.retryable and "known_hosts cannot be read" in error.reason


@pytest.mark.parametrize("name", ["../escape.csv", "sub/leads.csv", ".hidden.csv", ""])
def test_unsafe_file_names_are_refused_before_connecting(name: str) -> None:
    dest = SftpDestination(host="127.0.0.1", port=_closed_port(), username=USER, password=PASSWORD)
    error = _failure(dest, name)
    assert not error.retryable and "unsafe file name" in error.reason


def test_sftp_missing_directory_is_final(sftp: Sftp) -> None:
    error = _failure(
        SftpDestination(host="127.0.0.1", port=sftp.port, username=USER, password=PASSWORD, directory="nope")
    )
    assert not error.retryable and "nope/leads.csv" in error.reason


def test_sftp_closed_port_and_silence_are_retryable(silent_port: int) -> None:
    refused = _failure(
        SftpDestination(host="127.0.0.1", port=_closed_port(), username=USER, password=PASSWORD)
    )
    assert refused.retryable and refused.reason.endswith("Connection refused")
    silent = _failure(
        SftpDestination(host="127.0.0.1", port=silent_port, username=USER, password=PASSWORD, timeout_s=0.5)
    )
    assert silent.retryable and "timed out" in silent.reason


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
        directory = f"t{uuid.uuid4().hex[:8]}"
        (self.root / directory).mkdir()
        options: dict[str, Any] = {
            "host": "127.0.0.1",
            "port": self.port,
            "username": USER,
            "password": PASSWORD,
        }
        ca = {"ca_cert": self.ca_pem} if self.tls else {}
        return FtpDestination(
            **{"directory": directory, "tls": self.tls, "timeout_s": 5, **ca, **options, **overrides}
        )


def _self_signed(directory: Path) -> tuple[Path, str]:
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


@pytest.fixture(scope="module", params=["ftp", "ftps"])
def ftp(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ftp]:
    root = tmp_path_factory.mktemp(request.param)
    tls = request.param == "ftps"
    certfile, ca_pem = _self_signed(tmp_path_factory.mktemp("cert"))
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
    server = FTPServer(("127.0.0.1", 0), Handler)
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


def test_ftp_upload_lands_whole_through_a_part_file(ftp: Ftp) -> None:
    dest = ftp.dest()
    ftp.log.clear()
    result = _upload(dest)
    final = ftp.root / dest.directory / "leads.csv"
    assert final.read_bytes() == DATA
    assert list((ftp.root / dest.directory).iterdir()) == [final]
    scheme = "ftps" if ftp.tls else "ftp"
    assert result.location == f"{scheme}://127.0.0.1:{ftp.port}/{dest.directory}/leads.csv"
    commands = [entry for entry in ftp.log if entry[0] in ("AUTH", "PROT", "STOR", "RNFR", "RNTO")]
    expected = [("STOR", "leads.csv.part"), ("RNFR", "leads.csv.part"), ("RNTO", "leads.csv")]
    assert commands == ([("AUTH", "TLS"), ("PROT", "P")] if ftp.tls else []) + expected


def test_ftp_replaces_an_existing_file_and_active_mode_works(ftp: Ftp) -> None:
    dest = ftp.dest(passive=False)
    _upload(dest, data=b"old, longer content\n")
    _upload(dest, data=b"new\n")
    assert (ftp.root / dest.directory / "leads.csv").read_bytes() == b"new\n"


def test_ftp_replaces_a_file_on_servers_that_refuse_to_rename_over_one(ftp: Ftp) -> None:
    dest = ftp.dest()
    _upload(dest, data=b"old\n")
    ftp.quirks["no_overwrite"] = True
    try:
        ftp.log.clear()
        _upload(dest, data=b"new\n")
        assert (ftp.root / dest.directory / "leads.csv").read_bytes() == b"new\n"
        assert [p.name for p in (ftp.root / dest.directory).iterdir()] == ["leads.csv"]
        renames = [arg for cmd, arg in ftp.log if cmd in ("RNFR", "RNTO", "DELE")]
        assert renames == [
            *("leads.csv.part", "leads.csv"),  # refused: there is a leads.csv
            *("leads.csv", "leads.csv.replaced", "leads.csv.part", "leads.csv", "leads.csv.replaced"),
        ]
        other = ftp.dest(username="renamer")  # may store but not rename: the refusal stands, no .part left
        (ftp.root / other.directory / "leads.csv").write_bytes(b"kept\n")
        error = _failure(other)
        assert not error.retryable and "550" in error.reason
        assert [p.name for p in (ftp.root / other.directory).iterdir()] == ["leads.csv"]
        assert (ftp.root / other.directory / "leads.csv").read_bytes() == b"kept\n"
    finally:
        ftp.quirks["no_overwrite"] = False


def test_ftp_wrong_password_is_final_and_secret(ftp: Ftp) -> None:
    error = _failure(ftp.dest(password="wrong-Pa55word"))
    assert not error.retryable and "login refused for user 'relay'" in error.reason


def test_ftp_permission_denied_is_final(ftp: Ftp) -> None:
    dest = ftp.dest(username="reader")
    error = _failure(dest)
    assert not error.retryable and "550" in error.reason
    assert list((ftp.root / dest.directory).iterdir()) == []


def test_ftp_missing_directory_is_final(ftp: Ftp) -> None:
    error = _failure(ftp.dest(directory="nope"))
    assert not error.retryable and "refused" in error.reason


def test_ftps_needs_a_trusted_certificate_and_a_tls_server(ftp: Ftp) -> None:
    if ftp.tls:
        error = _failure(ftp.dest(ca_cert=None))
        assert not error.retryable and "certificate not trusted" in error.reason
    else:
        error = _failure(ftp.dest(tls=True))
        assert not error.retryable and "refused AUTH TLS" in error.reason


def test_ftp_closed_port_and_silence_are_retryable(silent_port: int) -> None:
    for tls in (False, True):
        closed = FtpDestination(
            host="127.0.0.1", port=_closed_port(), username=USER, password=PASSWORD, tls=tls
        )
        refused = _failure(closed)
        assert refused.retryable and refused.reason.endswith("Connection refused")
        silent = FtpDestination(
            host="127.0.0.1", port=silent_port, username=USER, password=PASSWORD, tls=tls, timeout_s=0.5
        )
        timed_out = _failure(silent)
        assert timed_out.retryable and "timed out" in timed_out.reason


# --- S3 ----------------------------------------------------------------------------------------------


@dataclass
class S3:
    endpoint: str
    client: Any

    def dest(self, bucket: str, **overrides: Any) -> S3Destination:
        options: dict[str, Any] = {"endpoint_url": self.endpoint, "access_key_id": "testing"}
        return S3Destination(
            bucket, **{"secret_access_key": "not-the-secret-key", "timeout_s": 10, **options, **overrides}
        )


@pytest.fixture(scope="module")
def s3() -> Iterator[S3]:
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
                aws_secret_access_key="not-the-secret-key",
            )
            yield S3(endpoint, client)
            client.close()
        finally:
            server.stop()


def test_s3_upload_lands_under_the_prefix(s3: S3) -> None:
    bucket = f"leads-{uuid.uuid4().hex[:8]}"
    s3.client.create_bucket(Bucket=bucket)
    result = _upload(s3.dest(bucket, prefix="/daily/sunco/"))
    assert result.location == f"s3://{bucket}/daily/sunco/leads.csv"
    stored = s3.client.get_object(Bucket=bucket, Key="daily/sunco/leads.csv")
    assert stored["Body"].read() == DATA
    assert stored["ContentType"] == "text/csv; charset=utf-8"
    _upload(s3.dest(bucket), name="book.xlsx", data=b"PK\x03\x04")
    assert s3.client.head_object(Bucket=bucket, Key="book.xlsx")["ContentType"].endswith(
        "spreadsheetml.sheet"
    )


def test_s3_missing_bucket_is_final(s3: S3) -> None:
    error = _failure(s3.dest("no-such-bucket-here"))
    assert not error.retryable and "no such bucket 'no-such-bucket-here'" in error.reason


def test_s3_closed_port_is_retryable() -> None:
    dest = S3Destination(
        "leads",
        endpoint_url=f"http://127.0.0.1:{_closed_port()}",
        access_key_id="k",
        secret_access_key="not-the-secret-key",
    )
    assert _failure(dest).retryable


def _http_server(status: int, body: bytes) -> Callable[[], Iterator[str]]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # answers the SDK's "Expect: 100-continue" at once

        def do_PUT(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            self.send_response(status)
            self.send_header("Content-Type", "application/xml")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    def serve() -> Iterator[str]:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=WAIT_S)

    return serve


@pytest.mark.parametrize(
    ("status", "code", "retryable"),
    [(503, "SlowDown", True), (500, "InternalError", True), (403, "AccessDenied", False)],
)
def test_s3_server_errors_are_retryable_and_refusals_final(status: int, code: str, retryable: bool) -> None:
    body = f"<Error><Code>{code}</Code><Message>said no</Message></Error>".encode()
    serve = _http_server(status, body)()
    endpoint = next(serve)
    try:
        dest = S3Destination(
            "leads", endpoint_url=endpoint, access_key_id="k", secret_access_key="not-the-secret-key"
        )
        error = _failure(dest)
        assert error.retryable is retryable
        assert f"({code}, HTTP {status})" in error.reason
    finally:
        serve.close()
