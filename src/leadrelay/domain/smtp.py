"""SMTP settings as data: where and how mail is sent (the email channel, digests and batch files by mail).

The environment gives the defaults (``LEADRELAY_SMTP_*``); a configuration's ``smtp`` section replaces
them. The adapter in ``leadrelay.adapters.channels.email`` does the sending.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = ["DEFAULT_PORTS", "SECURITY", "Security", "SmtpSettings"]

Security = Literal["none", "starttls", "tls"]
SECURITY: tuple[str, ...] = ("none", "starttls", "tls")
DEFAULT_PORTS: dict[str, int] = {"none": 25, "starttls": 587, "tls": 465}
"""The port when none is set, by security (the configuration's ``smtp`` section and the environment's)."""


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    """Where and how to send mail; the password never shows in ``repr``."""

    host: str = "127.0.0.1"
    port: int = 25
    security: Security = "none"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    sender: str = "leadrelay@localhost"
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.security not in SECURITY:
            raise ValueError(f"security must be one of {', '.join(SECURITY)}, not {self.security!r}")
