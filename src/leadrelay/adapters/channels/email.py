"""The email channel: a lead rendered into a message with sandboxed Jinja2 and sent over SMTP.

Templates come from operators' configuration, so they run in an ``ImmutableSandboxedEnvironment`` (no
Python internals, no mutation of the lead) and a broken template is an error that no retry will fix.
SMTP replies are classified like HTTP statuses: a 5xx reply to the recipients or to the message is the
recipient's final "no"; the relay refusing leadrelay's own greeting, login or sender is the operator's
setup, an error (so a failover channel is tried); 4xx replies and lost connections are worth another
attempt.
"""

from __future__ import annotations

import csv
import hashlib
import html
import io
import time
from collections.abc import Mapping, Sequence
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

import aiosmtplib
import orjson
from jinja2 import TemplateError, TemplateSyntaxError

from leadrelay.adapters.crypto import is_sealed_token
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import EmailChannel
from leadrelay.domain.smtp import SmtpSettings
from leadrelay.templating.messages import TemplateCache

__all__ = [
    "EmailSender",
    "SmtpFailure",
    "SmtpSettings",
    "csv_attachment",
    "default_body",
    "message_id",
    "smtp_send",
]


class _RenderError(Exception):
    pass


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def default_body(lead: LeadView) -> str:
    lines = [f"Lead {lead.lead_id} for {lead.partner}", ""]
    lines.extend(f"{name}: {_text(value)}" for name, value in lead.values.items())
    return "\n".join(lines) + "\n"


def csv_attachment(values: Mapping[str, Any]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([str(name) for name in values])
    writer.writerow([_text(value) for value in values.values()])
    return buffer.getvalue()


def message_id(idempotency_key: str, sender: str) -> str:
    digest = hashlib.sha256(idempotency_key.encode("utf-8")).hexdigest()[:40]
    domain = sender.rpartition("@")[2].strip(" >") or "leadrelay"
    return f"<{digest}@{domain}>"


class SmtpFailure(Exception):
    """A message not sent: ``retryable`` (4xx, a lost connection, a timeout) or not; ``final`` when it is
    the recipient side's own "no" (refused recipients, a reply to the message) rather than a problem of the
    operator's relay (its greeting, login or sender refused) or the connection."""

    def __init__(
        self, reason: str, *, code: int | None = None, answer: str | None = None, retryable: bool, final: bool
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.code = code
        self.answer = answer
        self.retryable = retryable
        self.final = final


async def smtp_send(
    settings: SmtpSettings, message: EmailMessage, recipients: Sequence[str]
) -> tuple[dict[str, Any], str]:
    """Send a message; returns (refused recipients, the server's answer), or raises ``SmtpFailure``."""
    if settings.password is not None and is_sealed_token(settings.password):  # never log in with ciphertext
        raise SmtpFailure(
            "SMTP settings: the stored password cannot be opened (is LEADRELAY_SECRET_KEY set?)",
            retryable=True,
            final=False,
        )
    try:
        return await aiosmtplib.send(
            message,
            sender=settings.sender,
            recipients=list(recipients),
            hostname=settings.host,
            port=settings.port,
            username=settings.username,
            password=settings.password,
            use_tls=settings.security == "tls",
            start_tls=settings.security == "starttls",
            timeout=settings.timeout_s,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [r.code for r in exc.recipients]
        reason = "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in exc.recipients)
        temporary = any(400 <= code < 500 for code in codes)
        raise SmtpFailure(
            reason or "recipients refused", code=codes[0] if codes else None, retryable=temporary, final=True
        ) from exc
    except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as exc:  # the recipient side's reply
        temporary = not 500 <= exc.code < 600
        raise SmtpFailure(
            f"{exc.code} {exc.message}", code=exc.code, answer=exc.message, retryable=temporary, final=True
        ) from exc
    except aiosmtplib.SMTPResponseException as exc:
        # the relay's reply to leadrelay's own greeting, login or sender (the operator's relay, not the
        # buyer): an error of the setup, worth another attempt only when the reply says so (4xx)
        temporary = not 500 <= exc.code < 600
        raise SmtpFailure(
            f"SMTP relay: {exc.code} {exc.message}",
            code=exc.code,
            answer=exc.message,
            retryable=temporary,
            final=False,
        ) from exc
    except TimeoutError as exc:
        raise SmtpFailure(f"timed out after {settings.timeout_s:g}s", retryable=True, final=False) from exc
    except OSError as exc:  # SMTPConnectError and SMTPServerDisconnected are OSErrors too
        raise SmtpFailure(f"connection error: {exc}", retryable=True, final=False) from exc
    except (aiosmtplib.SMTPException, ValueError) as exc:  # STARTTLS or AUTH not offered: configuration
        raise SmtpFailure(f"SMTP error: {exc}", retryable=False, final=False) from exc


class EmailSender:
    """Sends each lead as one email message; holds no connection between sends."""

    def __init__(self, settings: SmtpSettings | None = None) -> None:
        self.settings = settings or SmtpSettings()
        self._templates = TemplateCache()

    async def close(self) -> None:
        """Nothing is kept open between sends; present for the Channel protocol."""

    def _render(self, source: str, context: Mapping[str, Any], autoescape: bool) -> str:
        try:
            return self._templates.get(source, autoescape).render(lead=context)
        except TemplateSyntaxError as exc:
            where = f"line {exc.lineno}: " if exc.lineno else ""
            raise _RenderError(f"{where}{exc.message}") from exc
        except TemplateError as exc:
            raise _RenderError(exc.message or type(exc).__name__) from exc
        except Exception as exc:  # a runtime error inside an operator's template
            raise _RenderError(f"{type(exc).__name__}: {exc}") from exc

    def build_message(self, lead: LeadView, spec: EmailChannel) -> EmailMessage:
        """The message for one lead; raises ``_RenderError`` for a broken template."""
        context: dict[str, Any] = dict(lead.values)
        context.update(lead_id=lead.lead_id, partner=lead.partner, test=lead.test)
        subject = " ".join(self._render(spec.subject, context, False).split())
        if lead.test:
            subject = f"[TEST] {subject}"
        if spec.body is not None:
            body = self._render(spec.body, context, spec.html)
        elif spec.html:
            body = "<br>\n".join(html.escape(line) for line in default_body(lead).splitlines())
        else:
            body = default_body(lead)

        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = ", ".join(spec.to)
        message["Subject"] = subject
        message["Date"] = formatdate(time.time(), usegmt=True)
        message["Message-ID"] = message_id(lead.idempotency_key, self.settings.sender)
        message["X-Leadrelay-Lead"] = lead.lead_id
        if lead.test:
            message["X-Leadrelay-Test"] = "true"
        message.set_content(body, subtype="html" if spec.html else "plain")
        if spec.attach == "csv":
            message.add_attachment(
                csv_attachment(lead.values), subtype="csv", filename=f"lead-{lead.lead_id}.csv"
            )
        elif spec.attach == "json":
            data = orjson.dumps(dict(lead.values), default=str, option=orjson.OPT_INDENT_2)
            message.add_attachment(
                data, maintype="application", subtype="json", filename=f"lead-{lead.lead_id}.json"
            )
        return message

    async def send(self, lead: LeadView, spec: EmailChannel) -> AttemptResult:
        started = time.perf_counter()
        request: dict[str, Any] = {"to": list(spec.to)}

        def result(outcome: Outcome, reason: str | None, **extra: Any) -> AttemptResult:
            duration = (time.perf_counter() - started) * 1000.0
            return AttemptResult(outcome, reason=reason, duration_ms=duration, request=request, **extra)

        try:
            message = self.build_message(lead, spec)
            size = len(message.as_bytes())
        except _RenderError as exc:
            return result(Outcome.ERROR, f"template error: {exc}")
        except (ValueError, TypeError) as exc:  # a header the email package refuses (bad address, …)
            return result(Outcome.ERROR, f"invalid message: {exc}")
        request.update(subject=str(message["Subject"]), size=size)
        if not spec.to:
            return result(Outcome.ERROR, "no recipients")

        try:
            refused, answer = await smtp_send(self.settings, message, spec.to)
        except SmtpFailure as exc:
            # only the recipient side's own final "no" is a failure; the rest may pass later or after a fix
            final = exc.final and not exc.retryable and exc.code is not None
            outcome = Outcome.FAILURE if final else Outcome.ERROR
            return result(
                outcome, exc.reason, status_code=exc.code, response_body=exc.answer, retryable=exc.retryable
            )

        note: str | None = None
        if refused:
            note = "refused: " + "; ".join(f"{addr}: {r.code} {r.message}" for addr, r in refused.items())
        return result(Outcome.SUCCESS, note, status_code=250, response_body=answer[:65536])
