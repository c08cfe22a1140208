"""Configuration as code: apply a document (all or nothing), export, and single-object CRUD for the API."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadrelay.configuration import secrets
from leadrelay.configuration.load import Objects, dump_yaml, validate_document
from leadrelay.configuration.money import wallet_of
from leadrelay.configuration.schema import unknown
from leadrelay.errors import ConfigError, ConfigProblem, NotFound
from leadrelay.services import credentials
from leadrelay.services.ports import Clock, Ring, Sealer, Storage, Tx, system_clock
from leadrelay.services.reservations import seed_new_windows

KINDS = ("smtp", "entities", "sources", "partners", "profiles", "alerts")

_SECRET_KEY = re.compile(r"pass(word)?|secret|token|auth|api[-_]?key|cookie|signature", re.IGNORECASE)


def redact(value: Any, key: str = "") -> Any:
    """A copy fit for the audit log: values under secret-looking keys (a password, an Authorization
    header) become ``***``; ``${ENV}`` references stay, they are not secrets."""
    if isinstance(value, dict):
        return {k: redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v, key) for v in value]
    if key and _SECRET_KEY.search(key) and value not in (None, "") and not _is_env_ref(value):
        return "***"
    return value


def _is_env_ref(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("${") and value.endswith("}")


@dataclass(frozen=True, slots=True)
class Change:
    kind: str
    name: str
    action: str  # created | updated | unchanged | deleted

    def as_dict(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "action": self.action}


def same_document(a: Any, b: Any) -> bool:
    """Exactly the same document: the order of a mapping's keys counts (an XML mapping's elements, an
    entity's fields are in the order written) and so do types (``1`` is not ``true``), which ``==`` on
    dicts ignores."""
    return _exact(a) == _exact(b)


def _exact(doc: Any) -> str:
    return json.dumps(doc, ensure_ascii=False, separators=(",", ":"), default=repr)


def plan_changes(existing: Objects, incoming: Objects) -> list[Change]:
    changes: list[Change] = []
    for kind in KINDS:
        for name, doc in incoming.get(kind, {}).items():
            old = existing.get(kind, {}).get(name)
            action = "created" if old is None else ("unchanged" if same_document(old, doc) else "updated")
            changes.append(Change(kind, name, action))
    return changes


def apply_objects(
    tx: Tx,
    incoming: Objects,
    *,
    actor: str,
    dry_run: bool,
    existing: Objects | None = None,
    clock: Clock = system_clock,
) -> list[Change]:
    """Validate ``incoming`` against what is stored and write it in this transaction (unless dry run)."""
    if existing is None:
        existing = tx.config.load_objects()
    changes = plan_changes(existing, incoming)
    if dry_run or all(c.action == "unchanged" for c in changes):
        return changes
    now = clock()
    for change in changes:
        if change.action == "unchanged":
            continue
        doc = incoming[change.kind][change.name]
        tx.config.put_object(change.kind, change.name, doc, now)
        if change.kind == "partners":
            tx.wallets.configure_wallets({change.name: wallet_of(doc)})
        if change.kind == "alerts" and change.action == "created":  # not a deleted namesake's state
            tx.alerts.forget_state(change.name)
        tx.config.audit(
            actor=actor,
            action=f"config.{change.action}",
            object_kind=change.kind,
            object_id=change.name,
            at=now,
            detail={"doc": redact(doc)},
        )
    after = {kind: {**existing.get(kind, {}), **incoming.get(kind, {})} for kind in KINDS}
    seed_new_windows(tx, existing, after, [(c.kind, c.name) for c in changes if c.action != "unchanged"], now)
    tx.config.bump_version()
    return changes


def check_suppression_lists(tx: Tx, objects: Objects) -> None:
    """Every ``suppression`` entry names a list that exists (lists are data, created before use)."""
    check_suppression_names(objects, tx.suppression_names.list_names())


def check_suppression_names(objects: Objects, names: set[str]) -> None:
    """``check_suppression_lists`` against the list ``names`` read already (no transaction needed)."""
    problems = [
        ConfigProblem(f"{kind}.{name}.suppression[{i}]", unknown("suppression list", listed, names))
        for kind in ("entities", "profiles", "partners")
        for name, doc in objects.get(kind, {}).items()
        for i, listed in enumerate(doc.get("suppression", ()))
        if listed not in names
    ]
    if problems:
        raise ConfigError(problems)


class SecretKeeper:
    """Seals the literal secrets of incoming objects, keeps stored ones for ``***``, and leaves an object
    whose secrets did not change exactly as stored (so re-applying reports ``unchanged``)."""

    def __init__(self, tx: Tx, sealer: Sealer | None) -> None:
        self._tx = tx
        self._sealer = sealer
        self._ring: Ring | None = None

    def ring(self, path: str) -> Ring:
        if self._ring is None:
            self._ring = self.check_sealer(path).ring_sync(tx=self._tx)
        return self._ring

    def check_sealer(self, path: str) -> Sealer:
        """The sealer; a literal secret (at ``path``) is refused when there is no key to seal it with."""
        if self._sealer is None or not self._sealer.available:
            raise ConfigError(
                [ConfigProblem(path, "a literal secret is stored encrypted: set LEADRELAY_SECRET_KEY, or "
                               "write it as a ${ENV_VAR} reference")]
            )  # fmt: skip
        return self._sealer

    def sealing(self, path: str) -> Callable[[str, bytes], str]:
        ring = self.ring(path)
        return lambda text, aad: ring.seal(text.encode(), aad)

    def opened(self, kind: str, name: str, doc: dict[str, Any]) -> dict[str, Any]:
        return secrets.open_all(
            kind, name, doc, lambda token, aad: self.ring(f"{kind}.{name}").open(token, aad).decode()
        )

    def prepare(self, incoming: Objects, existing: Objects, *, dry_run: bool = False) -> Objects:
        """``incoming`` as it would be stored. A ``dry_run`` seals nothing (the first seal makes the
        installation's data key, a write): its literal secrets stay as given, refused as a real apply
        refuses them when there is no key."""
        out: Objects = {}
        for kind, docs in incoming.items():
            out[kind] = {}
            for name, doc in docs.items():
                stored = existing.get(kind, {}).get(name)
                secrets.merge_kept(kind, name, doc, stored)
                if stored is not None and same_document(
                    self.opened(kind, name, stored), self.opened(kind, name, doc)
                ):
                    out[kind][name] = stored  # same values: keep the stored ciphertexts
                    continue
                places = [
                    path
                    for path, block, key in secrets.secret_places(kind, doc)
                    if secrets.is_literal(block[key])
                ]
                if places and dry_run:
                    self.check_sealer(f"{kind}.{name}.{places[0]}")
                elif places:
                    secrets.seal_all(kind, name, doc, self.sealing(f"{kind}.{name}.{places[0]}"))
                out[kind][name] = doc
        return out


def apply_in(
    tx: Tx,
    data: Any,
    *,
    actor: str,
    dry_run: bool = False,
    sealer: Sealer | None = None,
    clock: Clock = system_clock,
    existing: Objects | None = None,
) -> list[Change]:
    """Apply a whole document in this transaction. The caller took the configuration's lock
    (``tx.config.lock_config``) and may pass the ``existing`` objects it read after taking it."""
    if existing is None:
        existing = tx.config.load_objects()
    incoming = validate_document(data, existing)
    check_what_stays(existing, incoming)
    check_suppression_lists(tx, incoming)
    incoming = SecretKeeper(tx, sealer).prepare(incoming, existing, dry_run=dry_run)
    return apply_objects(tx, incoming, actor=actor, dry_run=dry_run, existing=existing, clock=clock)


def check_what_stays(existing: Objects, incoming: Objects) -> None:
    """A document names some objects: the stored ones it leaves alone must stay valid with the new ones
    (a stored profile's rule on a field the entity no longer has, an auction naming a partner that lost
    its price, a stored source's hosted form that cannot collect a new entity's required field), or
    nothing is applied; the problems name the stored objects' paths, as a delete's do. New objects count
    too: their own references were checked against the stored ones, not the stored ones against them."""
    if not any(existing.values()):
        return  # nothing stored: the document was validated whole
    merged = {kind: dict(existing.get(kind, {})) for kind in existing.keys() | incoming.keys()}
    for kind, docs in incoming.items():
        merged[kind].update(docs)
    names = [f"{kind}.{name}" for kind, docs in incoming.items() for name in docs]
    after = "applying " + ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
    _still_valid(merged, after, before=existing)


def _still_valid(objects: Objects, after: str, *, before: Objects) -> None:
    """``objects`` (what would be stored) validate as a whole, but for the problems the stored objects
    (``before``) had already (a check added by an upgrade must not lock an installation out of every
    change; re-applying the object itself meets the check); else ``ConfigError`` naming each problem's
    path, ``(after …)`` the change that caused it."""
    try:
        validate_document(objects)
    except ConfigError as exc:
        try:
            validate_document(before)
            known: set[tuple[str, str]] = set()
        except ConfigError as old:
            known = {(p.path, p.message) for p in old.problems}
        new = [p for p in exc.problems if (p.path, p.message) not in known]
        if new:
            raise ConfigError([ConfigProblem(p.path, f"{p.message} (after {after})") for p in new]) from exc


def _apply_tx(
    data: Any, actor: str, dry_run: bool, sealer: Sealer | None, clock: Clock
) -> Callable[[Tx], list[Change]]:
    def apply(tx: Tx) -> list[Change]:
        if not dry_run:  # changes of the configuration are made one at a time (``lock_config``)
            tx.config.lock_config()
        return apply_in(tx, data, actor=actor, dry_run=dry_run, sealer=sealer, clock=clock)

    return apply


async def apply_document(
    storage: Storage,
    data: Any,
    *,
    actor: str,
    dry_run: bool = False,
    sealer: Sealer | None = None,
    clock: Clock = system_clock,
) -> list[Change]:
    """Apply a whole document: every object is validated first; one invalid value refuses all of it."""
    return await storage.run(_apply_tx(data, actor, dry_run, sealer, clock))


def apply_document_sync(
    storage: Storage,
    data: Any,
    *,
    actor: str,
    dry_run: bool = False,
    sealer: Sealer | None = None,
    clock: Clock = system_clock,
) -> list[Change]:
    return storage.transaction(_apply_tx(data, actor, dry_run, sealer, clock))


def masked(objects: Objects) -> Objects:
    """What the API and export show: secrets as ``***`` (``${ENV}`` references as they are)."""
    return {
        kind: {name: secrets.mask(kind, doc) for name, doc in docs.items()} for kind, docs in objects.items()
    }


def stored_objects(tx: Tx) -> Objects:
    return tx.config.load_objects()


def export_yaml(storage: Storage) -> str:
    return dump_yaml(masked(storage.read(stored_objects)))


async def put_object(
    storage: Storage,
    kind: str,
    name: str,
    doc: Any,
    *,
    actor: str,
    sealer: Sealer | None = None,
    clock: Clock = system_clock,
) -> Change:
    changes = await apply_document(storage, {kind: {name: doc}}, actor=actor, sealer=sealer, clock=clock)
    return changes[0]


async def delete_object(
    storage: Storage, kind: str, name: str, *, actor: str, clock: Clock = system_clock
) -> None:
    """Delete one object; refused when what remains would be invalid (a profile still names a partner)."""

    def delete(tx: Tx) -> None:
        tx.config.lock_config()
        delete_in(tx, kind, name, actor=actor, clock=clock)

    await storage.run(delete)


def delete_in(
    tx: Tx,
    kind: str,
    name: str,
    *,
    actor: str,
    clock: Clock = system_clock,
    existing: Objects | None = None,
) -> None:
    """``delete_object`` in this transaction (the caller took ``tx.config.lock_config``)."""
    if existing is None:
        existing = tx.config.load_objects()
    if name not in existing.get(kind, {}):
        raise NotFound(f"no {kind[:-1] if kind.endswith('s') else kind} named {name!r}")
    remaining = copy.deepcopy(existing)
    del remaining[kind][name]
    _still_valid(remaining, f"deleting {kind}.{name}", before=existing)
    tx.config.delete_object(kind, name)
    now = clock()
    tx.config.audit(actor=actor, action="config.deleted", object_kind=kind, object_id=name, at=now, detail={})
    if kind == "sources":
        credentials.revoke_source_keys(tx, name, actor=actor, now=now)
        credentials.disable_portal_users(tx, "source", name, actor=actor, now=now)
        tx.deliveries.revoke_supplier_pings(name, now)  # its quotes die with it, as its keys do
    elif kind == "alerts":  # a rule created later under this name starts afresh
        tx.alerts.forget_state(name)
    elif kind == "partners":
        credentials.revoke_partner_keys(tx, name, actor=actor, now=now)
        credentials.disable_portal_users(tx, "partner", name, actor=actor, now=now)
        tx.wallets.configure_wallets({name: None})
    tx.config.bump_version()
