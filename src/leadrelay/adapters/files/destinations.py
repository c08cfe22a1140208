"""Uploading a finished batch file to a partner's SFTP server, FTP(S) server or S3 bucket.

A reader never sees half a file: SFTP and FTP write ``name.part`` and rename it into place (S3's put is
atomic by itself). Every failure becomes ``UploadError(reason, retryable)``: refused credentials, an
untrusted host key or certificate, a missing directory or bucket will not fix themselves; a refused
connection, a timeout or a server error might. Reasons never contain a password or a key.

FTP (stdlib ``ftplib``) and S3 (boto3) block, so they run in a worker thread with socket timeouts; the
per-destination ``timeout_s`` bounds the whole upload. A thread outliving that deadline may still finish
the upload, so a retry can deliver the same file twice: delivery is at least once.
"""

from __future__ import annotations

import asyncio
import contextlib
import ftplib
import io
import os
import posixpath
import socket
import ssl
import time
from typing import Any

import asyncssh
import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, PartialCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError

from leadrelay.adapters.files.results import UploadError, UploadResult
from leadrelay.adapters.files.writers import MEDIA_TYPES
from leadrelay.domain.files import Destination, FtpDestination, S3Destination, SftpDestination, check_filename

__all__ = ["OLD_SUFFIX", "PART_SUFFIX", "UploadError", "UploadResult", "upload"]

PART_SUFFIX = ".part"
OLD_SUFFIX = ".replaced"  # where a server cannot rename over a file, the old one waits here meanwhile
_SFTP_FINAL = {  # SFTP status codes that no retry will change
    asyncssh.FX_PERMISSION_DENIED,
    asyncssh.FX_NO_SUCH_FILE,
    asyncssh.FX_NO_SUCH_PATH,
    asyncssh.FX_WRITE_PROTECT,
    asyncssh.FX_INVALID_FILENAME,
    asyncssh.FX_NOT_A_DIRECTORY,
    asyncssh.FX_FILE_IS_A_DIRECTORY,
    asyncssh.FX_OP_UNSUPPORTED,
}
_S3_RETRYABLE = {"SlowDown", "RequestTimeout", "Throttling", "InternalError", "ServiceUnavailable"}


async def upload(dest: Destination, filename: str, data: bytes) -> UploadResult:
    """Put ``data`` at ``filename`` in ``dest``, replacing a file of that name, within ``dest.timeout_s``."""
    # "from None" on every error that leaves here: the causes below are servers' and libraries' own errors,
    # which may echo the password or key that went out; a reason is scrubbed, a cause would not be
    try:
        check_filename(filename)
    except ValueError as exc:
        raise UploadError(str(exc), retryable=False) from None
    started = time.perf_counter()
    try:
        async with asyncio.timeout(dest.timeout_s):
            if isinstance(dest, SftpDestination):
                location = await _sftp(dest, filename, data)
            elif isinstance(dest, FtpDestination):
                location = await asyncio.to_thread(_ftp, dest, filename, data)
            else:
                location = await asyncio.to_thread(_s3, dest, filename, data)
    except UploadError as exc:
        raise UploadError(_scrub(exc.reason, dest), exc.retryable) from None
    except TimeoutError:
        raise UploadError(f"{_where(dest)}: timed out after {dest.timeout_s:g}s", retryable=True) from None
    return UploadResult(location, len(data), round((time.perf_counter() - started) * 1000, 3))


# --- SFTP -------------------------------------------------------------------------------------------


class _PinnedHostKey(asyncssh.SSHClient):
    """Trusts a server whose host key has the configured fingerprint."""

    def __init__(self, fingerprint: str) -> None:
        self._fingerprint = fingerprint

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        algorithm = "md5" if self._fingerprint.startswith("MD5:") else "sha256"
        return bool(key.get_fingerprint(algorithm) == self._fingerprint)


async def _sftp(dest: SftpDestination, filename: str, data: bytes) -> str:
    path = posixpath.join(dest.directory, filename)
    part = path + PART_SUFFIX
    known_hosts: Any = None  # None: accept any host key
    if dest.host_key is not None:
        known_hosts = ([], [], [])  # trust nothing up front; _PinnedHostKey decides
    if dest.known_hosts is not None:
        try:
            known_hosts = asyncssh.import_known_hosts(dest.known_hosts)
        except ValueError as exc:
            raise UploadError(f"sftp: known_hosts cannot be read ({exc})", False) from exc
    try:
        keys = [asyncssh.import_private_key(dest.private_key)] if dest.private_key else None
        async with (
            asyncssh.connect(
                dest.host,
                dest.port,
                username=dest.username,
                password=dest.password,
                client_keys=keys,
                known_hosts=known_hosts,
                client_factory=(lambda: _PinnedHostKey(dest.host_key)) if dest.host_key else None,
                agent_path=None,  # never the operator's own agent, keys or ~/.ssh/config
                config=None,
                connect_timeout=dest.timeout_s,
                login_timeout=dest.timeout_s,
            ) as conn,
            conn.start_sftp_client() as sftp,
        ):
            try:
                async with sftp.open(part, "wb") as remote:
                    await remote.write(data)
                await _sftp_replace(sftp, part, path)
            except (OSError, asyncssh.Error):
                with contextlib.suppress(OSError, asyncssh.Error):
                    await sftp.remove(part)
                raise
    except asyncssh.KeyImportError as exc:
        raise UploadError(f"sftp: the private key cannot be read ({exc})", False) from exc
    except asyncssh.PermissionDenied as exc:
        raise UploadError(f"{_where(dest)}: login refused for user {dest.username!r}", False) from exc
    except asyncssh.HostKeyNotVerifiable as exc:
        raise UploadError(f"{_where(dest)}: host key not trusted ({exc.reason})", False) from exc
    except asyncssh.SFTPError as exc:
        final = exc.code in _SFTP_FINAL
        raise UploadError(
            f"{_where(dest)}: {path!r}: {exc.reason} (SFTP status {exc.code})", not final
        ) from exc
    except asyncssh.Error as exc:  # disconnects, refused channels: worth another try
        raise UploadError(f"{_where(dest)}: {type(exc).__name__}: {exc.reason}", True) from exc
    except OSError as exc:
        raise UploadError(f"{_where(dest)}: {_os_reason(exc)}", True) from exc
    return f"sftp://{_hostport(dest.host, dest.port, 22)}/{path.removeprefix('./').lstrip('/')}"


async def _sftp_replace(sftp: asyncssh.SFTPClient, part: str, path: str) -> None:
    """Rename over ``path``: POSIX rename where the server has it, else move the old file aside first."""
    try:
        await sftp.posix_rename(part, path)
        return
    except asyncssh.SFTPOpUnsupported:
        pass
    if not await sftp.exists(path):
        await sftp.rename(part, path)
        return
    await sftp.rename(path, path + OLD_SUFFIX)
    try:
        await sftp.rename(part, path)
    except asyncssh.SFTPError:
        with contextlib.suppress(OSError, asyncssh.Error):
            await sftp.rename(path + OLD_SUFFIX, path)
        raise
    with contextlib.suppress(OSError, asyncssh.Error):
        await sftp.remove(path + OLD_SUFFIX)


# --- FTP / FTPS -------------------------------------------------------------------------------------


def _ftp(dest: FtpDestination, filename: str, data: bytes) -> str:
    scheme = "ftps" if dest.tls else "ftp"
    ftp: ftplib.FTP
    if dest.tls:
        context = ssl.create_default_context(cadata=dest.ca_cert) if dest.ca_cert else None
        ftp = ftplib.FTP_TLS(context=context or ssl.create_default_context(), timeout=dest.timeout_s)
    else:
        ftp = ftplib.FTP(timeout=dest.timeout_s)
    part = filename + PART_SUFFIX
    try:
        ftp.connect(dest.host, dest.port)
        if isinstance(ftp, ftplib.FTP_TLS):
            try:
                ftp.auth()
            except ftplib.error_perm as exc:
                raise UploadError(f"{_where(dest)}: the server refused AUTH TLS: {exc}", False) from exc
        try:
            ftp.login(dest.username, dest.password)
        except ftplib.error_perm as exc:
            raise UploadError(
                f"{_where(dest)}: login refused for user {dest.username!r}: {exc}", False
            ) from exc
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()  # the file travels encrypted too
        ftp.set_pasv(dest.passive)
        if dest.directory not in ("", "."):
            ftp.cwd(dest.directory)
        try:
            ftp.storbinary(f"STOR {part}", io.BytesIO(data))
            _ftp_replace(ftp, part, filename)
        except (OSError, EOFError, ftplib.Error):
            with contextlib.suppress(OSError, EOFError, ftplib.Error):
                ftp.delete(part)
            raise
        with contextlib.suppress(OSError, EOFError, ftplib.Error):
            ftp.quit()
    except ftplib.error_perm as exc:
        raise UploadError(f"{_where(dest)}: refused: {exc}", False) from exc
    except (ftplib.error_temp, ftplib.error_reply, ftplib.error_proto, EOFError) as exc:
        raise UploadError(f"{_where(dest)}: {type(exc).__name__}: {exc}", True) from exc
    except ssl.SSLCertVerificationError as exc:
        raise UploadError(f"{_where(dest)}: certificate not trusted: {exc.verify_message}", False) from exc
    except OSError as exc:
        raise UploadError(f"{_where(dest)}: {_os_reason(exc)}", True) from exc
    finally:
        ftp.close()
    path = posixpath.join(dest.directory, filename).removeprefix("./").lstrip("/")
    return f"{scheme}://{_hostport(dest.host, dest.port, 21)}/{path}"


def _ftp_replace(ftp: ftplib.FTP, part: str, name: str) -> None:
    """Rename over ``name``; where the server refuses that, move the old file aside first, never delete it
    before the new one is in place (a server that allows no renaming at all keeps its old file)."""
    try:
        ftp.rename(part, name)
        return
    except ftplib.error_perm as refused:
        try:
            ftp.rename(name, name + OLD_SUFFIX)
        except ftplib.error_perm:
            raise refused from None  # the first refusal is the news; the fallback's own is not
    try:
        ftp.rename(part, name)
    except ftplib.error_perm:
        with contextlib.suppress(OSError, EOFError, ftplib.Error):
            ftp.rename(name + OLD_SUFFIX, name)
        raise
    with contextlib.suppress(OSError, EOFError, ftplib.Error):
        ftp.delete(name + OLD_SUFFIX)


# --- S3 ---------------------------------------------------------------------------------------------


def _s3(dest: S3Destination, filename: str, data: bytes) -> str:
    prefix = dest.prefix.strip("/")
    key = f"{prefix}/{filename}" if prefix else filename
    config = Config(
        connect_timeout=dest.timeout_s,
        read_timeout=dest.timeout_s,
        retries={"total_max_attempts": 1},  # the delivery's own retry policy decides, not the SDK
        s3={"addressing_style": "path"} if dest.endpoint_url else None,
        request_checksum_calculation="when_required" if dest.endpoint_url else "when_supported",
    )
    session = boto3.session.Session(dest.access_key_id, dest.secret_access_key, region_name=dest.region)
    media_type = MEDIA_TYPES.get(filename.rpartition(".")[2].lower(), "application/octet-stream")
    try:
        client = session.client("s3", endpoint_url=dest.endpoint_url, config=config)
        try:
            client.put_object(Bucket=dest.bucket, Key=key, Body=data, ContentType=media_type)
        finally:
            client.close()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "?")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        retryable = status >= 500 or status in (408, 429) or code in _S3_RETRYABLE
        what = f"no such bucket {dest.bucket!r}" if code == "NoSuchBucket" else error.get("Message", code)
        raise UploadError(f"{_where(dest)}: {what} ({code}, HTTP {status})", retryable) from exc
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise UploadError(f"{_where(dest)}: no usable credentials ({exc})", False) from exc
    except BotoConnectionError as exc:  # refused, timed out, closed: worth another try
        raise UploadError(f"{_where(dest)}: {type(exc).__name__}: {exc}", True) from exc
    except BotoCoreError as exc:  # a bad parameter or configuration
        raise UploadError(f"{_where(dest)}: {exc}", False) from exc
    return f"s3://{dest.bucket}/{key}"


# --- helpers ----------------------------------------------------------------------------------------


def _where(dest: Destination) -> str:
    if isinstance(dest, S3Destination):
        return f"s3 bucket {dest.bucket!r}" + (f" at {dest.endpoint_url}" if dest.endpoint_url else "")
    scheme = "sftp" if isinstance(dest, SftpDestination) else "ftps" if dest.tls else "ftp"
    return f"{scheme} {dest.host}:{dest.port}"


def _hostport(host: str, port: int, default: int) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port == default else f"{host}:{port}"


def _os_reason(exc: OSError) -> str:
    if isinstance(exc, TimeoutError):
        return "timed out"
    if isinstance(exc, socket.gaierror):
        return f"cannot resolve the host name ({exc.strerror})"
    if exc.errno and exc.errno > 0:
        return os.strerror(exc.errno)  # "Connection refused", not "Connect call failed ('10.0.0.1', 22)"
    return exc.strerror or str(exc) or type(exc).__name__


def _scrub(text: str, dest: Destination) -> str:
    """A server may echo what it was sent: no secret leaves in a reason, whatever happened."""
    for name in ("password", "private_key", "secret_access_key"):
        secret = getattr(dest, name, None)
        if isinstance(secret, str) and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text
