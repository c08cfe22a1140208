"""A draft configuration for the routing simulator (``services.simulation``): a YAML document as the apply
command takes it, checked by the same code (``validate_document`` over the stored objects, the suppression
lists named), laid over the stored configuration (each object replaces the stored one whole) and compiled,
never stored."""

from __future__ import annotations

from dataclasses import dataclass

from leadrelay.configuration import secrets
from leadrelay.configuration.load import Objects, build_specs, load_yaml_text, validate_document
from leadrelay.domain.dedup import MarkHasher
from leadrelay.services.config_in_force import ConfigCache, LiveConfig, compile_live
from leadrelay.services.configure import check_suppression_lists
from leadrelay.services.ports import Tx


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


def draft_objects(tx: Tx, text: str) -> Objects:
    """The stored configuration with a draft document applied over it, checked as ``apply`` checks it
    (``ConfigError`` with each problem's path); nothing is written."""
    data = load_yaml_text(text)
    existing = tx.config.load_objects()
    incoming = validate_document(data, existing)
    check_suppression_lists(tx, incoming)
    merged: Objects = {kind: dict(docs) for kind, docs in existing.items()}
    for kind, docs in incoming.items():
        for name, doc in docs.items():
            secrets.merge_kept(kind, name, doc, existing.get(kind, {}).get(name))  # "***": the stored one
            merged.setdefault(kind, {})[name] = doc
    return merged


def config_for(tx: Tx, configs: ConfigCache, draft: str | None) -> LiveConfig:
    """The configuration in force, or the draft over it (compiled, never stored)."""
    live = configs.current(tx)
    if draft is None:
        return live
    return compile_live(live.version, build_specs(draft_objects(tx, draft)), configs.dedup_keys)
