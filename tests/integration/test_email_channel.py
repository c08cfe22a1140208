"""The email channel against a real aiosmtpd server on 127.0.0.1."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import orjson
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from leadrelay.adapters.channels.dispatch import Channels
from leadrelay.adapters.channels.email import EmailSender, SmtpSettings
from leadrelay.domain.attempts import AttemptResult, LeadView, Outcome
from leadrelay.domain.model import EmailChannel, WebhookChannel
from leadrelay.templating.messages import check_template
from tests.support import free_port

USER, PASSWORD = "relay", "hunter2-pw"


@dataclass
class Mailbox:
    """An aiosmtpd handler that keeps every message and refuses some recipients."""

    messages: list[EmailMessage] = field(default_factory=list)
    envelopes: list[tuple[str, list[str]]] = field(default_factory=list)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith("nobody@"):
            return "550 5.1.1 No such user here"
        if address.startswith("busy@"):
            return "451 4.3.0 Mailbox busy, try later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        assert isinstance(message, EmailMessage)
        self.messages.append(message)
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


def _authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (USER.encode(), PASSWORD.encode())
    return AuthResult(success=ok, handled=False)


@pytest.fixture(scope="module")
def smtp_server() -> Iterator[tuple[int, Mailbox]]:
    mailbox = Mailbox()
    port = free_port()
    controller = Controller(
        mailbox, hostname="127.0.0.1", port=port, authenticator=_authenticate, auth_require_tls=False
    )
    controller.start()
    try:
        yield port, mailbox
    finally:
        controller.stop()


@pytest.fixture
def smtp(smtp_server: tuple[int, Mailbox]) -> tuple[int, Mailbox]:
    port, mailbox = smtp_server
    mailbox.messages.clear()
    mailbox.envelopes.clear()
    return port, mailbox


def make_lead(test: bool = False, key: str = "idem-1", **values: Any) -> LeadView:
    values = values or {"first_name": "Ann", "last_name": "Lee", "phone": "+13105550100", "zip": "90210"}
    return LeadView(
        lead_id="lead_01", entity="solar", partner="sunco", values=values, idempotency_key=key, test=test
    )


def deliver(port: int, spec: EmailChannel, lead: LeadView | None = None, **settings: Any) -> AttemptResult:
    sender = EmailSender(SmtpSettings(port=port, timeout_s=2.0, **settings))
    return asyncio.run(sender.send(lead or make_lead(), spec))


def _body(message: EmailMessage, preference: str = "plain") -> str:
    part = message.get_body(preferencelist=(preference,))
    assert part is not None
    return str(part.get_content())


# ---------------------------------------------------------------- what arrives


def test_subject_and_body_are_rendered(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    spec = EmailChannel(
        to=("sales@sunco.test", "ops@sunco.test"),
        body="Call {{ lead.first_name }} on {{ lead.phone }} ({{ lead.lead_id }} for {{ lead.partner }})",
    )
    result = deliver(port, spec)
    assert (result.outcome, result.status_code, result.reason) == (Outcome.SUCCESS, 250, None)
    (message,) = mailbox.messages
    assert message["Subject"] == "New lead: Ann Lee"
    assert message["To"] == "sales@sunco.test, ops@sunco.test"
    assert message["X-Leadrelay-Lead"] == "lead_01"
    assert _body(message).strip() == "Call Ann on +13105550100 (lead_01 for sunco)"
    assert mailbox.envelopes == [("leadrelay@localhost", ["sales@sunco.test", "ops@sunco.test"])]
    assert result.request["to"] == ["sales@sunco.test", "ops@sunco.test"]
    assert result.request["subject"] == "New lead: Ann Lee"
    assert result.request["size"] > 100


def test_default_body_lists_the_fields(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    result = deliver(port, EmailChannel(to=("sales@sunco.test",)), make_lead(first_name="Ann", consent=True))
    assert result.outcome is Outcome.SUCCESS
    lines = _body(mailbox.messages[0]).strip().splitlines()
    assert lines[0] == "Lead lead_01 for sunco"
    assert lines[-2:] == ["first_name: Ann", "consent: true"]


@pytest.mark.parametrize(("test", "subject"), [(False, "Lead Ann"), (True, "[TEST] Lead Ann")])
def test_test_leads_are_marked_in_the_subject(smtp: tuple[int, Mailbox], test: bool, subject: str) -> None:
    port, mailbox = smtp
    result = deliver(
        port, EmailChannel(to=("a@b.test",), subject="Lead {{ lead.first_name }}"), make_lead(test)
    )
    assert result.outcome is Outcome.SUCCESS
    assert mailbox.messages[0]["Subject"] == subject


def test_csv_attachment(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    lead = make_lead(first_name="Ann", city="Los Angeles, CA", notes='said "call me"')
    assert deliver(port, EmailChannel(to=("a@b.test",), attach="csv"), lead).outcome is Outcome.SUCCESS
    (attachment,) = list(mailbox.messages[0].iter_attachments())
    assert attachment.get_filename() == "lead-lead_01.csv"
    assert attachment.get_content_type() == "text/csv"
    rows = list(csv.reader(io.StringIO(attachment.get_content())))
    assert rows == [["first_name", "city", "notes"], ["Ann", "Los Angeles, CA", 'said "call me"']]


def test_json_attachment(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    lead = make_lead(first_name="Ann", amount=250000)
    assert deliver(port, EmailChannel(to=("a@b.test",), attach="json"), lead).outcome is Outcome.SUCCESS
    (attachment,) = list(mailbox.messages[0].iter_attachments())
    assert attachment.get_filename() == "lead-lead_01.json"
    assert orjson.loads(attachment.get_content()) == {"first_name": "Ann", "amount": 250000}


@pytest.mark.parametrize(
    ("html", "expected"), [(True, "<p>&lt;b&gt;Ann&lt;/b&gt;</p>"), (False, "<p><b>Ann</b></p>")]
)
def test_html_bodies_are_autoescaped(smtp: tuple[int, Mailbox], html: bool, expected: str) -> None:
    port, mailbox = smtp
    spec = EmailChannel(to=("a@b.test",), body="<p>{{ lead.first_name }}</p>", html=html)
    assert deliver(port, spec, make_lead(first_name="<b>Ann</b>")).outcome is Outcome.SUCCESS
    message = mailbox.messages[0]
    assert message.get_content_type() == ("text/html" if html else "text/plain")
    assert _body(message, "html" if html else "plain").strip() == expected


def test_message_id_follows_the_idempotency_key(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    spec = EmailChannel(to=("a@b.test",))
    for key in ("k-1", "k-1", "k-2"):
        assert deliver(port, spec, make_lead(key=key)).outcome is Outcome.SUCCESS
    ids = [message["Message-ID"] for message in mailbox.messages]
    assert ids[0] == ids[1] != ids[2]
    assert ids[0].startswith("<") and ids[0].endswith("@localhost>")


def test_header_injection_through_the_subject_is_flattened(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    lead = make_lead(first_name="Ann\r\nBcc: victim@evil.test")
    spec = EmailChannel(to=("a@b.test",), subject="Lead {{ lead.first_name }}")
    assert deliver(port, spec, lead).outcome is Outcome.SUCCESS
    message = mailbox.messages[0]
    assert message["Bcc"] is None
    assert message["Subject"] == "Lead Ann Bcc: victim@evil.test"
    assert mailbox.envelopes[0][1] == ["a@b.test"]


# ---------------------------------------------------------------- refusals and trouble


@pytest.mark.parametrize(
    ("to", "outcome", "retryable", "status", "fragment"),
    [
        (("nobody@sunco.test",), Outcome.FAILURE, False, 550, "No such user here"),
        (("busy@sunco.test",), Outcome.ERROR, True, 451, "Mailbox busy"),
        (("nobody@sunco.test", "busy@sunco.test"), Outcome.ERROR, True, 550, "Mailbox busy"),
    ],
)
def test_refused_recipients(
    smtp: tuple[int, Mailbox],
    to: tuple[str, ...],
    outcome: Outcome,
    retryable: bool,
    status: int,
    fragment: str,
) -> None:
    port, mailbox = smtp
    result = deliver(port, EmailChannel(to=to))
    assert (result.outcome, result.retryable, result.status_code) == (outcome, retryable, status)
    assert result.reason is not None and fragment in result.reason
    assert mailbox.messages == []


def test_partly_refused_recipients_still_deliver(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp
    result = deliver(port, EmailChannel(to=("sales@sunco.test", "nobody@sunco.test")))
    assert result.outcome is Outcome.SUCCESS
    assert result.reason is not None and "nobody@sunco.test: 550" in result.reason
    assert mailbox.envelopes[0][1] == ["sales@sunco.test"]


def test_server_down_is_a_retryable_error() -> None:
    result = deliver(free_port(), EmailChannel(to=("a@b.test",)))
    assert (result.outcome, result.retryable) == (Outcome.ERROR, True)
    assert result.reason is not None and result.reason.startswith("connection error")


@pytest.mark.parametrize(
    ("password", "outcome", "delivered"), [(PASSWORD, Outcome.SUCCESS, 1), ("wrong", Outcome.ERROR, 0)]
)
def test_login(smtp: tuple[int, Mailbox], password: str, outcome: Outcome, delivered: int) -> None:
    """A login the relay refuses (535) is an error of the operator's setup, not the buyer's "no"."""
    port, mailbox = smtp
    result = deliver(port, EmailChannel(to=("a@b.test",)), username=USER, password=password)
    assert result.outcome is outcome
    assert len(mailbox.messages) == delivered
    assert password not in repr(result)


def test_password_stays_out_of_repr() -> None:
    settings = SmtpSettings(username=USER, password=PASSWORD)
    assert PASSWORD not in repr(settings)
    assert USER in repr(settings)
    with pytest.raises(ValueError, match="security"):
        SmtpSettings(security="ssl")  # type: ignore[arg-type]


# ---------------------------------------------------------------- templates


@pytest.mark.parametrize(
    "body",
    [
        "{{ lead.__class__.__mro__ }}",
        "{{ lead.__class__.__mro__[1].__subclasses__() }}",
        "{{ ''.__class__.__mro__[1].__subclasses__() }}",
        "{{ lead.items.__globals__ }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ lead.update({'x': 1}) }}",
    ],
)
def test_sandbox_blocks_python_internals(smtp: tuple[int, Mailbox], body: str) -> None:
    port, mailbox = smtp
    result = deliver(port, EmailChannel(to=("a@b.test",), body=body))
    if result.outcome is Outcome.ERROR:
        assert not result.retryable
        assert result.reason is not None and result.reason.startswith("template error: ")
        assert mailbox.messages == []
    else:
        assert result.outcome is Outcome.SUCCESS
        text = _body(mailbox.messages[0])
        for leak in ("class", "object", "dict", "function", "module", "builtins"):
            assert leak not in text


@pytest.mark.parametrize(
    ("subject", "body"),
    [("{{ lead.first_name ", None), ("ok", "{% for x in lead %}"), ("ok", "{{ 1 / 0 }}")],
)
def test_broken_templates_are_final_errors(smtp: tuple[int, Mailbox], subject: str, body: str | None) -> None:
    port, mailbox = smtp
    result = deliver(port, EmailChannel(to=("a@b.test",), subject=subject, body=body))
    assert (result.outcome, result.retryable) == (Outcome.ERROR, False)
    assert result.reason is not None and result.reason.startswith("template error: ")
    assert mailbox.messages == []


@pytest.mark.parametrize(
    ("source", "error"),
    [
        ("New lead: {{ lead.first_name }}", None),
        ("{% if lead.test %}TEST{% endif %}", None),
        ("{{ lead.first_name ", "line 1: "),
        ("line one\n{% for x in lead %}", "line 2: "),
        ("{{ lead.x | nosuchfilter }}", "line 1: "),
    ],
)
def test_check_template(source: str, error: str | None) -> None:
    found = check_template(source)
    if error is None:
        assert found is None
    else:
        assert found is not None and found.startswith(error)


# ---------------------------------------------------------------- dispatch


def test_channels_pick_the_sender_by_spec(smtp: tuple[int, Mailbox]) -> None:
    port, mailbox = smtp

    async def scenario() -> tuple[AttemptResult, AttemptResult]:
        channels = Channels(smtp=SmtpSettings(port=port, timeout_s=2.0))
        try:
            mailed = await channels.send(make_lead(), EmailChannel(to=("a@b.test",)))
            posted = await channels.send(make_lead(), WebhookChannel(url=f"http://127.0.0.1:{free_port()}/"))
            return mailed, posted
        finally:
            await channels.close()

    mailed, posted = asyncio.run(scenario())
    assert mailed.outcome is Outcome.SUCCESS and len(mailbox.messages) == 1
    assert (posted.outcome, posted.retryable) == (Outcome.ERROR, True)
