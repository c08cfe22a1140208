"""Uploads against real servers on 127.0.0.1: asyncssh SFTP, pyftpdlib FTP and FTPS, moto's S3 server."""

from __future__ import annotations

import asyncio
import http.server
import threading
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import asyncssh
import pytest

from leadrelay.adapters.files.destinations import UploadError, UploadResult, upload
from leadrelay.domain.files import Destination, FtpDestination, S3Destination, SftpDestination
from tests.file_servers import PASSWORD, S3, USER, WAIT_S, Ftp, Sftp
from tests.support import free_port

DATA = "first_name,monthly_bill\r\nZoë,120\r\n".encode()


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


# --- SFTP --------------------------------------------------------------------------------------------


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
    dest = SftpDestination(host="127.0.0.1", port=free_port(), username=USER, password=PASSWORD)
    error = _failure(dest, name)
    assert not error.retryable and "unsafe file name" in error.reason


def test_sftp_missing_directory_is_final(sftp: Sftp) -> None:
    error = _failure(
        SftpDestination(host="127.0.0.1", port=sftp.port, username=USER, password=PASSWORD, directory="nope")
    )
    assert not error.retryable and "nope/leads.csv" in error.reason


def test_sftp_closed_port_and_silence_are_retryable(silent_port: int) -> None:
    refused = _failure(SftpDestination(host="127.0.0.1", port=free_port(), username=USER, password=PASSWORD))
    assert refused.retryable and refused.reason.endswith("Connection refused")
    silent = _failure(
        SftpDestination(host="127.0.0.1", port=silent_port, username=USER, password=PASSWORD, timeout_s=0.5)
    )
    assert silent.retryable and "timed out" in silent.reason


# --- FTP and FTPS ------------------------------------------------------------------------------------


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
        closed = FtpDestination(host="127.0.0.1", port=free_port(), username=USER, password=PASSWORD, tls=tls)
        refused = _failure(closed)
        assert refused.retryable and refused.reason.endswith("Connection refused")
        silent = FtpDestination(
            host="127.0.0.1", port=silent_port, username=USER, password=PASSWORD, tls=tls, timeout_s=0.5
        )
        timed_out = _failure(silent)
        assert timed_out.retryable and "timed out" in timed_out.reason


# --- S3 ----------------------------------------------------------------------------------------------


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
        endpoint_url=f"http://127.0.0.1:{free_port()}",
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
