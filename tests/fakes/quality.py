"""Fakes of the dedup marks (``dedup_store``), the suppression lists (``suppression_store``) and the hosted
form's post counts (``form_store``)."""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import datetime
from typing import Any

from leadrelay.domain.dedup import Mark
from leadrelay.domain.suppression import ListRow
from tests.fakes.tables import FakeRow, Tables


class FakeDedupMarks:
    """Dedup marks: keyed hashes of a lead's values, per scope, with expiry. ``locked``: the keys
    ``lock_keys`` was asked for (a no-op, as on SQLite)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables
        self.locked: set[tuple[str, str]] = set()

    def lock_keys(self, keys: Collection[tuple[str, str]]) -> None:
        self.locked |= set(keys)

    def load_marks(self, keys: Collection[tuple[str, str]]) -> dict[tuple[str, str], Mark]:
        found: dict[tuple[str, str], Mark] = {}
        for scope, key_hash in sorted(set(keys)):
            row = self._t.find("dedup_marks", scope, key_hash)
            if row is not None:
                found[(scope, key_hash)] = Mark(row["lead_id"], row["seen_at"])
        return found

    def put_marks(self, rows: Sequence[dict[str, Any]]) -> None:
        last: dict[tuple[str, str], dict[str, Any]] = {}
        for row in rows:  # the last row of a key wins
            last[(row["scope"], row["key_hash"])] = row
        for (scope, key_hash), row in last.items():
            there = self._t.find("dedup_marks", scope, key_hash)
            if there is None:
                self._t.insert("dedup_marks", row)
            else:  # ON CONFLICT DO UPDATE: the mark moves to the new lead
                self._t.update("dedup_marks", there, {"lead_id": row["lead_id"], "seen_at": row["seen_at"]})

    def release_partner_marks(self, partner: str, lead_id: str) -> None:
        # LIKE 'partner:<partner>:%' with the name escaped (note: SQLite's LIKE ignores ASCII case; partner
        # names are lower case)
        prefix = f"partner:{partner}:"
        for row in self._t.where(
            "dedup_marks", lambda r: r["lead_id"] == lead_id and r["scope"].startswith(prefix)
        ):
            self._t.delete("dedup_marks", row)

    def forget_leads(self, lead_ids: Sequence[str]) -> int:
        ids = set(lead_ids)
        gone = self._t.where("dedup_marks", lambda r: r["lead_id"] in ids)
        for row in gone:
            self._t.delete("dedup_marks", row)
        for row in self._t.where("lead_lookup", lambda r: r["lead_id"] in ids):
            self._t.delete("lead_lookup", row)
        return len(gone)

    def put_lookups(self, rows: Sequence[tuple[str, str]]) -> None:
        for lead_id, key_hash in sorted(set(rows)):  # ON CONFLICT DO NOTHING
            if self._t.find("lead_lookup", key_hash, lead_id) is None:
                self._t.insert("lead_lookup", {"key_hash": key_hash, "lead_id": lead_id})

    def _forget_lookups(self, lead_ids: Sequence[str]) -> None:
        ids = set(lead_ids)
        for row in self._t.where("lead_lookup", lambda r: r["lead_id"] in ids):
            self._t.delete("lead_lookup", row)

    def replace_lookups(
        self, lead_ids: Sequence[str], rows: Sequence[tuple[str, str]], *, wait: bool = False
    ) -> tuple[int, list[str]]:
        live = {i for i in lead_ids if (r := self._t.find("leads", i)) is not None and r["erased_at"] is None}
        self._forget_lookups(sorted(live))
        self.put_lookups([(lead, key) for lead, key in rows if lead in live])
        return len(live), []  # no other transaction holds a row (as on SQLite)

    def leads_by_lookup(self, keys: Collection[str], limit: int, *, before: str | None = None) -> list[str]:
        wanted = set(keys)
        found = {r["lead_id"] for r in self._t.where("lead_lookup", lambda r: r["key_hash"] in wanted)}
        return sorted((i for i in found if before is None or i < before), reverse=True)[:limit]

    def any_marks(self) -> bool:
        return any(True for _ in self._t.stored("dedup_marks"))

    def count_marks(self) -> int:
        return sum(1 for _ in self._t.stored("dedup_marks"))

    def marks_after(self, after: tuple[str, str] | None, limit: int) -> list[FakeRow]:
        rows = sorted(self._t.stored("dedup_marks"), key=lambda r: (r["scope"], r["key_hash"]))
        if after is not None:
            rows = [r for r in rows if (r["scope"], r["key_hash"]) > tuple(after)]
        if limit >= 0:  # a negative limit is no limit on SQLite
            rows = rows[:limit]
        return [self._t.row("dedup_marks", r) for r in rows]

    def drop_marks(self, keys: Collection[tuple[str, str]]) -> None:
        for scope, key_hash in keys:
            row = self._t.find("dedup_marks", scope, key_hash)
            if row is not None:
                self._t.delete("dedup_marks", row)

    def move_marks(self, moves: Sequence[tuple[Any, str]]) -> None:
        """``dedup_store.move_marks`` step by step: where two marks would get the same hash, the later
        one stays."""
        best: dict[tuple[str, str], Any] = {}
        drop: list[tuple[str, str]] = []
        for mark, new in moves:
            key = (mark.scope, new)
            rival = best.get(key)
            if rival is not None and rival.seen_at >= mark.seen_at:
                drop.append((mark.scope, mark.key_hash))
                continue
            if rival is not None:
                drop.append((rival.scope, rival.key_hash))
            best[key] = mark
        for key, there in self.load_marks(list(best)).items():
            if there.seen_at >= best[key].seen_at:
                mark = best.pop(key)
                drop.append((mark.scope, mark.key_hash))
            else:
                drop.append(key)
        self.drop_marks(drop)
        for (scope, new), mark in best.items():
            row = self._t.find("dedup_marks", scope, mark.key_hash)
            if row is not None:
                self._t.update("dedup_marks", row, {"key_hash": new})


class FakeSuppressionLists:
    """Suppression lists and their hashed entries."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def create_list(self, name: str, kind: str, description: str | None, now: datetime) -> None:
        row = {"name": name, "kind": kind, "description": description, "created_at": now}
        self._t.insert("suppression_lists", row)

    def count_entries(self, name: str) -> int:
        return len(self._t.where("suppression_entries", lambda r: r["list"] == name))

    def get_list(self, name: str, *, lock: bool = False, count: bool = True) -> ListRow | None:
        row = self._t.find("suppression_lists", name)
        if row is None:
            return None
        entries = self.count_entries(name) if count else None
        return ListRow(row["name"], row["kind"], row["description"], row["created_at"], entries)

    def lists(self) -> list[ListRow]:
        rows = sorted(self._t.stored("suppression_lists"), key=lambda r: r["name"])
        return [
            ListRow(r["name"], r["kind"], r["description"], r["created_at"], self.count_entries(r["name"]))
            for r in rows
        ]

    def delete_list(self, name: str) -> int:
        entries = self._t.where("suppression_entries", lambda r: r["list"] == name)
        for row in entries:
            self._t.delete("suppression_entries", row)
        there = self._t.find("suppression_lists", name)
        if there is not None:
            self._t.delete("suppression_lists", there)
        return len(entries)

    def add_hashes(self, list_name: str, hashes: Iterable[str]) -> int:
        added = 0
        for value_hash in dict.fromkeys(hashes):
            if self._t.find("suppression_entries", list_name, value_hash) is None:
                self._t.insert("suppression_entries", {"list": list_name, "value_hash": value_hash})
                added += 1
        return added

    def remove_hashes(self, list_name: str, hashes: Iterable[str]) -> int:
        removed = 0
        for value_hash in dict.fromkeys(hashes):
            row = self._t.find("suppression_entries", list_name, value_hash)
            if row is not None:
                self._t.delete("suppression_entries", row)
                removed += 1
        return removed

    def listed(self, lists: Sequence[str], hashes: Collection[str]) -> set[tuple[str, str]]:
        wanted, values = set(lists), set(hashes)
        return {
            (r["list"], r["value_hash"])
            for r in self._t.stored("suppression_entries")
            if r["list"] in wanted and r["value_hash"] in values
        }


class FakeFormPosts:
    """The hosted form's post counts per source, client address and window (``form_store``)."""

    def __init__(self, tables: Tables) -> None:
        self._t = tables

    def count_post(self, source: str, client: str, window_start: datetime, limit: int) -> bool:
        there = self._t.find("form_posts", source, client, window_start)
        if there is None:  # INSERT … ON CONFLICT DO UPDATE … WHERE posts < limit
            self._t.insert(
                "form_posts", {"source": source, "client": client, "window_start": window_start, "posts": 1}
            )
            return True
        if there["posts"] >= limit:
            return False
        self._t.update("form_posts", there, {"posts": there["posts"] + 1})
        return True

    def forget_windows(self, before: datetime, *, limit: int) -> int:
        old = self._t.where("form_posts", lambda r: r["window_start"] < before)[:limit]
        for row in old:
            self._t.delete("form_posts", row)
        return len(old)
