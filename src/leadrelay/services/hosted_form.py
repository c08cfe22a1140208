"""The hosted lead form (issue 12, point 8): which form a source may show, and a post of it through the
same intake as ``POST /v1/leads``.

- :meth:`HostedForms.setup`: the form of a source and entity, or ``NotFound`` — the source is unknown, did
  not opt in (``sources.<name>.form``, enabled), or may not post the entity.
- :meth:`HostedForms.submit`: the consumer's values are checked by the very validation intake runs
  (``domain.fields.validate_lead``), and a post with a problem is answered with it, per field, *before*
  anything is stored (the API stores a rejected lead; a person fixes the form instead). A bad value in an
  optional field is a problem here too: the consumer can correct it. A valid post goes to
  ``Intake.accept`` as its source, with the client's address and user agent (``ip_address`` — or the
  entity's ``ip`` field — and ``user_agent``), the consent text shown (``consent_text``) and, where the
  entity records one-to-one consent, its consent field set to the form's sellers.
- The bot traps: a filled honeypot is answered as a success and stores nothing (a log line counts them);
  at most ``max_posts_per_minute`` posts per client address and source in each clock minute, counted in the
  database (``form_posts``: one atomic conditional upsert per post), so every API process counts against
  the same limit.
- Form tokens (``domain.hosted_form``): signed under the installation's form key, an HMAC of its own label
  under the installation key (as the postback and ping-token keys are), so every process checks the
  tokens any of them issued.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from leadrelay.domain.client_address import address_group
from leadrelay.domain.dedup import MarkHasher
from leadrelay.domain.fields import validate_lead
from leadrelay.domain.hosted_form import (
    KEY_LABEL,
    HostedFormSpec,
    PostWindow,
    TokenCheck,
    check_token,
    sign_token,
)
from leadrelay.domain.model import EntitySpec, FieldSpec, FieldType, SourceSpec
from leadrelay.domain.ping_tokens import key_material
from leadrelay.domain.states import LeadStatus
from leadrelay.errors import NotFound
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.intake import Intake
from leadrelay.services.intake_answers import IntakeAnswer, IntakeRequest
from leadrelay.services.ports import Clock, DedupKeys, Storage, system_clock
from leadrelay.services.user_choice import Offers

__all__ = ["FILLED_IN", "FormSetup", "HostedForms", "Submitted"]

log = logging.getLogger("leadrelay.forms")

IP_FIELD = "ip_address"
USER_AGENT_FIELD = "user_agent"
CONSENT_TEXT_FIELD = "consent_text"
FILLED_IN = frozenset({IP_FIELD, USER_AGENT_FIELD, CONSENT_TEXT_FIELD})
"""Lead fields the form fills in itself (never inputs), as a source's own post would carry them."""
NO_INPUT = frozenset({FieldType.IP, FieldType.TRUSTEDFORM_CERT_URL, FieldType.JORNAYA_LEADID})
CONSENT_PROBLEM = "check the box to agree"


@dataclass(frozen=True, slots=True)
class FormSetup:
    """A form that may be shown: its source, entity, settings, and the entity's fields that are inputs
    (in the entity's order)."""

    source: SourceSpec
    entity: EntitySpec
    form: HostedFormSpec
    inputs: tuple[FieldSpec, ...]

    @property
    def ip_field(self) -> str:
        """Where the client's address goes: the entity's (first) ``ip`` field, else ``ip_address``."""
        return next((f.name for f in self.entity.fields.values() if f.type == FieldType.IP), IP_FIELD)


@dataclass(slots=True)
class Submitted:
    """What a post came to: ``problems`` per input (``consent`` for the checkbox; "" for the form as a
    whole), or intake's ``answer``; ``trapped`` when the honeypot was filled (nothing stored)."""

    problems: dict[str, str] = field(default_factory=dict)
    answer: IntakeAnswer | None = None
    trapped: bool = False


REFUSED_KEPT = 10_000  # keys refused in the current window that a process remembers
FORGET_CHUNK = 1_000  # old counts deleted per transaction


async def forget_old_windows(storage: Storage, clock: Clock = system_clock) -> int:
    """Delete the counts of the windows before the previous one (a process whose clock is a little behind
    still counts into that one), in short background transactions of ``FORGET_CHUNK`` rows: however many
    addresses posted, no request waits behind one long delete. How many went."""
    window = PostWindow()
    before = window.start(clock()) - timedelta(seconds=window.seconds)
    gone = 0
    while True:
        count = await storage.run(
            lambda tx: tx.form_posts.forget_windows(before, limit=FORGET_CHUNK), background=True
        )
        gone += count
        if count < FORGET_CHUNK:
            return gone


class HostedForms:
    """``clock``: the tokens' time; ``window_clock`` (``clock`` unless given): the rate limit's, a wall
    clock, since the windows are shared with the other processes (a monotonic count is per process)."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        intake: Intake,
        offers: Offers,
        keys: DedupKeys,
        *,
        clock: Clock = system_clock,
        window_clock: Clock | None = None,
    ) -> None:
        self._storage = storage
        self._configs = configs
        self._intake = intake
        self._offers = offers
        self._keys = keys
        self._clock = clock
        self._window_clock = window_clock or clock
        self._window = PostWindow()
        # the keys the database refused in the current window: refused here again without a write
        self._refused: dict[tuple[str, str], datetime] = {}
        self._hasher: MarkHasher | None = None
        self._key = b""
        self.trapped = 0  # honeypot posts seen by this process

    async def setup(self, source: str, entity: str) -> FormSetup:
        live = await self._configs.get(self._storage)
        spec = live.specs.sources.get(source)
        entity_spec = live.specs.entities.get(entity)
        if (
            spec is None
            or spec.form is None
            or not spec.form.enabled
            or entity_spec is None
            or (spec.entities and entity not in spec.entities)
        ):
            raise NotFound(f"no hosted form {source}/{entity}")
        consent = entity_spec.consent.field if entity_spec.consent is not None else None
        inputs = tuple(
            f
            for f in entity_spec.fields.values()
            if f.type not in NO_INPUT and f.name not in FILLED_IN and f.name != consent
        )
        return FormSetup(spec, entity_spec, spec.form, inputs)

    # ---------------------------------------------------------------- tokens and limits

    async def _form_key(self) -> bytes:
        hasher = self._keys.cached or await self._keys.hasher()
        if hasher is not self._hasher:  # the installation key was (re)read: derive ours again
            self._key = key_material(hasher(KEY_LABEL))
            self._hasher = hasher
        return self._key

    async def token(self, subject: str) -> str:
        return sign_token(await self._form_key(), subject, self._clock())

    async def check(self, subject: str, token: object, ttl_s: float) -> TokenCheck:
        return check_token(await self._form_key(), token, subject, self._clock(), ttl_s)

    async def admit(self, setup: FormSetup, client: str) -> float | None:
        """Count a post from ``client`` (an IPv6 client by its /64): None when admitted, else the seconds
        to wait (until the next window). A refused post is not counted, and a key the database refused is
        refused by this process until the window ends without asking it again (a flood from one address
        costs no write). Old windows are deleted in the background (``forget_old_windows``)."""
        now = self._window_clock()
        start = self._window.start(now)
        key = (setup.source.name, address_group(client))
        if self._refused.get(key) == start:
            return self._window.wait(now)
        limit = setup.form.max_posts_per_minute
        # relaxed: a count lost in a power cut only lets a few more posts in
        counted = await self._storage.run(
            lambda tx: tx.form_posts.count_post(*key, start, limit), quick=True, relaxed=True
        )
        if counted:
            return None
        if len(self._refused) >= REFUSED_KEPT:  # bounded: the past windows' keys go first, then all
            self._refused = {k: at for k, at in self._refused.items() if at == start}
            if len(self._refused) >= REFUSED_KEPT:
                self._refused.clear()
        self._refused[key] = start
        return self._window.wait(now)

    # ---------------------------------------------------------------- a post

    async def submit(
        self,
        setup: FormSetup,
        values: Mapping[str, str],
        *,
        consented: bool,
        honeypot: str,
        client: str,
        user_agent: str,
    ) -> Submitted:
        if honeypot.strip():
            self.trapped += 1
            log.warning(
                "hosted form %s/%s: honeypot filled by %s, nothing stored (%d trapped by this process)",
                setup.source.name,
                setup.entity.name,
                client,
                self.trapped,
            )
            return Submitted(trapped=True)
        raw: dict[str, Any] = {}
        for spec in setup.inputs:
            value = values.get(spec.name, "").strip()
            if value:
                raw[spec.name] = value
        raw[setup.ip_field] = client
        if user_agent:
            raw[USER_AGENT_FIELD] = user_agent[:1000]
        raw[CONSENT_TEXT_FIELD] = setup.form.consent_text
        if setup.entity.consent is not None:
            raw[setup.entity.consent.field] = list(setup.form.sellers)
        problems = self._problems(setup, raw)
        if not consented:
            problems["consent"] = CONSENT_PROBLEM
        if problems:
            return Submitted(problems=problems)
        request = IntakeRequest(setup.source.name, setup.entity.name, raw, wait=setup.form.wait_s)
        answer = await self._intake.accept(request)
        if answer.status == LeadStatus.REJECTED:  # the configuration changed between the two checks
            return Submitted(problems=self._shown(setup, {p.field: p.error for p in answer.problems}))
        return Submitted(answer=answer)

    def _problems(self, setup: FormSetup, raw: Mapping[str, Any]) -> dict[str, str]:
        checked = validate_lead(setup.entity, raw)
        found = {p.field: p.error for p in checked.problems}
        names = {spec.name for spec in setup.inputs}
        for name, flags in checked.flags.items():
            if name in names and name not in found:
                bad = next((f for f in flags if f.startswith("invalid: ")), None)
                if bad is not None:  # an optional field's bad value: the consumer can correct it
                    found[name] = bad.removeprefix("invalid: ")
        return self._shown(setup, found)

    @staticmethod
    def _shown(setup: FormSetup, found: Mapping[str, str]) -> dict[str, str]:
        """Problems of inputs by field; the others (a field the form fills in) for the form as a whole."""
        names = {spec.name for spec in setup.inputs}
        shown = {name: message for name, message in found.items() if name in names}
        other = [f"{name}: {message}" for name, message in found.items() if name not in names]
        if other:
            shown[""] = "; ".join(other)
        return shown

    # ---------------------------------------------------------------- user choice

    async def select(self, source: str, offer_id: str) -> str:
        """Select an offer of the source's lead (``Offers.select``); the name the consumer knows the
        partner by."""
        selection = await self._offers.select(offer_id, source)
        live = await self._configs.get(self._storage)
        partner = live.specs.partners.get(selection.partner)
        return (partner.display_name if partner is not None else None) or selection.partner
