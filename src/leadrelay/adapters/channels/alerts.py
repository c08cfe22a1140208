"""Sending alert messages: by email through the installation's SMTP settings (the configuration's ``smtp``
section, else the environment's), and as a JSON POST to a webhook, signed the Standard Webhooks way when the
rule gives a secret. Every target is tried; each one's outcome is returned, transport trouble never
raised (``leadrelay.services.ports.alerts.AlertTransport``).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

import aiohttp
import orjson

from leadrelay.adapters.channels.credentials import resolve_env, sign
from leadrelay.adapters.channels.email import SmtpFailure, smtp_send
from leadrelay.adapters.channels.guard import TargetGuard, blocked
from leadrelay.domain.alerts import AlertMessage, AlertSpec, WebhookTarget
from leadrelay.domain.partner_auth import SigningSpec
from leadrelay.domain.smtp import SmtpSettings
from leadrelay.errors import ConfigError
from leadrelay.services.ports.alerts import Sent

__all__ = ["AlertSender"]

_TIMEOUT_S = 10.0
_USER_AGENT = "leadrelay/0.1 (alerts)"


class AlertSender:
    """``smtp``: the SMTP settings in force (raises ``ConfigError`` when they cannot be used);
    ``guard``: where HTTP may go (every outbound connection is checked against private networks)."""

    def __init__(
        self, smtp: Callable[[], Awaitable[SmtpSettings]], guard: TargetGuard, timeout_s: float = _TIMEOUT_S
    ) -> None:
        self._smtp = smtp
        self._guard = guard
        self._timeout = timeout_s

    async def send(self, spec: AlertSpec, message: AlertMessage) -> Sequence[Sent]:
        jobs: list[Awaitable[Sent]] = []
        if spec.emails:
            jobs.append(self._mail(spec.emails, message))
        if spec.webhook is not None:
            jobs.append(self._post(spec.webhook, message))
        return list(await asyncio.gather(*jobs))

    async def _mail(self, to: Sequence[str], message: AlertMessage) -> Sent:
        target = "mailto:" + ",".join(to)
        try:
            settings = await self._smtp()
        except ConfigError as exc:
            return Sent(target, f"SMTP settings: {exc.detail}")
        mail = EmailMessage()
        mail["From"] = settings.sender
        mail["To"] = ", ".join(to)
        mail["Subject"] = " ".join(message.subject.split())
        mail["Date"] = formatdate(message.at.timestamp(), usegmt=True)
        domain = settings.sender.rpartition("@")[2].strip(" >") or "leadrelay"
        mail["Message-ID"] = make_msgid(message.event_id, domain=domain)
        mail["X-Leadrelay-Alert"] = message.alert
        mail["X-Leadrelay-Alert-State"] = str(message.state)
        mail.set_content(message.text())
        try:
            refused, _ = await smtp_send(settings, mail, to)
        except SmtpFailure as exc:
            return Sent(target, exc.reason)
        except (ValueError, TypeError) as exc:  # a header the email package refuses
            return Sent(target, f"invalid message: {exc}")
        if refused:
            return Sent(
                target, "refused: " + "; ".join(f"{a}: {r.code} {r.message}" for a, r in refused.items())
            )
        return Sent(target)

    async def _post(self, hook: WebhookTarget, message: AlertMessage) -> Sent:
        body = orjson.dumps(message.payload())
        headers = {"Content-Type": "application/json", "User-Agent": _USER_AGENT}
        try:
            if hook.secret is not None:
                signing = resolve_env(SigningSpec(hook.secret))
                sign(signing, message.event_id, int(time.time()), body, headers)  # verifiers want it fresh
        except ValueError as exc:
            return Sent(hook.url, f"signing: {exc}")
        try:
            async with (
                self._guard.session(limit=4) as session,
                session.post(
                    hook.url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=self._timeout)
                ) as answer,
            ):
                await answer.read()
                if 200 <= answer.status < 300:
                    return Sent(hook.url)
                return Sent(hook.url, f"HTTP {answer.status}")
        except TimeoutError:
            return Sent(hook.url, f"timed out after {self._timeout:g}s")
        except aiohttp.ClientError as exc:
            refusal = blocked(exc)
            return Sent(hook.url, str(refusal) if refusal is not None else f"connection error: {exc}")
        except (OSError, ValueError) as exc:
            return Sent(hook.url, f"connection error: {exc}")
