"""Reports (issue 11 point 7): counts and money per source, entity, partner and profile, by hour, day or
month. Pure: the rows come in as hourly sums, the report goes out with its rates and prices.

**Facts, each in the hour it happened (UTC)** — every figure is a sum of integer counters, so hours add up
and a report over any range of whole hours is a sum of hours:

- ``received``, ``rejected``, ``duplicates``, ``suppressed``: leads by their ``created_at`` (test leads
  left out); ``accepted`` = received − rejected − duplicates − suppressed. A lead's source and entity only:
  in a grouping by partner or profile these leads fall on the row whose partner (profile) is ``""``.
- ``offered``: deliveries made (``deliveries.created_at``); ``sold``: deliveries delivered
  (``delivered_at``); acceptance rate = sold / offered (per buyer when grouped by partner). A resend is
  the same sale sent again while the sale it repeats stands (the ledger bills it once), so a resend's
  delivery is offered and sold only when the ledger bills it as a sale (the sale it repeats was cancelled
  or returned), in the hour of its partner's sale entry (``ledger_entries.at``); an installation that
  keeps no ledger counts no resend as a sale. So ``sold`` is what was sold: the average price, the return
  rate and the conversion rate are per sale billed.
- money from the ledger (``ledger_entries.at``), as ``Totals``: ``revenue`` = the partners' sale,
  cancellation and return entries; ``payout`` = minus the sources' payout, cancellation and return entries;
  ``margin`` = the sum of the entries' ``margin``. A cancel or a return nets out in the hour it is posted.
  ``cancelled``/``returns`` count the partners' cancellation/return entries, ``returned`` their amounts.
  Credits, top-ups, payments and adjustments are not per lead and are left out.
- ``attempts`` and ``lat_0`` … ``lat_N``: delivery attempts by ``started_at``, counted into the fixed
  latency buckets ``LATENCY_BOUNDS_MS``; p50/p95 are read from the buckets, so they are approximate to the
  width of the bucket they fall in (interpolated linearly inside it; the last, open bucket gives its lower
  bound).
- ``auctions``/``left_on_table``: exclusive auction sales delivered in the hour that had a second-best
  accepted bid, and the sum of (winner's bid − second-best bid), in cents: the money left on the table.
- conversions, from the buyers' postbacks (``postbacks.received_at``), attributed to the delivery's
  source, entity, partner and profile: ``contacted``, ``converted``, ``rejected_by_buyer`` count the
  postbacks that reported that outcome (``rejected`` is taken: leads rejected at intake); a ``returned``
  postback is not counted here (a return's money is the ledger's ``returns``). ``conversion_revenue``
  sums the revenue of every postback that carried one (in cents), whatever its outcome, as the postbacks'
  own outcomes report does. **Postbacks are counted, not current outcomes**: a delivery reported contacted
  then converted counts once in ``contacted`` (in the hour of the first postback) and once in
  ``converted`` (in the hour of the second), so an hour never changes after it closed and hours add up;
  ``contacted`` is therefore "reported contacted", not "still only contacted". The conversion rate =
  converted / sold, over the same bucket (a conversion reported in a later bucket than its sale counts in
  that later bucket).

**Time zones**: hours are UTC; a report in a zone builds its hours, days and months from UTC hours, so the
zone's offset must be a whole number of hours over the range (a zone such as Asia/Kolkata is refused).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum

DIMENSIONS = ("source", "entity", "partner", "profile")
"""What a report groups by (one or two of them); a rollup row is keyed by all four (``""``: none)."""

LATENCY_BOUNDS_MS = (50, 100, 200, 300, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000, 30000)
"""Bucket ``i`` holds attempts under ``LATENCY_BOUNDS_MS[i]`` ms (and at or over the bound before it); the
last bucket, ``len(LATENCY_BOUNDS_MS)``, holds the rest."""

LATENCY = tuple(f"lat_{i}" for i in range(len(LATENCY_BOUNDS_MS) + 1))

COUNTERS = (
    "received",
    "rejected",
    "duplicates",
    "suppressed",
    "offered",
    "sold",
    "cancelled",
    "returns",
    "revenue",  # cents
    "payout",  # cents
    "margin",  # cents
    "returned",  # cents
    "auctions",
    "left_on_table",  # cents
    "attempts",
    *LATENCY,
    "contacted",
    "converted",
    "rejected_by_buyer",
    "conversion_revenue",  # cents
)
"""Every counter of a rollup row and of a report line (integers; money in cents)."""

LEAD_COUNTERS = COUNTERS[:4]
"""The counters of the leads themselves (received, rejected, duplicates, suppressed). A lead is counted at
its source and entity only: a rollup row carries them with no partner and no profile, so a report of these
alone reads those rows alone (an index of its own keeps them)."""

HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
_CENT = Decimal("0.01")
_RATE = Decimal("0.0001")


class Grain(StrEnum):
    HOUR = "hour"
    DAY = "day"
    MONTH = "month"


@dataclass(frozen=True, slots=True)
class Row:
    """The counters of one UTC hour for one group (``group``: the values of the report's dimensions, or of
    all four ``DIMENSIONS`` for a rollup row)."""

    hour: datetime
    group: tuple[str, ...]
    values: Mapping[str, int]


def bucket_of(duration_ms: float) -> int:
    """The latency bucket of an attempt's duration."""
    for i, bound in enumerate(LATENCY_BOUNDS_MS):
        if duration_ms < bound:
            return i
    return len(LATENCY_BOUNDS_MS)


def percentile(buckets: Sequence[int], q: float) -> float | None:
    """The ``q`` (0–1) percentile in ms from bucket counts, interpolated linearly inside its bucket (the
    open last bucket gives its lower bound); None without attempts."""
    total = sum(buckets)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for i, count in enumerate(buckets):
        if count and seen + count >= rank:
            low = float(LATENCY_BOUNDS_MS[i - 1]) if i else 0.0
            if i >= len(LATENCY_BOUNDS_MS):
                return low
            high = float(LATENCY_BOUNDS_MS[i])
            return round(low + (high - low) * max(0.0, rank - seen) / count, 1)
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])  # pragma: no cover - the loop always reaches the rank


def cents(price: float | Decimal) -> int:
    """A price in whole cents (half up), as the ledger bills it."""
    return int((Decimal(str(price)) * 100).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def left_on_table(winner: float | Decimal, second: float | Decimal) -> int:
    """What an auction's winner paid over the second-best accepted bid, in cents (never below zero)."""
    return max(0, cents(winner) - cents(second))


def ratio(part: int, whole: int) -> Decimal | None:
    """``part / whole`` to four places; None when ``whole`` is 0."""
    return (Decimal(part) / whole).quantize(_RATE, rounding=ROUND_HALF_UP) if whole else None


def per(amount_cents: int, count: int) -> Decimal | None:
    """An amount in cents shared over ``count``, in money (two places); None when ``count`` is 0."""
    if not count:
        return None
    return (Decimal(amount_cents) / 100 / count).quantize(_CENT, rounding=ROUND_HALF_UP)


def money_of(amount_cents: int) -> Decimal:
    return (Decimal(amount_cents) / 100).quantize(_CENT)


class OutOfCalendar(ValueError):
    """An end of a range (``field``: ``since`` or ``until``) that the zone puts outside the calendar."""

    def __init__(self, field: str) -> None:
        super().__init__("is outside the calendar in UTC (years 1 to 9999)")
        self.field = field


def check_zone(zone: tzinfo, since: datetime, until: datetime) -> None:
    """Refuses a zone whose offset is not a whole number of hours somewhere in the range (its days would not
    be made of UTC hours). Checks every change of offset the range can hold at day steps and the ends."""
    for end, at in (("since", since), ("until", until)):
        try:
            at.astimezone(zone)
        except OverflowError:  # 0001-01-01 in New York is before the calendar in UTC
            raise OutOfCalendar(end) from None
    at = since
    while True:
        offset = at.astimezone(zone).utcoffset() or timedelta(0)
        if offset % HOUR:
            raise ValueError(f"the time zone {zone} is not a whole number of hours from UTC")
        if at >= until:
            return
        at = until if until - at <= timedelta(days=1) else at + timedelta(days=1)  # never past 9999-12-31


def bucket(hour: datetime, grain: Grain, zone: tzinfo) -> datetime:
    """The start (in ``zone``) of the hour, day or month a UTC hour belongs to (to show, or to compare with
    the start of a day or month; two hours compare by their UTC instant: see ``lines``)."""
    local = hour.astimezone(zone)
    if grain is Grain.HOUR:
        return local
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if grain is Grain.MONTH:
        day = day.replace(day=1)
    return day


def cuts(since: datetime, until: datetime, grain: Grain, zone: tzinfo) -> list[datetime]:
    """Where the grain's buckets start (in UTC) inside the hours from ``since`` to ``until`` (none for the
    hour grain: each hour is its own bucket)."""
    if grain is Grain.HOUR:
        return []
    out = []
    current = None
    for hour in hours(since, until):
        start = bucket(hour, grain, zone)
        if start != current:
            out.append(hour)
            current = start
    return out


def days_ended(since: datetime, until: datetime) -> list[datetime]:
    """The UTC days (their midnights) that end after ``since`` and by ``until``: the days a rollup from
    ``since`` to ``until`` completes."""
    day = since.replace(hour=0)
    out = []
    while day + DAY <= until:
        if day + DAY > since:
            out.append(day)
        day += DAY
    return out


def floor_hour(at: datetime) -> datetime:
    return at.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def ceil_hour(at: datetime) -> datetime:
    floor = floor_hour(at)
    return floor if floor == at else floor + HOUR


def hours(since: datetime, until: datetime) -> list[datetime]:
    """The UTC hours from ``since`` (an hour) up to ``until`` (excluded)."""
    out = []
    at = since
    while at < until:
        out.append(at)
        at += HOUR
    return out


def add(into: dict[str, int], values: Mapping[str, int]) -> None:
    for name, value in values.items():
        if value:
            into[name] = into.get(name, 0) + value


def project(rows: Iterable[Row], dims: Sequence[str]) -> list[Row]:
    """Rollup rows (keyed by all four ``DIMENSIONS``) summed into the report's dimensions, per hour."""
    index = [DIMENSIONS.index(d) for d in dims]
    sums: dict[tuple[datetime, tuple[str, ...]], dict[str, int]] = {}
    for row in rows:
        key = (row.hour, tuple(row.group[i] for i in index))
        add(sums.setdefault(key, {}), row.values)
    return [Row(hour, group, values) for (hour, group), values in sums.items()]


@dataclass(frozen=True, slots=True)
class Line:
    """One line of a report: a time bucket (its start in the report's zone), a group, its counters."""

    start: datetime
    group: tuple[str, ...]
    values: Mapping[str, int]

    def get(self, name: str) -> int:
        return self.values.get(name, 0)

    @property
    def accepted(self) -> int:
        return self.get("received") - self.get("rejected") - self.get("duplicates") - self.get("suppressed")

    @property
    def latency(self) -> list[int]:
        get = self.values.get
        return [get(name, 0) for name in LATENCY]

    def figures(self) -> dict[str, object]:
        """Every figure of the line, by its column name (money and rates as ``Decimal``; None: no basis)."""
        get = self.values.get  # (a report has thousands of lines, each of about 50 lookups)
        revenue, sold = get("revenue", 0), get("sold", 0)
        latency = self.latency
        return {
            "received": get("received", 0),
            "accepted": self.accepted,
            "rejected": get("rejected", 0),
            "duplicates": get("duplicates", 0),
            "suppressed": get("suppressed", 0),
            "offered": get("offered", 0),
            "sold": sold,
            "acceptance_rate": ratio(sold, get("offered", 0)),
            "cancelled": get("cancelled", 0),
            "revenue": money_of(revenue),
            "payout": money_of(get("payout", 0)),
            "margin": money_of(get("margin", 0)),
            "average_price": per(revenue, sold),
            "effective_price": per(revenue, get("received", 0)),
            "returns": get("returns", 0),
            "returned": money_of(get("returned", 0)),
            "return_rate": ratio(get("returns", 0), sold),
            "attempts": get("attempts", 0),
            "latency_p50_ms": percentile(latency, 0.5),
            "latency_p95_ms": percentile(latency, 0.95),
            "auctions": get("auctions", 0),
            "left_on_table": money_of(get("left_on_table", 0)),
            "contacted": get("contacted", 0),
            "converted": get("converted", 0),
            "rejected_by_buyer": get("rejected_by_buyer", 0),
            "conversion_rate": ratio(get("converted", 0), sold),
            "conversion_revenue": money_of(get("conversion_revenue", 0)),
        }


FIGURES = tuple(Line(datetime(2000, 1, 1, tzinfo=UTC), (), {}).figures())
"""The report's columns after the time bucket and the group, in order."""


def lines(rows: Iterable[Row], grain: Grain, zone: tzinfo) -> list[Line]:
    """Hourly rows (already in the report's dimensions) summed into the grain's buckets in ``zone``,
    ordered by bucket then group. An hour is keyed by its UTC instant and shown in the zone: the two local
    01:00 of a night the clock falls back differ only in ``fold``, which aware datetimes of one zone
    compare and hash without, so keyed by their local start they would be one line."""
    sums: dict[tuple[datetime, tuple[str, ...]], dict[str, int]] = {}
    for row in rows:
        key = row.hour.astimezone(UTC) if grain is Grain.HOUR else bucket(row.hour, grain, zone)
        add(sums.setdefault((key, row.group), {}), row.values)
    return [
        Line(start.astimezone(zone) if grain is Grain.HOUR else start, group, values)
        for (start, group), values in sorted(sums.items(), key=lambda item: (item[0][0], item[0][1]))
        if any(values.values())
    ]


_LEAD_STATUSES = {"rejected": "rejected", "duplicate": "duplicates", "suppressed": "suppressed"}


def lead_counters(status: str, count: int) -> dict[str, int]:
    """The counters of ``count`` leads received with a status (closed at intake: rejected, duplicate,
    suppressed; the others were accepted)."""
    out = {"received": count}
    if status in _LEAD_STATUSES:
        out[_LEAD_STATUSES[status]] = count
    return out


def ledger_counters(party_kind: str, kind: str, amount: int, margin: int, count: int) -> dict[str, int]:
    """The counters of ``count`` ledger entries of one party kind and kind (amounts in cents, summed), as
    ``domain.ledger.Totals`` sums them: revenue from the partners' sale side, payout from the sources'
    payout side, margin from every entry's margin."""
    out: dict[str, int] = {}
    if party_kind == "partner" and kind in ("sale", "cancellation", "return"):
        out["revenue"] = amount
        if kind == "cancellation":
            out["cancelled"] = count
        elif kind == "return":
            out["returns"] = count
            out["returned"] = -amount
    elif party_kind == "source" and kind in ("payout", "cancellation", "return"):
        out["payout"] = -amount
    if margin:
        out["margin"] = margin
    return out


_OUTCOMES = {"contacted": "contacted", "converted": "converted", "rejected": "rejected_by_buyer"}


def postback_counters(outcome: str, count: int, revenue: int) -> dict[str, int]:
    """The counters of ``count`` postbacks reporting ``outcome`` (a ``DeliveryOutcome``'s value) whose
    revenues sum to ``revenue`` cents: the outcome's counter (none for ``returned``) and the revenue."""
    out: dict[str, int] = {}
    if outcome in _OUTCOMES:
        out[_OUTCOMES[outcome]] = count
    if revenue:
        out["conversion_revenue"] = revenue
    return out
