"""The channels of a running installation: SMTP settings follow the configuration in force.

A configuration's ``smtp`` section, when it has one, replaces the environment's ``LEADRELAY_SMTP_*``
settings; it is resolved again (its ``${ENV}`` references read) whenever the configuration's version
changes. The composition root hands in how to get the configuration in force and how to resolve the
section, so this adapter imports neither the services' cache nor the configuration package.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from leadrelay.adapters.channels.dispatch import Channels
from leadrelay.adapters.channels.guard import TargetGuard
from leadrelay.adapters.channels.webhook import WebhookSender
from leadrelay.adapters.files.results import UploadError
from leadrelay.config import Settings
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import ChannelSpec, EmailChannel
from leadrelay.domain.smtp import DEFAULT_PORTS, SmtpSettings
from leadrelay.errors import ConfigError

__all__ = ["ConfiguredChannels", "env_smtp"]


class _Specs(Protocol):
    @property
    def smtp(self) -> Mapping[str, Any] | None: ...


class InForce(Protocol):
    """What this adapter reads of the configuration in force (``services.config_in_force.LiveConfig``)."""

    @property
    def version(self) -> int: ...

    @property
    def specs(self) -> _Specs: ...


def env_smtp(settings: Settings) -> SmtpSettings:
    """The SMTP settings of the environment (``LEADRELAY_SMTP_*``); without ``LEADRELAY_SMTP_PORT`` the port
    follows the security, as in the configuration's ``smtp`` section."""
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port or DEFAULT_PORTS.get(settings.smtp_security, 25),
        security=settings.smtp_security,
        username=settings.smtp_username,
        password=password,
        sender=settings.smtp_sender,
    )


class ConfiguredChannels:
    """Channels whose SMTP settings follow the configuration in force (its ``smtp`` section, else the
    environment).

    ``in_force`` gives the configuration in force; ``resolve_smtp`` turns its ``smtp`` section into
    settings, raising ``ConfigError`` when the section cannot be used (a missing environment variable).
    """

    def __init__(
        self,
        settings: Settings,
        in_force: Callable[[], Awaitable[InForce]],
        resolve_smtp: Callable[[Mapping[str, Any]], SmtpSettings],
    ) -> None:
        self.settings = settings
        self.in_force = in_force
        self.resolve_smtp = resolve_smtp
        self.guard = TargetGuard.from_setting(
            settings.allowed_target_networks, enabled=settings.block_private_targets
        )
        self.channels = Channels(WebhookSender(guard=self.guard), smtp=env_smtp(settings))
        self._smtp_version = -1

    async def smtp(self) -> SmtpSettings:
        """The SMTP settings in force; raises ``ConfigError`` when the ``smtp`` section cannot be used."""
        live = await self.in_force()
        if live.version != self._smtp_version:
            smtp = live.specs.smtp
            self.channels.email.settings = self.resolve_smtp(smtp) if smtp else env_smtp(self.settings)
            self._smtp_version = live.version
        return self.channels.email.settings

    async def smtp_for_batches(self) -> SmtpSettings:
        """The SMTP settings in force for a batch sent by mail: an unusable ``smtp`` section is an
        ``UploadError`` worth retrying (the operator may fix the configuration meanwhile)."""
        try:
            return await self.smtp()
        except ConfigError as exc:
            raise UploadError(f"SMTP settings: {exc.detail}", retryable=True) from exc

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult:
        if isinstance(spec, EmailChannel):
            try:
                await self.smtp()
            except ConfigError as exc:
                return AttemptResult(Outcome.ERROR, reason=f"SMTP settings: {exc.detail}")
        return await self.channels.send(lead, spec)

    async def close(self) -> None:
        await self.channels.close()
