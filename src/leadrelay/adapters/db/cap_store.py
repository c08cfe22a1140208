"""SQL for cap slots and rotation counters (SQLAlchemy Core): a slot is taken with a conditional UPDATE,
which is exact under concurrency on both databases; a rotation counter hands out consecutive numbers.

Every function takes an open transaction (``Connection``), as in ``store``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Connection, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from leadrelay.adapters.db import dedup_store, wallet_store
from leadrelay.adapters.db.store import DELIVERIES
from leadrelay.adapters.db.tables import cap_counters, deliveries, jobs, leads, rotations
from leadrelay.domain.caps import SOURCE_PREFIX
from leadrelay.domain.states import DeliveryStatus, JobKind, LeadStatus


@lru_cache(maxsize=8)
def _prepared(dialect: str, name: str) -> Any:
    """The INSERT … ON CONFLICT DO NOTHING of a counter row (``cap_row`` or ``rotation_row``)."""
    ins = postgresql.insert if dialect == "postgresql" else sqlite.insert
    if name == "cap_row":
        return (
            ins(cap_counters)
            .values(
                partner=bindparam("b_partner"),
                scope=bindparam("b_scope"),
                window=bindparam("b_window"),
                used=0,
            )
            .on_conflict_do_nothing(index_elements=["partner", "scope", "window"])
        )
    if name == "rotation_row":
        return (
            ins(rotations)
            .values(key=bindparam("b_key"), counter=0)
            .on_conflict_do_nothing(index_elements=["key"])
        )
    raise KeyError(name)


# Built once: cap slots are taken on the hot path (see ``store``).
_CAP_KEY = and_(
    cap_counters.c.partner == bindparam("b_partner"),
    cap_counters.c.scope == bindparam("b_scope"),
    cap_counters.c.window == bindparam("b_window"),
)
_TAKE_SLOT = (
    update(cap_counters)
    .where(_CAP_KEY, cap_counters.c.used < bindparam("b_limit"))
    .values(used=cap_counters.c.used + 1)
)
_GIVE_SLOT = (
    update(cap_counters).where(_CAP_KEY, cap_counters.c.used > 0).values(used=cap_counters.c.used - 1)
)
_SLOT_USED = select(cap_counters.c.used).where(_CAP_KEY)
_ADVANCE_ROTATION = (
    update(rotations)
    .where(rotations.c.key == bindparam("b_key"))
    .values(counter=rotations.c.counter + bindparam("b_n"))
    .returning(rotations.c.counter)
)


_known_rows: set[tuple[Any, str, tuple[Any, ...]]] = set()


def _ensure_row(conn: Connection, kind: str, key: dict[str, Any], *, force: bool = False) -> None:
    """INSERT … ON CONFLICT DO NOTHING a counter row, at most once per process and key: counter rows are
    never deleted, so one statement per lead is saved. (A row remembered from a transaction that rolled
    back is found missing by the caller, which calls again with ``force``.)"""
    marker = (conn.engine.url, kind, tuple(key.values()))  # the URL itself: its text is built per call
    if marker in _known_rows and not force:
        return
    conn.execute(_prepared(conn.dialect.name, kind), key)
    if len(_known_rows) > 100_000:
        _known_rows.clear()
    _known_rows.add(marker)


def reserve_cap(conn: Connection, partner: str, scope: str, window: str, limit: int) -> tuple[bool, int]:
    """Take one slot in a cap window if one is free: ``(True, -1)`` when a slot was taken (the count is not
    read, to save a statement), ``(False, the window's count)`` when the window is full. Exact under
    concurrency: the conditional UPDATE is atomic on both databases."""
    key = {"b_partner": partner, "b_scope": scope, "b_window": window}
    _ensure_row(conn, "cap_row", key)
    for _ in (1, 2):
        if conn.execute(_TAKE_SLOT, {**key, "b_limit": limit}).rowcount == 1:
            return True, -1
        used = conn.execute(_SLOT_USED, key).scalar()
        if used is not None:
            return False, int(used)
        _ensure_row(conn, "cap_row", key, force=True)
    raise AssertionError("unreachable: the counter row exists after a forced insert")


def release_caps(conn: Connection, partner: str, windows: Sequence[Sequence[str]]) -> None:
    """Give back what a delivery held: its cap slots, and a ``["dedup", lead id]`` hold is the partner's
    dedup mark for that lead (the partner did not get the person after all); a ``["money", job id]`` hold is
    the money the job's delivery holds of the partner's budgets and wallet (``wallet_store``)."""
    for scope, window in windows:
        if scope == "dedup":
            dedup_store.release_partner_marks(conn, partner, window)
            continue
        if scope == "money":
            wallet_store.release_holds(conn, window, partner)
            continue
        conn.execute(_GIVE_SLOT, {"b_partner": partner, "b_scope": scope, "b_window": window})


# a delivery in these states keeps its cap slot (a failed or cancelled one gave it back)
_HOLDING = tuple(
    s.value
    for s in (
        DeliveryStatus.PENDING,
        DeliveryStatus.RETRY,
        DeliveryStatus.DELIVERED,
        DeliveryStatus.HELD,
        DeliveryStatus.BATCHED,
    )
)


def seed_window(
    conn: Connection,
    owner: str,
    scope: str,
    window: str,
    since: dt.datetime | None,
    *,
    again: bool = False,
    settled_too: bool = True,
) -> None:
    """``Caps.seed_window``: the window's counter set to what it holds (unless counted already and not
    ``again``, one COUNT), and each delivery counted that may still give its slot back carries the window
    in its ``cap_windows`` (``settled_too``: the delivered ones too, which a cancel may undo; without it,
    for a month's or an installation's whole history, only those not delivered yet: a bounded update)."""
    key = {"b_partner": owner, "b_scope": scope, "b_window": window}
    if not again and conn.execute(_SLOT_USED, key).first() is not None:
        return
    tagged: dict[str, dict[str, Any]] = {}
    if owner.startswith(SOURCE_PREFIX):  # a source's valid leads (what takes a slot of its caps)
        counted = select(func.count()).where(
            leads.c.source == owner.removeprefix(SOURCE_PREFIX),
            leads.c.is_test.is_(False),
            leads.c.status != LeadStatus.REJECTED.value,
        )
        counted = counted.where(leads.c.created_at >= since) if since is not None else counted
        used = int(conn.execute(counted).scalar_one())
    else:  # the partner's deliveries keeping a slot (a resend takes none: it repeats its sale)
        rows = deliveries.join(jobs, jobs.c.id == deliveries.c.job_id)
        mine = [
            deliveries.c.partner == owner,
            deliveries.c.status.in_(_HOLDING),
            deliveries.c.is_test.is_(False),
            jobs.c.kind != JobKind.RESEND.value,
        ]
        mine += [jobs.c.profile == scope] if scope else []
        mine += [deliveries.c.created_at >= since] if since is not None else []
        used = int(conn.execute(select(func.count()).select_from(rows).where(*mine)).scalar_one())
        open_ = mine if settled_too else [*mine, deliveries.c.status != DeliveryStatus.DELIVERED.value]
        held = select(deliveries.c.id, deliveries.c.cap_windows).select_from(rows).where(*open_)
        if conn.dialect.name == "postgresql":  # none of them fails or is cancelled while it is tagged
            held = held.with_for_update(of=deliveries)
        mark = [scope, window]
        tagged = {
            r.id: {"cap_windows": [*r.cap_windows, mark]}
            for r in conn.execute(held)
            if mark not in r.cap_windows
        }
    pg = conn.dialect.name == "postgresql"
    row = (postgresql.insert if pg else sqlite.insert)(cap_counters).values(
        partner=owner, scope=scope, window=window, used=used
    )
    # counted again: never below what the counter says (a counter above the count errs on the cap's side)
    most = (func.greatest if pg else func.max)(cap_counters.c.used, row.excluded.used)
    key_columns = ["partner", "scope", "window"]
    conn.execute(row.on_conflict_do_update(index_elements=key_columns, set_={"used": most}))
    if tagged:
        DELIVERIES.update(conn, tagged)


def cap_usage(conn: Connection, partner: str) -> dict[tuple[str, str], int]:
    rows = conn.execute(
        select(cap_counters.c.scope, cap_counters.c.window, cap_counters.c.used).where(
            cap_counters.c.partner == partner
        )
    )
    return {(r.scope, r.window): int(r.used) for r in rows}


def cap_used(conn: Connection, keys: Sequence[tuple[str, str, str]]) -> dict[tuple[str, str, str], int]:
    """The slots used in these (partner, scope, window) counters, read in one statement (a counter not
    made yet is 0): what ``least_loaded`` compares, read from the rows the caps take their slots in."""
    if not keys:
        return {}
    wanted = or_(
        *(
            and_(cap_counters.c.partner == p, cap_counters.c.scope == s, cap_counters.c.window == w)
            for p, s, w in keys
        )
    )
    c = cap_counters.c
    rows = conn.execute(select(c.partner, c.scope, c.window, c.used).where(wanted))
    found = {(r.partner, r.scope, r.window): int(r.used) for r in rows}
    return {key: found.get(key, 0) for key in keys}


def next_rotation(conn: Connection, key: str, n: int = 1) -> int:
    """Advance a shared rotation counter by ``n`` and return its previous value: the caller owns the
    numbers from there to there + n - 1 (one counter per profile rule; a batch takes its numbers at once)."""
    ensure = {"b_key": key}
    params = {"b_key": key, "b_n": n}
    _ensure_row(conn, "rotation_row", ensure)
    value = conn.execute(_ADVANCE_ROTATION, params).scalar()
    if value is None:
        _ensure_row(conn, "rotation_row", ensure, force=True)
        value = conn.execute(_ADVANCE_ROTATION, params).scalar_one()
    return int(value) - n
