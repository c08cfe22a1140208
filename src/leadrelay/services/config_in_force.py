"""The configuration in force: stored documents → domain specs → compiled routing, once per version."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from leadrelay.configuration import secrets
from leadrelay.configuration.load import Objects, Specs, build_specs
from leadrelay.domain.routing import CompiledConfig, CompiledProfile, compile_config
from leadrelay.services.ports import DedupKeys, Ring, Sealer, Storage, Tx
from leadrelay.services.postback_links import PostbackLinks


@dataclass(frozen=True, slots=True)
class LiveConfig:
    version: int
    specs: Specs
    compiled: CompiledConfig
    profiles_by_entity: dict[str, tuple[str, ...]]
    screened_entities: frozenset[str] = frozenset()  # entities whose leads are deduped or suppressed
    dedup_keys: DedupKeys | None = None  # the installation's dedup key (ConfigCache.dedup_keys)
    # money, decided once per version (read for every settlement batch): whether any source is paid, and
    # whether any partner has a budget or a wallet (else sales and routing skip the money's work)
    pays_sources: bool = False
    holds_money: bool = False
    pays_per_lead: bool = False  # some source is paid once per lead (its payout takes the lead's lock)

    def screened(self, entity: str) -> bool:
        """Whether intake must check this entity's leads for duplicates or suppression."""
        return entity in self.screened_entities

    def profile_in_force(self, name: str) -> CompiledProfile | None:
        """The profile ``name`` when it is configured and switched on; None when it was deleted or switched
        off (a lead routed to it earlier is then unsold: :func:`profile_off` says why)."""
        profile = self.compiled.profiles.get(name)
        return profile if profile is not None and profile.spec.enabled else None


def profile_off(name: str) -> str:
    """Why a lead of profile ``name`` is not routed or sold: the profile is not in force."""
    return f"profile {name} is missing or disabled"


def compile_live(version: int, specs: Specs, dedup_keys: DedupKeys | None = None) -> LiveConfig:
    by_entity: dict[str, list[str]] = {}
    for name, prof in sorted(specs.profiles.items()):
        if prof.enabled:
            by_entity.setdefault(prof.entity, []).append(name)
    return LiveConfig(
        version=version,
        specs=specs,
        compiled=compile_config(version, specs.partners, specs.profiles, specs.entities),
        dedup_keys=dedup_keys,
        profiles_by_entity={k: tuple(v) for k, v in by_entity.items()},
        pays_sources=any(s.payout is not None or s.payout_by_entity for s in specs.sources.values()),
        pays_per_lead=any(
            model is not None and model.per_lead
            for src in specs.sources.values()
            for model in (src.payout, *src.payout_by_entity.values())
        ),
        holds_money=any(p.budget or p.wallet is not None for p in specs.partners.values())
        or any(profile.partner_budgets for profile in specs.profiles.values()),
        screened_entities=frozenset(
            name
            for name, entity in specs.entities.items()
            if entity.dedup is not None
            or entity.suppression
            or any(
                specs.profiles[p].dedup is not None or specs.profiles[p].suppression
                for p in by_entity.get(name, ())
            )
        ),
    )


class ConfigCache:
    """Keeps the compiled configuration of the newest stored version.

    Inside a transaction, :meth:`current` costs one small query; the API side uses :meth:`get`, which
    looks at the stored version at most every ``max_age`` seconds.
    """

    def __init__(self, max_age: float = 1.0, sealer: Sealer | None = None) -> None:
        self.sealer = sealer  # opens the sealed secrets of channels (without one they stay sealed)
        self.dedup_keys: DedupKeys | None = None  # keys the dedup marks (set by the composition root)
        # signs the deliveries' postback URLs (set by the composition root; None: no {{ postback.url }})
        self.postback_links: PostbackLinks | None = None
        self._live: LiveConfig | None = None
        self._checked = 0.0
        self._max_age = max_age
        self._lock = threading.Lock()

    def current(self, tx: Tx) -> LiveConfig:
        version = tx.config.config_version()
        live = self._live
        if live is None or live.version != version:
            with self._lock:
                live = self._live
                if live is None or live.version != version:
                    specs = build_specs(self._opened(tx, tx.config.load_objects()))
                    live = self._live = compile_live(version, specs, self.dedup_keys)
        self._checked = time.monotonic()
        return live

    def _opened(self, tx: Tx, objects: Objects) -> Objects:
        if self.sealer is None or not self.sealer.available:
            return objects
        out: Objects = {}
        for kind, docs in objects.items():
            out[kind] = {}
            for name, doc in docs.items():
                sealed = [
                    block[key]
                    for _, block, key in secrets.secret_places(kind, doc)
                    if secrets.is_sealed(block[key])
                ]
                if sealed:
                    ring = self.sealer.ring_sync(*sealed, tx=tx)
                    doc = secrets.open_all(kind, name, doc, _opener(ring))
                out[kind][name] = doc
        return out

    async def get(self, storage: Storage) -> LiveConfig:
        live = self._live
        if live is not None and time.monotonic() - self._checked < self._max_age:
            return live
        return await storage.run_read(self.current)

    def invalidate(self) -> None:
        self._checked = 0.0


def _opener(ring: Ring) -> Callable[[str, bytes], str]:
    return lambda token, aad: ring.open(token, aad).decode()
