"""``leadrelay.services.ports.FileSender`` for the batch loop: files rendered by ``render_file`` and shipped
by ``ship`` (SFTP, FTP/FTPS, S3, or mailed through the SMTP settings in force).

The shipping module (asyncssh, boto3: tens of megabytes) is imported when a file is first sent, not by
every process that builds this object.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from leadrelay.adapters.channels.email import SmtpSettings
from leadrelay.adapters.channels.guard import TargetGuard
from leadrelay.adapters.files.writers import render_file
from leadrelay.domain.files import EmailDestination, FileFormat, UploadResult
from leadrelay.domain.model import FileChannel

__all__ = ["FileShipper"]


class FileShipper:
    """Renders batch files and ships them. ``smtp`` gives the SMTP settings in force when a file is mailed
    (it raises ``UploadError`` when they cannot be used); the ``guard`` refuses SFTP/FTP hosts and S3
    endpoints in private networks, as it does webhooks."""

    def __init__(
        self,
        smtp: Callable[[], Awaitable[SmtpSettings]] | None = None,
        *,
        guard: TargetGuard | None = None,
    ) -> None:
        self.smtp = smtp
        self.guard = guard

    def render(self, fmt: FileFormat, rows: Sequence[Mapping[str, Any]]) -> bytes:
        return render_file(fmt, rows)

    async def send(
        self, spec: FileChannel, name: str, data: bytes, *, subject: str, summary: str, key: str
    ) -> UploadResult:
        mailed = isinstance(spec.destination, EmailDestination)
        settings = await self.smtp() if mailed and self.smtp is not None else SmtpSettings()
        from leadrelay.adapters.files.shipping import ship

        return await ship(
            spec, name, data, subject=subject, summary=summary, key=key, smtp=settings, guard=self.guard
        )
