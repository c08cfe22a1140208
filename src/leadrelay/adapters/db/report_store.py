"""The reports' SQL (``leadrelay.services.ports.ReportFacts``): one hour's facts from the indexed tables
(leads by ``created_at``, deliveries by ``created_at`` and ``delivered_at``, a resend's by its sale entry's
``at``, attempts by ``started_at``, ledger entries by ``at``, postbacks by ``received_at``), and the rollup
``report_hours`` with its watermark row."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Connection,
    and_,
    bindparam,
    case,
    cast,
    false,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy import type_coerce as coerce
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db.money_tables import (
    LEAD_ROWS,
    ledger_entries,
    postbacks,
    report_days,
    report_hours,
    report_watermark,
)
from leadrelay.adapters.db.schema_base import UTCDateTime
from leadrelay.adapters.db.tables import attempts, bids, deliveries, jobs, leads
from leadrelay.domain.ledger import EntryKind, Party
from leadrelay.domain.report_spans import Span, spans
from leadrelay.domain.reports import (
    COUNTERS,
    DAY,
    DIMENSIONS,
    HOUR,
    LATENCY_BOUNDS_MS,
    LEAD_COUNTERS,
    Row,
    add,
    lead_counters,
    ledger_counters,
    left_on_table,
    postback_counters,
)
from leadrelay.domain.states import JobKind

_NAME = "hours"
_L, _D, _A, _E, _R, _P = leads.c, deliveries.c, attempts.c, ledger_entries.c, report_hours.c, postbacks.c
Key = tuple[str, str, str, str]


def _in(column: Any) -> Any:
    """``column`` within the span a statement is run for: its ``low`` and ``high`` parameters."""
    return and_(column >= bindparam("low", type_=column.type), column < bindparam("high", type_=column.type))


# the statements of an hour's facts, built once (each run with the span's ``low`` and ``high``)
_DIMS = (_L.source, _L.entity, _D.partner, _D.profile)
_LEADS = (
    select(_L.source, _L.entity, _L.status, func.count())
    .where(_in(_L.created_at), _L.is_test == false())
    .group_by(_L.source, _L.entity, _L.status)
)
_J = jobs.c
_MADE = select(*_DIMS, func.count()).select_from(
    deliveries.join(leads, _L.id == _D.lead_id).join(jobs, _J.id == _D.job_id)
)
# a resend's delivery is offered and sold only as the ledger bills it (``_RESOLD``): not while the sale it
# repeats stands (``services.ledger``), so the others count the deliveries of the other jobs
_OFFERED = _MADE.where(_in(_D.created_at), _D.is_test == false(), _J.kind != JobKind.RESEND).group_by(*_DIMS)
_SOLD = _MADE.where(_in(_D.delivered_at), _D.is_test == false(), _J.kind != JobKind.RESEND).group_by(*_DIMS)
_RESOLD = (  # the resends billed as sales in the span (their partner's sale entry): offered and sold
    select(*_DIMS, func.count())
    .select_from(
        ledger_entries.join(deliveries, _D.id == _E.delivery_id)
        .join(jobs, _J.id == _D.job_id)
        .join(leads, _L.id == _D.lead_id)
    )
    .where(
        _in(_E.at),
        _E.party_kind == Party.PARTNER.value,
        _E.kind == EntryKind.SALE.value,
        _J.kind == JobKind.RESEND,
        _D.is_test == false(),
    )
    .group_by(*_DIMS)
)
_BUCKET = case(
    *((_A.duration_ms < bound, i) for i, bound in enumerate(LATENCY_BOUNDS_MS)),
    else_=len(LATENCY_BOUNDS_MS),
)
_ATTEMPTS = (
    select(*_DIMS, _BUCKET, func.count())
    .select_from(attempts.join(deliveries, _D.id == _A.delivery_id).join(leads, _L.id == _D.lead_id))
    .where(_in(_A.started_at), _D.is_test == false())
    .group_by(*_DIMS, _BUCKET)
)
_MONEY = (
    select(
        _E.party_kind,
        _E.party,
        _E.kind,
        _D.partner,
        _D.profile,
        _L.source,
        _L.entity,
        func.sum(coerce(_E.amount, BigInteger)),
        func.coalesce(func.sum(coerce(_E.margin, BigInteger)), 0),
        func.count(),
    )
    .select_from(
        ledger_entries.outerjoin(deliveries, _D.id == _E.delivery_id).outerjoin(leads, _L.id == _E.lead_id)
    )
    .where(_in(_E.at), or_(_L.is_test.is_(None), _L.is_test == false()))
    .group_by(_E.party_kind, _E.party, _E.kind, _D.partner, _D.profile, _L.source, _L.entity)
)
_FIRST, _SECOND = bids.alias("first_bid"), bids.alias("second_bid")
_AUCTIONS = (  # exclusive auction sales delivered in the span with a second-best accepted bid
    select(*_DIMS, _FIRST.c.price, _SECOND.c.price)
    .select_from(
        deliveries.join(leads, _L.id == _D.lead_id)
        .join(_FIRST, and_(_FIRST.c.job_id == _D.job_id, _FIRST.c.delivery_id == _D.id))
        .join(
            _SECOND,
            and_(
                _SECOND.c.job_id == _D.job_id,
                _SECOND.c.tier == _FIRST.c.tier,
                _SECOND.c.rank == 2,
                _SECOND.c.sold_as == "exclusive",
                _SECOND.c.superseded == false(),
            ),
        )
    )
    .where(
        _in(_D.delivered_at),
        _D.is_test == false(),
        _FIRST.c.rank == 1,
        _FIRST.c.sold_as == "exclusive",
        _FIRST.c.superseded == false(),
    )
)
_POSTBACKS = (  # the buyers' postbacks received in the span, by outcome, on their delivery's dimensions
    select(*_DIMS, _P.outcome, func.count(), func.coalesce(func.sum(_P.revenue_cents), 0))
    .select_from(postbacks.join(deliveries, _D.id == _P.delivery_id).join(leads, _L.id == _D.lead_id))
    .where(_in(_P.received_at), _D.is_test == false())
    .group_by(*_DIMS, _P.outcome)
)


class SqlReportFacts:
    __slots__ = ("_conn",)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def facts(
        self, hour: datetime, *, since: datetime | None = None, until: datetime | None = None
    ) -> list[Row]:
        span = {
            "low": hour if since is None else max(hour, since),
            "high": hour + HOUR if until is None else min(hour + HOUR, until),
        }
        sums: dict[Key, dict[str, int]] = {}

        def put(key: Any, values: dict[str, int]) -> None:
            add(sums.setdefault(tuple(k or "" for k in key), {}), values)  # type: ignore[arg-type]

        run = self._conn.execute
        for source, entity, status, n in run(_LEADS, span):
            put((source, entity, "", ""), lead_counters(status, n))
        for statement, names in (
            (_OFFERED, ("offered",)),
            (_SOLD, ("sold",)),
            (_RESOLD, ("offered", "sold")),
        ):
            for *key, n in run(statement, span):
                put(key, dict.fromkeys(names, n))
        for source, entity, partner, profile, i, n in run(_ATTEMPTS, span):
            put((source, entity, partner, profile), {"attempts": n, f"lat_{i}": n})
        for party_kind, party, kind, partner, profile, source, entity, amount, margin, n in run(_MONEY, span):
            if party_kind == "partner":
                partner = party
            else:
                source = party
            put(
                (source, entity, partner, profile),
                ledger_counters(party_kind, kind, int(amount), int(margin), n),
            )
        for source, entity, partner, profile, winner, runner_up in run(_AUCTIONS, span):
            if winner is not None and runner_up is not None:
                gap = left_on_table(winner, runner_up)
                put((source, entity, partner, profile), {"auctions": 1, "left_on_table": gap})
        for source, entity, partner, profile, outcome, n, revenue in run(_POSTBACKS, span):
            put((source, entity, partner, profile), postback_counters(outcome, n, int(revenue)))
        return [Row(hour, key, values) for key, values in sums.items() if any(values.values())]

    def first_hour(self, since: datetime | None = None) -> datetime | None:
        if since is None:
            columns = [_L.created_at, _E.at]
        else:  # every fact an hour counts, each column indexed: a few index probes
            columns = [_L.created_at, _E.at, _D.created_at, _D.delivered_at, _A.started_at, _P.received_at]
        firsts = [
            self._conn.execute(
                select(func.min(column)) if since is None else select(func.min(column)).where(column >= since)
            ).scalar()
            for column in columns
        ]
        known = [at for at in firsts if at is not None]
        return min(known) if known else None

    def rolled_until(self) -> datetime | None:
        q = select(report_watermark.c.rolled_until).where(report_watermark.c.name == _NAME)
        at: datetime | None = self._conn.execute(q).scalar()
        return at

    def advance(self, rolled_until: datetime | None, to: datetime) -> bool:
        w = report_watermark.c
        if rolled_until is None:
            ins = postgresql.insert if self._conn.dialect.name == "postgresql" else sqlite.insert
            first = ins(report_watermark).values(name=_NAME, rolled_until=to).on_conflict_do_nothing()
            return self._conn.execute(first.returning(w.name)).first() is not None  # (rowcount: -1 on PG)
        stmt = (
            update(report_watermark)
            .where(w.name == _NAME, w.rolled_until == rolled_until)
            .values(rolled_until=to)
        )
        return self._conn.execute(stmt).rowcount == 1

    def store(self, rows: Sequence[Row]) -> None:
        if rows:
            self._conn.execute(
                insert(report_hours),
                [
                    {
                        "hour": r.hour,
                        **dict(zip(DIMENSIONS, r.group, strict=True)),
                        **dict.fromkeys(COUNTERS, 0),
                        **r.values,
                    }
                    for r in rows
                ],
            )

    def rolled(
        self,
        since: datetime,
        until: datetime,
        dims: Sequence[str],
        *,
        cuts: Sequence[datetime] = (),
        counters: Sequence[str] = COUNTERS,
    ) -> list[Row]:
        group = [_R[d] for d in dims]
        sums = [func.sum(_R[name]) for name in counters]
        width = len(group)
        # the leads' own counters sit on the rows of no partner and no profile (ix_report_hours_leads)
        lead_rows = [text(LEAD_ROWS)] if set(counters) <= set(LEAD_COUNTERS) else []

        if not cuts:  # per hour
            q = (
                select(_R.hour, *group, *sums)
                .where(_R.hour >= since, _R.hour < until, *lead_rows)
                .group_by(_R.hour, *group)
            )
            return [
                Row(
                    row[0],
                    tuple(row[1 : 1 + width]),
                    dict(zip(counters, map(int, row[1 + width :]), strict=True)),
                )
                for row in self._conn.execute(q)
            ]
        statements = {}  # by table: built once, run for each of its spans (``low``, ``high``)
        for table in (report_hours, report_days):
            at = table.c.hour if table is report_hours else table.c.day
            statements[table.name] = (
                select(
                    *(table.c[d] for d in dims),
                    *(cast(func.sum(table.c[name]), BigInteger) for name in counters),  # PG: not numeric
                )
                .where(_in(at), *lead_rows)
                .group_by(*(table.c[d] for d in dims))
            )
        read: dict[Span, list[tuple[tuple[str, ...], tuple[int, ...]]]] = {}  # a span of two buckets: once
        out = []
        edges = [since, *(c for c in cuts if since < c < until), until]
        for start, end in itertools.pairwise(edges):
            net: dict[tuple[str, ...], tuple[int, ...]] = {}
            for span in spans(start, end, until):
                key = Span(1, span.days, span.low, span.high)
                if key not in read:
                    statement = statements["report_days" if span.days else "report_hours"]
                    read[key] = [
                        (tuple(row[:width]), tuple(row[width:]))
                        for row in self._conn.execute(statement, {"low": span.low, "high": span.high})
                        if row[width] is not None  # (no dimensions, nothing in the span: one row of NULLs)
                    ]
                for who, values in read[key]:
                    into = net.get(who)
                    if into is not None:
                        net[who] = tuple(map(operator.add if span.sign > 0 else operator.sub, into, values))
                    else:
                        net[who] = values if span.sign > 0 else tuple(map(operator.neg, values))
            out += [
                Row(start, who, dict(zip(counters, values, strict=True)))
                for who, values in net.items()
                if any(values)  # (what a day took away from its edge: nothing to report, as ``lines`` has it)
            ]
        return out

    def sum_days(self, days: Sequence[datetime]) -> None:
        keys = [_R.source, _R.entity, _R.partner, _R.profile]
        for day in days:
            q = (
                select(literal(day, UTCDateTime), *keys, *(func.sum(_R[name]) for name in COUNTERS))
                .where(_R.hour >= day, _R.hour < day + DAY)
                .group_by(*keys)
            )
            names = ["day", *DIMENSIONS, *COUNTERS]
            self._conn.execute(insert(report_days).from_select(names, q))
