"""The channels' SMTP settings follow the configuration in force: its ``smtp`` section when it has one
(resolved once per version), else the environment; an unusable section is an error result for an email
delivery and a retryable upload error for a batch."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from leadrelay.adapters.channels.configured import ConfiguredChannels, env_smtp
from leadrelay.adapters.files.results import UploadError
from leadrelay.config import Settings
from leadrelay.domain.attempts import LeadView, Outcome
from leadrelay.domain.model import EmailChannel
from leadrelay.domain.smtp import SmtpSettings
from leadrelay.errors import ConfigError, ConfigProblem


@dataclass
class Specs:
    smtp: dict[str, Any] | None = None


@dataclass
class Live:
    version: int = 1
    specs: Specs = field(default_factory=Specs)


def settings() -> Settings:
    return Settings(smtp_host="mail.env.test", smtp_port=2525, smtp_sender="env@example.com")


def channels(live: Live, resolved: list[Mapping[str, Any]]) -> ConfiguredChannels:
    async def in_force() -> Live:
        return live

    def resolve(smtp: Mapping[str, Any]) -> SmtpSettings:
        resolved.append(smtp)
        if smtp.get("host") == "${MISSING}":
            raise ConfigError([ConfigProblem("smtp.default.host", "MISSING is not set")])
        return SmtpSettings(host=smtp["host"])

    return ConfiguredChannels(settings(), in_force, resolve)


def test_the_environment_without_an_smtp_section() -> None:
    resolved: list[Mapping[str, Any]] = []
    configured = channels(Live(), resolved)
    smtp = asyncio.run(configured.smtp())
    assert smtp == env_smtp(settings())
    assert (smtp.host, smtp.port, smtp.sender) == ("mail.env.test", 2525, "env@example.com")
    assert resolved == []


def test_the_section_resolved_once_per_version() -> None:
    resolved: list[Mapping[str, Any]] = []
    live = Live(specs=Specs(smtp={"host": "mail.config.test"}))
    configured = channels(live, resolved)

    async def twice() -> tuple[SmtpSettings, SmtpSettings]:
        return await configured.smtp(), await configured.smtp()

    first, second = asyncio.run(twice())
    assert first.host == second.host == "mail.config.test"
    assert len(resolved) == 1
    live.version, live.specs = 2, Specs()
    assert asyncio.run(configured.smtp()).host == "mail.env.test"


def test_an_unusable_section() -> None:
    configured = channels(Live(specs=Specs(smtp={"host": "${MISSING}"})), [])
    lead = LeadView(lead_id="lead_1", entity="e", partner="p", values={}, idempotency_key="k")
    result = asyncio.run(configured.send(lead, EmailChannel(to=("a@example.com",))))
    assert result.outcome is Outcome.ERROR
    assert result.reason is not None and result.reason.startswith("SMTP settings: ")
    with pytest.raises(UploadError) as raised:
        asyncio.run(configured.smtp_for_batches())
    assert raised.value.retryable
