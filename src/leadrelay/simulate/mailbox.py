"""A demo mailbox: an SMTP server on loopback that keeps what it receives (aiosmtpd).

`make run` starts it beside the simulated buyers so the demo's email partner has somewhere to deliver.
"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session


@dataclass
class Mailbox:
    """Messages received, newest last (subject, recipients, size); bounded to the last 1,000."""

    messages: list[dict[str, Any]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        self.messages.append(
            {"to": list(envelope.rcpt_tos), "subject": str(parsed.get("Subject", "")), "size": len(raw)}
        )
        del self.messages[:-1000]
        print(f"mailbox: message for {', '.join(envelope.rcpt_tos)}: {parsed.get('Subject', '')}", flush=True)
        return "250 Message accepted for delivery"


def start_mailbox(host: str, port: int) -> tuple[Controller, Mailbox]:
    if host not in ("127.0.0.1", "::1", "localhost"):
        raise ValueError(f"the demo mailbox listens on loopback only, not {host!r}")
    box = Mailbox()
    controller = Controller(box, hostname=host, port=port)
    controller.start()
    return controller, box
