"""accept_lead: validate → persist the lead and one distribution job per enabled profile → answer.

The lead and its jobs are committed (in a shared group-commit transaction) before the source hears back.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from leadrelay import log_context
from leadrelay.domain import lookup
from leadrelay.domain.caps import SourceSlot, source_slots
from leadrelay.domain.fields import validate_lead
from leadrelay.domain.fields.value import is_empty
from leadrelay.domain.ledger import DEFAULT_CURRENCY, accepted_payout, payout_of_terms
from leadrelay.domain.model import SourceSpec
from leadrelay.domain.states import LeadStatus, QueueState
from leadrelay.errors import (
    Conflict,
    Expired,
    FieldProblem,
    Forbidden,
    LeadrelayError,
    NotFound,
    SourceCapReached,
    Unauthorized,
    ValidationFailed,
)
from leadrelay.services import supplier_ping
from leadrelay.services.config_in_force import ConfigCache
from leadrelay.services.intake_answers import (
    IntakeAnswer,
    IntakeRequest,
    read_answer,
)
from leadrelay.services.intake_writes import LeadWrite, first_answer, job_row, write_group
from leadrelay.services.notify import Notifier
from leadrelay.services.ports import (
    NO_METRICS,
    Clock,
    GroupCommit,
    GroupCommits,
    IdSource,
    Metrics,
    Record,
    Sealer,
    Storage,
    Tx,
    system_clock,
    system_ids,
    timed_step,
)
from leadrelay.services.screening import build_screen

log = logging.getLogger("leadrelay.intake")

# A keyed lead whose first answer is still missing this long after its creation lost its first request
# (the process ended while waiting for the outcome): repeats get the outcome then, instead of 409.
_ABANDONED = timedelta(seconds=90)
# how far past its deadline a waiting answer may read the outcome one last time (issue 10 point 7: the
# answer never comes later than the source's deadline plus 10 ms)
_ANSWER_SLACK_S = 0.005


def body_hash(raw: Mapping[str, Any], entity: str) -> str:
    return hashlib.sha256(
        orjson.dumps({"entity": entity, "raw": raw}, option=orjson.OPT_SORT_KEYS)
    ).hexdigest()


class Intake:
    """``group_commits`` makes the group commit that writes concurrent requests' leads together;
    ``metrics`` counts each request's outcome (``Metrics.lead_received``)."""

    def __init__(
        self,
        storage: Storage,
        configs: ConfigCache,
        notifier: Notifier,
        sealer: Sealer,
        *,
        group_commits: GroupCommits,
        clock: Clock = system_clock,
        ids: IdSource = system_ids,
        metrics: Metrics = NO_METRICS,
    ) -> None:
        self._storage = storage
        self.metrics = metrics
        self._sealer = sealer
        self._configs = configs
        self._notifier = notifier
        self._clock = clock
        self._ids = ids
        self._writes: GroupCommit[LeadWrite, tuple[str, Any]] = group_commits(self._write_batch)
        # waited answers still being kept (``_keep_by``), by lead: a repeat here waits for its write
        self._keeping: dict[str, tuple[asyncio.Task[None], IntakeAnswer]] = {}

    async def accept(self, req: IntakeRequest) -> IntakeAnswer:
        started = asyncio.get_running_loop().time()  # ``wait`` counts from here
        live = await self._configs.get(self._storage)
        source = live.specs.sources.get(req.source)
        if source is None:
            raise Unauthorized(f"source {req.source!r} is not configured")
        entity = live.specs.entities.get(req.entity)
        if entity is None:
            raise NotFound(f"unknown entity {req.entity!r}")
        if source.entities and req.entity not in source.entities:
            raise Forbidden(f"source {req.source!r} may not post {req.entity!r} leads")
        now = self._clock()
        redeemed = None
        if req.ping_token is not None:
            try:
                redeemed = await supplier_ping.redeem(
                    self._storage, live, req.source, req.entity, req.ping_token, now
                )
            except Conflict:  # used: by this very request's first sending (a keyed repeat), or refused
                if req.idempotency_key is None or not await self._keyed(req.source, req.idempotency_key):
                    raise
        checked = validate_lead(entity, req.raw)
        problems = checked.problems
        values = checked.values
        if redeemed is not None and not problems:  # the bids stand for the values pinged only
            supplier_ping.check_values(redeemed, values)
        lead_id = self._ids("lead")
        log_context.bind_lead(lead_id)
        names = live.profiles_by_entity.get(req.entity, ())
        status = LeadStatus.REJECTED if problems else (LeadStatus.QUEUED if names else LeadStatus.UNSOLD)
        raw = dict(req.raw)
        screen = None
        screened = not problems and not req.test and live.screened(req.entity)
        keys, hasher = live.dedup_keys, None
        if keys is not None:  # derived or read once per process, then kept
            hasher = keys.cached
            if hasher is None:
                try:
                    hasher = await keys.hasher()
                except LeadrelayError:  # another key recorded since (a process with another secret)
                    if screened:
                        raise  # dedup cannot decide: refused loudly
                    log.warning("lead %s: no lookup keys for the console's search (dedup key)", lead_id)
        if screened:
            profiles = [live.specs.profiles[name] for name in names]
            screen = build_screen(lead_id, entity, profiles, values, hasher)
        # the console finds the lead by its email or phone through these (before sensitive values leave)
        lookups = sorted(lookup.lead_keys(entity, values, hasher)) if hasher is not None else []
        sealed = None
        if entity.sensitive:
            secret = {k: values.pop(k) for k in entity.sensitive if k in values}
            # an empty one holds nothing to seal: it stays as sent (a form sends its empty inputs)
            secret_raw = {k: raw.pop(k) for k in entity.sensitive if k in raw and not is_empty(raw[k])}
            if secret or secret_raw:
                ring = await self._sealer.ring()
                sealed = ring.seal_json({"data": secret, "raw": secret_raw}, lead_id.encode())
        lead = {
            "id": lead_id,
            "entity": req.entity,
            "source": req.source,
            "status": status,
            "data": values,
            "raw": raw,
            "problems": [p.as_dict() for p in problems] or None,
            "flags": checked.flags or None,
            "sealed": sealed,
            "duplicate_of": None,
            "erased_at": None,
            "idempotency_key": req.idempotency_key,
            "request_hash": body_hash(req.raw, req.entity) if req.idempotency_key else None,
            "answer_code": None,
            "answer": None,
            "is_test": req.test,
            "created_at": now,
            "updated_at": now,
        }
        jobs = [] if problems else [job_row(lead_id, p, now, self._ids) for p in names]
        waits = req.wait > 0 and status == LeadStatus.QUEUED
        if waits:  # an auction fits its pings in before the source stops waiting
            answer_by = now + timedelta(seconds=req.wait)
            for job in jobs:
                job["answer_by"] = answer_by
        keep = req.idempotency_key is not None and not waits
        bids: list[dict[str, Any]] = []
        if redeemed is not None and not problems:  # a rejected lead leaves the token unused
            for job in jobs:
                rows, lines = supplier_ping.bid_rows(redeemed, job, req.test, self._ids)
                bids.extend(rows)
                job["trace"] = lines
        else:
            redeemed = None
        payout = None
        model = source.payout_for(req.entity)
        if redeemed is not None and redeemed.payout is not None:  # the terms its ping quoted
            model = payout_of_terms(redeemed.payout)
        if model is not None and not problems and not req.test:
            payout = accepted_payout(
                lead_id, req.source, model, at=now, currency=DEFAULT_CURRENCY, entry_id=self._ids("led")
            )
        slots: tuple[SourceSlot, ...] = ()  # a valid lead (not a test) takes a slot of each source cap
        if source.caps and not problems and not req.test:
            slots = source_slots(source.name, source.caps, ZoneInfo(source.timezone), now)
        write = LeadWrite(lead, jobs, screen, problems, keep, redeemed, bids, payout, lookups, slots)
        # watched before the write: a worker done with the lead before this request waits still wakes it
        watch = self._notifier.watch(lead_id) if waits else None
        try:
            return await self._write_and_answer(req, write, source, started, watch)
        finally:
            if watch is not None:
                self._notifier.unwatch(lead_id, watch)

    async def _write_and_answer(
        self,
        req: IntakeRequest,
        write: LeadWrite,
        source: SourceSpec,
        started: float,
        watch: asyncio.Event | None,
    ) -> IntakeAnswer:
        lead_id, jobs, keep = write.lead["id"], write.jobs, write.keep_answer
        with timed_step(self.metrics, "store"):
            kind, got = await self._writes.submit(write)
        if kind == "created":  # the others raise (the entry point counts them as refused), or replay
            self.metrics.lead_received(write.lead["status"])
        if kind == "source_cap":
            slot: SourceSlot = got
            raise (
                SourceCapReached(slot.refusal(), slot.retry_after_s)
                if slot.retry_after_s
                else Forbidden(slot.refusal())
            )
        if kind == "ping_refused":
            if got == "expired":
                raise Expired("ping_token expired; ping again for a new quote")
            raise Conflict("ping_token was already used; ping again for a new quote")
        if kind == "conflict":
            raise ValidationFailed(
                [FieldProblem("Idempotency-Key", "already used with a different body")],
                "Idempotency-Key was already used with a different body; send a new key for a new lead",
            )
        if kind == "repeat":
            replayed = await self._replay(got)  # a 409 while the first is answered: counted as refused
            self.metrics.lead_received("repeat")
            return replayed
        if any(j["queue_state"] == QueueState.READY for j in jobs):
            self._notifier.jobs_added()
        answer = first_answer(write)
        if watch is not None and answer.status == LeadStatus.QUEUED:
            answer = await self.wait(lead_id, req.wait, started=started, watch=watch)
        answer.show_buyer = source.show_buyer
        if req.idempotency_key is not None and not keep:  # it waited: keeping it must not delay it
            await self._keep_by(lead_id, answer, started + req.wait + _ANSWER_SLACK_S)
        return answer

    async def _keyed(self, source: str, key: str) -> bool:
        """Whether a lead of this source was stored with this Idempotency-Key."""
        found = await self._storage.run_read(lambda tx: tx.leads.lead_by_idempotency_key(source, key))
        return found is not None

    async def _replay(self, original: Record) -> IntakeAnswer:
        """A repeat of a keyed request: the stored first answer, status code and body; 409 while the first
        request is still being answered."""
        if original.answer_code is not None:
            return _stored_replay(original)
        keeping = self._keeping.get(original.id)
        if keeping is not None:  # answered here, its write still going: the repeat gets that answer
            task, first = keeping
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(task), 5.0)
            if task.done() and not task.cancelled() and task.exception() is None:
                answer = IntakeAnswer(original.id, first.status, repeat=True)
                answer.replay = (first.code, first.as_dict())
                return answer
        if keeping is None:  # kept here meanwhile: its write may have committed since ``original`` was read
            fresh = await self._storage.run_read(lambda tx: tx.leads.get_lead(original.id))
            if fresh is not None and fresh.answer_code is not None:
                return _stored_replay(fresh)
        if self._clock() - original.created_at < _ABANDONED:
            raise Conflict(
                "a request with this Idempotency-Key is still being answered; repeat it in a few seconds"
            )
        answer = await self.outcome(original.id)
        await self._keep(original.id, answer)
        answer.repeat = True
        return answer

    async def _keep_by(self, lead_id: str, answer: IntakeAnswer, deadline: float) -> None:
        """Keep a waited answer, but answer by ``deadline`` (the loop's time) whatever the database does:
        a write not done by then goes on in the background. A repeat reaching this process meanwhile waits
        for it (``_replay``); elsewhere it is told to try again (409), as while the first waits; if the
        process ends first, repeats get the outcome once the request counts as abandoned."""
        task = asyncio.create_task(self._keep(lead_id, answer))
        self._keeping[lead_id] = (task, answer)
        task.add_done_callback(lambda done: self._kept(lead_id, done))
        remaining = deadline - asyncio.get_running_loop().time()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(task), max(remaining, 0.0))

    def _kept(self, lead_id: str, task: asyncio.Task[None]) -> None:
        self._keeping.pop(lead_id, None)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.error("keeping the answer of a keyed lead failed", exc_info=exc)

    async def _keep(self, lead_id: str, answer: IntakeAnswer) -> None:
        """Store the first answer of a keyed request that waited for the outcome (the only extra write)."""
        await self._storage.run(lambda tx: tx.leads.keep_answer(lead_id, answer.code, answer.as_dict()))

    async def entity_fields(self, entity: str) -> frozenset[str]:
        """The fields the entity in force defines (none for an unknown entity): what a CSV header names."""
        spec = (await self._configs.get(self._storage)).specs.entities.get(entity)
        return frozenset(spec.fields) if spec is not None else frozenset()

    async def outcome(self, lead_id: str, *, source: str | None = None) -> IntakeAnswer:
        """The lead's answer now; with ``source``, only that source's leads are visible. The buyer and its
        price are in it when the lead's source may see them (``show_buyer``)."""
        live = await self._configs.get(self._storage)
        sources = live.specs.sources
        return await self._storage.run_read(  # quick: one lead's rows
            lambda tx: read_answer(tx, lead_id, sources, self._clock, source=source), quick=True
        )

    async def wait(
        self,
        lead_id: str,
        seconds: float,
        *,
        started: float | None = None,
        watch: asyncio.Event | None = None,
    ) -> IntakeAnswer:
        """Wait for the lead's outcome until ``seconds`` after ``started`` (the loop's time the request
        came; default now), woken in-process, polling across processes. The answer is never later than
        that deadline plus a few milliseconds, whatever the buyers do: a read of the outcome that would end
        later is given up, the lead is still ``queued``, and the source reads the outcome later (``GET
        /v1/leads/{id}``). (The lead's own write comes before the wait and is not bounded: a lead is
        stored before it is answered.) ``watch``: the notifier's event for the lead, watched since before
        the lead was written (so still queued): the first read waits for the worker's word or the first
        poll."""
        loop = asyncio.get_running_loop()
        deadline = (loop.time() if started is None else started) + seconds
        read_now = watch is None
        event = watch if watch is not None else self._notifier.watch(lead_id)
        steps = self._notifier.poll_steps()
        try:
            while True:
                if read_now:
                    try:
                        # timed whether it ends or is given up at the deadline
                        with timed_step(self.metrics, "answer"):
                            async with asyncio.timeout_at(deadline + _ANSWER_SLACK_S):
                                answer = await self.outcome(lead_id)
                    except TimeoutError:
                        return IntakeAnswer(lead_id, LeadStatus.QUEUED)
                    # offers (user choice): the consumer chooses now
                    if answer.settled or answer.offers or deadline - loop.time() <= 0:
                        return answer
                read_now = True
                remaining = deadline - loop.time()
                if remaining > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(event.wait(), min(remaining, next(steps)))
                if event.is_set():  # the worker's word was used: watch again before the next read
                    event = self._notifier.watch(lead_id)
        finally:
            if event is not watch:
                self._notifier.unwatch(lead_id, event)

    def _write_batch(self, tx: Tx, writes: Sequence[LeadWrite]) -> list[tuple[str, Any]]:
        return write_group(tx, writes, self._clock)


def _stored_replay(lead: Record) -> IntakeAnswer:
    """A repeat's answer: the first answer as it was stored, status code and body."""
    answer = IntakeAnswer(lead.id, LeadStatus(lead.answer["status"]), repeat=True)
    answer.replay = (int(lead.answer_code), dict(lead.answer))
    return answer
