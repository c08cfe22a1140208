"""What an upload or a mailed file comes to: a result, or an error saying whether to try again.

Kept apart from the destinations so that importing them (asyncssh, boto3: tens of megabytes) is left to
the process that actually sends a file.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["UploadError", "UploadResult"]


@dataclass(frozen=True, slots=True)
class UploadResult:
    location: str  # sftp://host/dir/file.csv, ftps://…, s3://bucket/key, mailto:…
    bytes: int
    duration_ms: float


class UploadError(Exception):
    """The upload failed; ``retryable`` says whether trying again later may succeed."""

    def __init__(self, reason: str, retryable: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retryable = retryable
