"""The routing decision: which rule matched, which partners are eligible, and in which order to offer them.

``compile_config`` turns one configuration version into closures and generated code once; ``evaluate``
then runs per lead with no parsing. Caps are not checked here from a usage snapshot: the service reserves
cap slots atomically in the database, in the order given, and adds the outcome to the trace (a snapshot
would be stale the moment two workers read it).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from zoneinfo import ZoneInfo

from leadrelay.domain.condition_tree import Condition
from leadrelay.domain.conditions import compile_filters, compile_first_match, explain_failure
from leadrelay.domain.consent import consent_scope, covered, partner_keys
from leadrelay.domain.model import EntitySpec, PartnerSpec, ProfileSpec, Strategy, Target
from leadrelay.domain.selection import order_candidates

Values = Mapping[str, object]
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

# Per-partner codes in an evaluation (kept small; rendered into words only for the trace).
ELIGIBLE = 0
EXCLUDED = 1
UNKNOWN = 2
PAUSED = 3
NO_CHANNEL = 4
FILTERED = 5
CLOSED = 6
NO_CONSENT = 7


@dataclass(frozen=True, slots=True)
class CompiledTarget:
    target: Target
    static: tuple[int, ...]  # per partner of the target: ELIGIBLE or a reason known at compile time
    filters: Callable[[Values], list[int]]
    conditions: tuple[Condition | None, ...]
    open_idx: tuple[int, ...]  # indexes of the partners statically eligible
    hours_idx: frozenset[int]  # indexes of partners with delivery hours (checked per lead)
    consent_keys: tuple[frozenset[str], ...] = ()  # per partner: the names a consent list may give it


@dataclass(frozen=True, slots=True)
class CompiledProfile:
    spec: ProfileSpec
    first_match: Callable[[Values], int]
    rules: tuple[CompiledTarget, ...]
    default: CompiledTarget | None
    consent_field: str | None = None  # the entity's consent field (None: consent is not checked)


@dataclass(frozen=True, slots=True)
class CompiledConfig:
    version: int
    partners: Mapping[str, PartnerSpec]
    profiles: Mapping[str, CompiledProfile]
    zones: Mapping[str, ZoneInfo]
    load_counted: frozenset[str] = frozenset()  # uncapped partners a least_loaded target names: day count


NO_RULE_MATCHED = "no rule matched and the profile has no default"
"""Why a profile none of whose rules matches a lead, and that has no default, sends it nowhere: of a lead's
reasons, the least telling one (another profile that took the lead up says more)."""


@dataclass(slots=True)
class Evaluation:
    """What the rules and partner eligibility say for one lead; ``candidates`` is the order to try."""

    profile: str
    rule: str | None  # the matched rule's name, "default", or None when nothing applies
    target: Target | None
    partners: tuple[str, ...] = ()
    failed: list[int] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)
    excluded: frozenset[str] | set[str] = frozenset()
    closed: frozenset[int] | set[int] = frozenset()
    unconsented: frozenset[int] | set[int] = frozenset()  # partners the lead's consent does not name
    no_consent: bool = False  # the profile requires consent and the lead has none
    _compiled: CompiledTarget | None = None
    _values: Values | None = None
    _now: datetime | None = None

    def code(self, i: int) -> int:
        """Why partner ``i`` of the target is or is not eligible (computed for the trace only)."""
        assert self._compiled is not None
        static = self._compiled.static[i]
        if static != ELIGIBLE:
            return static
        if self.partners[i] in self.excluded:
            return EXCLUDED
        if i in self.unconsented:
            return NO_CONSENT
        if self.failed[i] >= 0:
            return FILTERED
        if i in self.closed:
            return CLOSED
        return ELIGIBLE

    @property
    def reason(self) -> str | None:
        """Why no partner is a candidate (None when there are candidates)."""
        if self.candidates:
            return None
        if self.no_consent:
            return "no consent"
        if self.rule is None:
            return NO_RULE_MATCHED
        if not self.partners:
            return f"rule {self.rule} sends to nobody"
        return "no eligible partner"

    def trace(self, config: CompiledConfig, hidden: Collection[str] = ()) -> list[str]:
        """Words for the distribution log: the rule, then one line per partner considered; the values of
        the ``hidden`` fields (sensitive ones) are not quoted, however short."""
        lines: list[str] = []
        if self.no_consent:
            return ["no consent (the profile requires consent and the lead has none)"]
        if self.rule is None:
            lines.append("no rule matched; no default")
            return lines
        lines.append(f"rule {self.rule} matched" if self.rule != "default" else "no rule matched; default")
        for i, name in enumerate(self.partners):
            code = self.code(i)
            if code == ELIGIBLE:
                continue  # eligible partners get their line when caps are reserved
            lines.append(f"{name}: {self._why(config, i, name, code, hidden)}")
        return lines

    def _why(self, config: CompiledConfig, i: int, name: str, code: int, hidden: Collection[str]) -> str:
        if code == EXCLUDED:
            return "excluded (already tried or cancelled for this lead)"
        if code == UNKNOWN:
            return "unknown partner"
        if code == PAUSED:
            return "partner paused"
        if code == NO_CHANNEL:
            return "no delivery channel"
        if code == NO_CONSENT:
            return "not in the consent scope"
        if code == FILTERED and self._compiled is not None and self._values is not None:
            return explain_failure(self._compiled.conditions[i], self.failed[i], self._values, hidden=hidden)
        if code == CLOSED and self._now is not None:
            partner = config.partners[name]
            local = self._now.astimezone(config.zones[partner.timezone])
            return f"outside delivery hours ({_DAYS[local.weekday()]} {local:%H:%M} {partner.timezone})"
        return "not eligible"


def compile_config(
    version: int,
    partners: Mapping[str, PartnerSpec],
    profiles: Mapping[str, ProfileSpec],
    entities: Mapping[str, EntitySpec] | None = None,
) -> CompiledConfig:
    """Compile a configuration version; ``entities`` give the consent field of each profile's entity
    (without them, consent is not checked)."""
    zones = {p.timezone: ZoneInfo(p.timezone) for p in partners.values()}

    def target(t: Target | None) -> CompiledTarget | None:
        if t is None:
            return None
        static: list[int] = []
        conds: list[Condition | None] = []
        for name in t.partners:
            spec = partners.get(name)
            if spec is None:
                static.append(UNKNOWN)
            elif spec.paused:
                static.append(PAUSED)
            elif spec.channel is None:
                static.append(NO_CHANNEL)
            else:
                static.append(ELIGIBLE)
            conds.append(spec.filters if spec is not None else None)
        open_idx = tuple(i for i, code in enumerate(static) if code == ELIGIBLE)
        hours_idx = frozenset(
            i for i in open_idx if (spec := partners[t.partners[i]]) is not None and spec.hours is not None
        )
        keys = tuple(
            partner_keys(name, spec.legal_name, spec.aliases) if spec is not None else frozenset()
            for name in t.partners
            for spec in (partners.get(name),)
        )
        return CompiledTarget(
            t, tuple(static), compile_filters(conds), tuple(conds), open_idx, hours_idx, keys
        )

    compiled: dict[str, CompiledProfile] = {}
    for name, prof in profiles.items():
        rules = tuple(target(r.send_to) for r in prof.rules)
        entity = (entities or {}).get(prof.entity)
        compiled[name] = CompiledProfile(
            spec=prof,
            first_match=compile_first_match([r.when for r in prof.rules]),
            rules=tuple(r for r in rules if r is not None),
            default=target(prof.default),
            consent_field=entity.consent.field if entity is not None and entity.consent else None,
        )
    return CompiledConfig(version, dict(partners), compiled, zones, _load_counted(partners, profiles))


def _load_counted(partners: Mapping[str, PartnerSpec], profiles: Mapping[str, ProfileSpec]) -> frozenset[str]:
    """Partners with no cap of their own that a ``least_loaded`` target names: their leads of the day are
    counted (``domain.pacing.LOAD_SCOPE``), for there is no cap counter to read their load from."""
    names: set[str] = set()
    for prof in profiles.values():
        for t in (*(r.send_to for r in prof.rules), prof.default):
            if t is not None and t.strategy is Strategy.LEAST_LOADED:
                names.update(n for n in t.partners if n in partners and not partners[n].caps)
    return frozenset(names)


def evaluate(
    values: Values,
    profile: CompiledProfile,
    config: CompiledConfig,
    now: datetime,
    *,
    exclude: frozenset[str] | set[str] = frozenset(),
    rotation: int = 0,
) -> Evaluation:
    """Match the profile's rules (first wins, else default), check each partner of the target, and order
    the eligible ones with the target's strategy. ``now`` is UTC-aware; ``rotation`` is the stored counter
    of the target's group (shared by all workers). When the entity names a consent field, only partners
    the lead's consent covers are eligible; a lead without it routes as any other, unless the profile
    requires consent (then nothing applies: ``reason`` is "no consent")."""
    scope: frozenset[str] | None = None
    if profile.consent_field is not None:
        scope = consent_scope(values.get(profile.consent_field))
    if scope is None and profile.spec.require_consent:  # also when the entity lost its consent field
        return Evaluation(profile.spec.name, None, None, no_consent=True)
    index = profile.first_match(values)
    if index >= 0:
        compiled: CompiledTarget | None = profile.rules[index]
        rule: str | None = profile.spec.rules[index].name
    else:
        compiled = profile.default
        rule = "default" if compiled is not None else None
    if compiled is None:
        return Evaluation(profile.spec.name, None, None)
    target = compiled.target
    names = target.partners
    failed = compiled.filters(values)
    if exclude:
        idx = [i for i in compiled.open_idx if failed[i] < 0 and names[i] not in exclude]
    else:
        idx = [i for i in compiled.open_idx if failed[i] < 0]
    unconsented: set[int] = set()
    if scope is not None:
        keys = compiled.consent_keys
        unconsented = {i for i in compiled.open_idx if not covered(keys[i], scope)}
        if unconsented:
            idx = [i for i in idx if i not in unconsented]
    closed: set[int] = set()
    if compiled.hours_idx:
        local_by_zone: dict[str, tuple[int, int]] = {}
        for i in idx:
            if i not in compiled.hours_idx:
                continue
            spec = config.partners[names[i]]
            assert spec.hours is not None
            local = local_by_zone.get(spec.timezone)
            if local is None:
                t = now.astimezone(config.zones[spec.timezone])
                local = local_by_zone[spec.timezone] = (t.weekday(), t.hour * 60 + t.minute)
            day, minute = local
            if not any(a <= minute < b for a, b in spec.hours.windows[day]):
                closed.add(i)
        if closed:
            idx = [i for i in idx if i not in closed]
    eligible = [names[i] for i in idx]
    return Evaluation(
        profile=profile.spec.name,
        rule=rule,
        target=target,
        partners=names,
        failed=failed,
        candidates=order_candidates(eligible, target, rotation),
        excluded=exclude,
        closed=closed,
        unconsented=unconsented,
        _compiled=compiled,
        _values=values,
        _now=now,
    )


def rotation_key(profile: str, rule: str | None) -> str:
    """The stored counter a target's strategy rotates with: one per profile rule (and default)."""
    return f"{profile}:{rule or 'default'}"


def describe_candidates(candidates: Sequence[str]) -> str:
    return ", ".join(candidates) if candidates else "none"
