"""Reservations a routing batch takes at once, from the stored counters (``tx.caps``): a slot in every cap
window of a partner (pacing included), the day loads ``least_loaded`` compares, and rotation numbers.

They are taken inside the batch's transaction, not collected in ``Writes``: later jobs of the batch must see
them (``services.distribution``).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

from leadrelay.domain.caps import source_counter, window_key, window_start
from leadrelay.domain.model import CapPeriod, Pacing, PartnerSpec
from leadrelay.domain.pacing import LOAD_SCOPE, Load, even_allowance, least_loaded_order, load_window
from leadrelay.domain.routing import Evaluation, rotation_key
from leadrelay.domain.selection import needs_rotation
from leadrelay.services.config_in_force import LiveConfig
from leadrelay.services.ports import Objects, Tx

_PERIOD_ORDER = (CapPeriod.HOUR, CapPeriod.DAY, CapPeriod.WEEK, CapPeriod.MONTH, CapPeriod.TOTAL)
_NO_LIMIT = 2**31 - 1  # a day count is a counter with no limit


class _Window(NamedTuple):
    """One cap window a lead takes a slot in: whose caps (``""``: the partner's own; else the profile's),
    its period and key, the cap, and what may be used now (less than the cap when pacing holds back)."""

    scope: str
    period: CapPeriod
    key: str
    limit: int
    allowed: int
    paced: bool = False  # the partner's own day window of a partner paced ``even``


def _windows(
    partner: PartnerSpec, profile_caps: Mapping[CapPeriod, int], profile: str, now: datetime
) -> Iterator[_Window]:
    """The partner's cap windows now, its own then those within the profile, shortest period first. A
    partner paced ``even`` has its own day window limited to its allowance so far (``domain.pacing``)."""
    tz = ZoneInfo(partner.timezone)
    for scope, caps in (("", partner.caps), (profile, profile_caps)):
        for period in _PERIOD_ORDER:
            limit = caps.get(period)
            if limit is None:
                continue
            paced = scope == "" and period is CapPeriod.DAY and partner.pacing is Pacing.EVEN
            allowed = even_allowance(limit, partner.hours, tz, now) if paced else limit
            yield _Window(scope, period, window_key(period, tz, now), limit, allowed, paced)


def _held(w: _Window, used: int, profile: str) -> str:
    """Why a lead cannot take a slot in ``w`` with ``used`` taken: pacing's hold, or the cap reached."""
    if used < w.limit:
        return f"held back by pacing (even: {used} of {w.limit} today, {w.allowed} allowed so far)"
    where = f" in profile {profile}" if w.scope else ""
    return f"cap {w.period.value} {used}/{w.limit} reached{where}"


def reserve(
    tx: Tx,
    partner: PartnerSpec,
    profile_caps: Mapping[CapPeriod, int],
    profile: str,
    now: datetime,
    *,
    count_load: bool = False,
) -> tuple[list[list[str]], str | None]:
    """Take a slot in every cap window of the partner (own caps, then caps within the profile).

    Pacing's allowance is the limit of the day window's reservation: the same atomic reservation, so
    pacing is as exact as the cap. ``count_load``: also count the lead in the partner's day count (an
    uncapped partner that ``least_loaded`` compares). Returns the windows taken, or the reason none were
    (the first cap reached with its count, or pacing's hold).
    """
    taken: list[list[str]] = []
    for w in _windows(partner, profile_caps, profile, now):
        ok, used = tx.caps.reserve_cap(partner.name, w.scope, w.key, w.allowed)
        if not ok:
            tx.caps.release_caps(partner.name, taken)
            return [], _held(w, used, profile)
        taken.append([w.scope, w.key])
    if count_load:
        window = window_key(CapPeriod.DAY, ZoneInfo(partner.timezone), now)
        tx.caps.reserve_cap(partner.name, LOAD_SCOPE, window, _NO_LIMIT)
        taken.append([LOAD_SCOPE, window])
    return taken, None


def seed_new_windows(
    tx: Tx, before: Objects, after: Objects, changed: Iterable[tuple[str, str]], now: datetime
) -> None:
    """At ``apply``: the current window of every cap of the changed partners, profiles and sources (kind,
    name) counts what it holds (``Caps.seed_window``): a cap added in the middle of its window starts from
    the deliveries (a source's: leads) it had already, not from zero. A period newly capped, or one whose
    zone moved, is counted again (its counter, if any, froze while it was not capped here); a window
    counted under the same cap is left as it is. ``before`` and ``after``: the configuration around it."""
    for kind, name in changed:
        doc, old = after.get(kind, {}).get(name), before.get(kind, {}).get(name) or {}
        if doc is None:
            continue
        moved = doc.get("timezone") != old.get("timezone")
        if kind in ("partners", "sources"):
            owner = name if kind == "partners" else source_counter(name)
            _seed(tx, owner, "", doc.get("caps") or {}, {} if moved else old.get("caps") or {}, doc, now)
        if kind == "partners":  # its caps within the profiles: their windows are in its zone
            for profile, spec in after.get("profiles", {}).items():
                if caps := (spec.get("partner_caps") or {}).get(name):
                    _seed(tx, name, profile, caps, {} if moved else caps, doc, now)
        if kind == "profiles":
            was = old.get("partner_caps") or {}
            for partner, caps in (doc.get("partner_caps") or {}).items():
                if (zone := after.get("partners", {}).get(partner)) is not None:
                    _seed(tx, partner, name, caps, was.get(partner) or {}, zone, now)


def _seed(
    tx: Tx,
    owner: str,
    scope: str,
    caps: Mapping[str, int],
    capped: Mapping[str, int],
    zone: Mapping[str, Any],
    now: datetime,
) -> None:
    """Seed the windows of ``caps`` now, in the zone of ``zone`` (the partner's or source's document); a
    period not in ``capped`` (the caps before the change) is counted again."""
    tz = ZoneInfo(zone.get("timezone") or "UTC")
    for name in caps:
        period = CapPeriod(name)
        start = window_start(period, tz, now)
        long = period in (CapPeriod.MONTH, CapPeriod.TOTAL)  # its sales counted, not each updated
        key = window_key(period, tz, now)
        tx.caps.seed_window(owner, scope, key, start, again=name not in capped, settled_too=not long)


class CapUse(NamedTuple):
    """A cap window in force now and how much of it is used (``/metrics``, the dashboard)."""

    partner: str
    scope: str  # "" for the partner's own caps, else the profile
    period: CapPeriod
    used: int
    limit: int
    allowed: int | None = None  # paced (``even``): what the partner may have had so far today; else None


def cap_usage(tx: Tx, live: LiveConfig, now: datetime) -> list[CapUse]:
    """Every cap window in force now (the partners' own caps, then their caps within each profile) with
    its use, read in one statement. ``limit`` is the cap; a paced window also gives pacing's allowance so
    far (``allowed``), which the day window's reservations are held to."""
    windows: dict[tuple[str, str, str], _Window] = {}
    for name, partner in live.specs.partners.items():
        for w in _windows(partner, {}, "", now):
            windows[(name, w.scope, w.key)] = w
    for profile_name, profile in live.specs.profiles.items():
        for name, caps in profile.partner_caps.items():
            within = live.specs.partners.get(name)
            if within is None or not caps:
                continue
            for w in _windows(within, caps, profile_name, now):
                if w.scope:
                    windows[(name, w.scope, w.key)] = w
    used = tx.caps.cap_used(list(windows)) if windows else {}
    return [
        CapUse(key[0], w.scope, w.period, used.get(key, 0), w.limit, w.allowed if w.paced else None)
        for key, w in windows.items()
    ]


def cap_room(
    tx: Tx, partners: Sequence[tuple[PartnerSpec, Mapping[CapPeriod, int]]], profile: str, now: datetime
) -> dict[str, str]:
    """Which of these partners (each with its caps within the profile) are at a cap or held back by pacing
    now, with the words :func:`reserve` would give: read in one statement, nothing taken. An auction
    pings only partners with room; the winner's slot is then reserved, exactly, by :func:`reserve`."""
    windows = {
        (partner.name, w.scope, w.key): w
        for partner, profile_caps in partners
        for w in _windows(partner, profile_caps, profile, now)
    }
    used = tx.caps.cap_used(list(windows))
    full: dict[str, str] = {}
    for key, w in windows.items():
        name = key[0]
        if used[key] >= w.allowed and name not in full:
            full[name] = _held(w, used[key], profile)
    return full


def least_loaded(tx: Tx, live: LiveConfig, candidates: Sequence[str], now: datetime) -> tuple[list[str], str]:
    """The candidates least loaded first (``domain.pacing``), with a trace line of the loads compared;
    the usage is read from the counters the caps reserve in (one statement)."""
    cfg = live.compiled
    windows = {}
    for name in candidates:
        partner = cfg.partners[name]
        windows[name] = load_window(partner.caps, cfg.zones[partner.timezone], now)
    used = tx.caps.cap_used([(name, scope, window) for name, (scope, window, _, _) in windows.items()])
    loads = {
        name: Load(used[(name, scope, window)], limit, period)
        for name, (scope, window, limit, period) in windows.items()
    }
    line = "loads: " + ", ".join(f"{name} {loads[name].text()}" for name in candidates)
    return least_loaded_order(candidates, loads), line


class Rotations:
    """Rotation numbers for a batch of jobs, taken from the stored counters once per rule and batch
    (exact: the numbers are consecutive and each is used once, in the order the jobs are routed)."""

    def __init__(self, tx: Tx) -> None:
        self._tx = tx
        self._ready: dict[str, list[int]] = {}

    def reserve(self, wanted: Mapping[str, int]) -> None:
        for key, n in wanted.items():
            first = self._tx.caps.next_rotation(key, n)
            self._ready.setdefault(key, []).extend(range(first + n - 1, first - 1, -1))

    def next(self, key: str) -> int:
        ready = self._ready.get(key)
        return ready.pop() if ready else self._tx.caps.next_rotation(key)


def rotations_wanted(plans: Mapping[str, Evaluation | None], profiles: Mapping[str, str]) -> dict[str, int]:
    """How many rotation numbers each rule needs for these planned jobs (job id → profile name)."""
    wanted: dict[str, int] = {}
    for job_id, ev in plans.items():
        if ev is not None and ev.target is not None and len(ev.candidates) > 1 and needs_rotation(ev.target):
            key = rotation_key(profiles[job_id], ev.rule)
            wanted[key] = wanted.get(key, 0) + 1
    return wanted
