"""How a lead or a batch file leaves: the transports the adapters in ``leadrelay.adapters.channels``
implement."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from leadrelay.domain.attempts import AttemptResult, LeadView
from leadrelay.domain.files import FileFormat, UploadResult
from leadrelay.domain.model import ChannelSpec, FileChannel


class Channel(Protocol):
    """Sends one lead to one partner through one transport; never raises for transport trouble."""

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult: ...

    async def close(self) -> None: ...


class FileSender(Protocol):
    """Renders a batch file and sends it where its channel says: uploaded (SFTP, FTP/FTPS, S3) or mailed."""

    def render(self, fmt: FileFormat, rows: Sequence[Mapping[str, Any]]) -> bytes: ...

    async def send(
        self, spec: FileChannel, name: str, data: bytes, *, subject: str, summary: str, key: str
    ) -> UploadResult:
        """Raises ``UploadError`` saying whether a later attempt may succeed. ``key`` names the batch
        (a mail's Message-ID is made from it)."""
        ...
