"""A draft configuration for the routing simulator (``services.simulation``): a YAML document as the apply
command takes it, checked by the same code (``validate_document`` over the stored objects, the stored
objects it leaves alone still valid with it: ``check_what_stays``, the suppression lists named), laid over
the stored configuration (each object replaces the stored one whole) and compiled, never stored.

The steps keep the database out of the slow part: ``parse_draft`` (the YAML, its alias budget included:
``configuration.load``) runs before any transaction; ``underneath`` reads what the draft is laid over in
the caller's short read transaction; ``draft_config`` (validation, merge, compilation: pure) runs after
it. A large or hostile draft never holds a transaction open.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leadrelay.configuration import secrets
from leadrelay.configuration.load import Objects, build_specs, load_yaml_text, validate_document
from leadrelay.domain.dedup import MarkHasher
from leadrelay.services.config_in_force import LiveConfig, compile_live
from leadrelay.services.configure import check_suppression_names, check_what_stays
from leadrelay.services.ports import DedupKeys, Tx


@dataclass(frozen=True, slots=True)
class FixedKeys:
    """The installation's dedup hasher, read before the read-only transaction (``DedupKeys``)."""

    hasher_: MarkHasher

    @property
    def cached(self) -> MarkHasher:
        return self.hasher_

    async def hasher(self) -> MarkHasher:
        return self.hasher_

    def hasher_sync(self, *, tx: Tx | None = None) -> MarkHasher:
        return self.hasher_


@dataclass(frozen=True, slots=True)
class Draft:
    """A draft document parsed (``parse_draft``), not checked yet."""

    data: Any


@dataclass(frozen=True, slots=True)
class Underneath:
    """What a draft is laid over and checked against, read in one transaction: the stored objects and the
    names of the suppression lists."""

    objects: Objects
    lists: set[str]


def parse_draft(text: str) -> Draft:
    """The draft's YAML parsed (``ConfigError`` for bad YAML, or aliases that expand it too far). CPU
    only: call it before opening a transaction."""
    return Draft(load_yaml_text(text))


def underneath(tx: Tx) -> Underneath:
    return Underneath(tx.config.load_objects(), tx.suppression_names.list_names())


def draft_objects(draft: Draft, under: Underneath) -> Objects:
    """The stored configuration with the draft applied over it, checked as ``apply`` checks it
    (``ConfigError`` with each problem's path); nothing is written, no transaction is needed."""
    existing = under.objects
    incoming = validate_document(draft.data, existing)
    check_what_stays(existing, incoming)
    check_suppression_names(incoming, under.lists)
    merged: Objects = {kind: dict(docs) for kind, docs in existing.items()}
    for kind, docs in incoming.items():
        for name, doc in docs.items():
            secrets.merge_kept(kind, name, doc, existing.get(kind, {}).get(name))  # "***": the stored one
            merged.setdefault(kind, {})[name] = doc
    return merged


def draft_config(
    draft: Draft, under: Underneath, live: LiveConfig, dedup_keys: DedupKeys | None
) -> LiveConfig:
    """The draft over the configuration in force (``live``, read with ``under``), compiled, never stored."""
    return compile_live(live.version, build_specs(draft_objects(draft, under)), dedup_keys)
