"""What an upload or a mailed file comes to: a result, or an error saying whether to try again.

Both are pure values and live in ``leadrelay.domain.files`` (the services use them); they are importable
from here too. Kept apart from the destinations so that importing them (asyncssh, boto3: tens of
megabytes) is left to the process that actually sends a file.
"""

from __future__ import annotations

from leadrelay.domain.files import UploadError, UploadResult

__all__ = ["UploadError", "UploadResult"]
