"""One :class:`~leadrelay.services.ports.Channel` for every channel kind: picks the sender by spec type."""

from __future__ import annotations

from leadrelay.adapters.channels.email import EmailSender, SmtpSettings
from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import ChannelSpec, EmailChannel, WebhookChannel


class Channels:
    """The composition root's channel: a shared webhook sender and an email sender."""

    def __init__(
        self,
        webhook: WebhookSender | None = None,
        email: EmailSender | None = None,
        *,
        smtp: SmtpSettings | None = None,
    ) -> None:
        self.webhook = webhook or WebhookSender()
        self.email = email or EmailSender(smtp)

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult:
        if isinstance(spec, WebhookChannel):
            return await self.webhook.send(lead, spec)
        if isinstance(spec, EmailChannel):
            return await self.email.send(lead, spec)
        return AttemptResult(Outcome.ERROR, reason=f"unsupported channel: {type(spec).__name__}")

    async def close(self) -> None:
        try:
            await self.webhook.close()
        finally:
            await self.email.close()
