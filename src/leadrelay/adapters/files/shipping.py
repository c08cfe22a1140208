"""Sending a finished batch file where its channel says: uploaded (SFTP, FTP/FTPS, S3) or mailed.

Mail goes out as one message with the file attached and a summary as its body; its Message-ID is fixed per
batch, so a mail client shows a message sent again after a crash as the same one. Failures are
``UploadError(reason, retryable)`` like uploads: a refused recipient or a 5xx reply will not fix itself,
a lost connection or a 4xx reply may. ``${ENV_VAR}`` references in a destination are read here, at send
time, and never stored.
"""

from __future__ import annotations

import dataclasses
import time
from email.message import EmailMessage
from email.utils import formatdate
from urllib.parse import urlsplit

from leadrelay.adapters.channels.credentials import resolve_env
from leadrelay.adapters.channels.email import SmtpFailure, SmtpSettings, message_id, smtp_send
from leadrelay.adapters.channels.guard import BlockedTarget, TargetGuard
from leadrelay.adapters.crypto import is_sealed_token
from leadrelay.adapters.files.destinations import upload
from leadrelay.adapters.files.results import UploadError, UploadResult
from leadrelay.adapters.files.writers import MEDIA_TYPES
from leadrelay.domain.files import Destination, EmailDestination, S3Destination
from leadrelay.domain.model import FileChannel
from leadrelay.domain.privacy import Redactor

__all__ = ["ship"]


async def ship(
    spec: FileChannel,
    name: str,
    data: bytes,
    *,
    subject: str,
    summary: str,
    key: str,
    smtp: SmtpSettings,
    guard: TargetGuard | None = None,
) -> UploadResult:
    """Deliver one batch file; raises ``UploadError`` saying whether a later attempt may succeed. With a
    ``guard``, an SFTP/FTP host or an S3 endpoint in a private network is refused like a webhook's."""
    try:
        dest = resolve_env(spec.destination)
    except ValueError as exc:
        raise UploadError(f"destination: {exc}", retryable=False) from exc
    for f in dataclasses.fields(dest):
        value = getattr(dest, f.name)
        if isinstance(value, str) and is_sealed_token(value):  # never log in with ciphertext
            raise UploadError(
                f"destination: the stored {f.name} cannot be opened (is LEADRELAY_SECRET_KEY set, and the "
                "same as when the configuration was applied?)",
                retryable=True,
            )
    if not isinstance(dest, EmailDestination):
        await _check_target(guard, dest)
        try:
            return await upload(dest, name, data)
        except UploadError as exc:  # a server's message may quote what it was sent: never the password
            secrets = Redactor.of(secrets=_secrets_of(dest))
            raise UploadError(secrets.text(exc.reason), retryable=exc.retryable) from exc
    started = time.perf_counter()
    message = EmailMessage()
    message["From"] = smtp.sender
    message["To"] = ", ".join(dest.to)
    message["Subject"] = " ".join(subject.split())
    message["Date"] = formatdate(time.time(), usegmt=True)
    message["Message-ID"] = message_id(key, smtp.sender)
    message.set_content(summary)
    media, *parameters = (part.strip() for part in MEDIA_TYPES[spec.format.kind].split(";"))
    maintype, _, subtype = media.partition("/")
    params = dict(p.partition("=")[::2] for p in parameters)  # a CSV file says it is UTF-8
    message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name, params=params)
    try:
        refused, _ = await smtp_send(smtp, message, dest.to)
    except SmtpFailure as exc:
        raise UploadError(exc.reason, retryable=exc.retryable) from exc
    delivered = [addr for addr in dest.to if addr not in refused]
    location = "mailto:" + ",".join(delivered)
    return UploadResult(location, len(data), (time.perf_counter() - started) * 1000.0)


async def _check_target(guard: TargetGuard | None, dest: Destination) -> None:
    """The destination's host must pass the guard (AWS's own S3 endpoints are public: only an
    ``endpoint_url`` is checked); see :meth:`TargetGuard.check_host`."""
    if guard is None or not guard.enabled:
        return
    if isinstance(dest, S3Destination):
        if dest.endpoint_url is None:
            return
        parts = urlsplit(dest.endpoint_url)
        host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    else:
        host, port = dest.host, dest.port
    try:
        await guard.check_host(host, port)
    except BlockedTarget as exc:
        raise UploadError(f"destination {exc}", retryable=False) from exc
    except OSError as exc:
        raise UploadError(f"cannot resolve {host}: {exc}", retryable=True) from exc


def _secrets_of(dest: Destination) -> list[str]:
    names = ("password", "private_key", "passphrase", "secret_access_key", "session_token")
    return [value for name in names if isinstance(value := getattr(dest, name, None), str)]
