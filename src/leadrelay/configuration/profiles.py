"""A profile's document: its rules and their targets (priority, round robin, weights, least loaded,
auctions and waterfalls, shared sales, user choice); the domain spec each validated model stands for
(``to_spec``). Conditions and targets are parsed by hand (``leadrelay.domain.condition_syntax`` and
``configuration.validation``), which is why some fields are typed ``Any`` here."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field

from leadrelay.configuration.channels import MAX_PING_TIMEOUT_S
from leadrelay.configuration.entities import DedupModel, dedup_spec
from leadrelay.configuration.money import Budget, budget_of
from leadrelay.configuration.values import (
    Caps,
    Email,
    Money,
    Name,
    Names,
    PositiveDuration,
    PositiveInt,
    Present,
    Rank,
    Strict,
    cap_periods,
    choice,
    parse_duration,
    problem,
    unique,
)
from leadrelay.domain.condition_syntax import parse_condition
from leadrelay.domain.model import (
    ProfileSpec,
    Rule,
    Strategy,
    Target,
    Tier,
)

STRATEGIES = tuple(s.value for s in Strategy)


def _deadline(text: str) -> str:
    if parse_duration(text) > MAX_PING_TIMEOUT_S:
        raise problem(f"must be at most {MAX_PING_TIMEOUT_S:g}s")
    return text


def _offer_ttl(text: str) -> str:
    if parse_duration(text) > MAX_OFFER_TTL_S:
        raise problem("must be at most 7d")
    return text


AUCTION_KEYS = ("deadline", "floor", "max_posts", "shared")  # a target's keys that only an auction has


TIER_STRATEGIES = (Strategy.PRIORITY.value, Strategy.AUCTION.value)


class TierModel(Strict):
    partners: Names = []
    strategy: Annotated[str, BeforeValidator(choice("strategy", TIER_STRATEGIES))] = "priority"
    floor: Money | None = None

    def to_spec(self) -> Tier:
        return Tier(tuple(self.partners), Strategy(self.strategy), self.floor)


class SharedModel(Strict):
    max: Annotated[int, Field(ge=2, le=10)] = 2


USER_CHOICE_KEYS = ("offer_ttl",)  # a target's keys that only user_choice has
MAX_OFFER_TTL_S = 7 * 86_400.0


class TargetModel(Strict):
    partner: str | None = None
    partners: Names | None = None
    strategy: Annotated[str, BeforeValidator(choice("strategy", STRATEGIES))] = "priority"
    weights: dict[str, PositiveInt] = {}
    priorities: dict[str, Rank] = {}
    deadline: Annotated[PositiveDuration, AfterValidator(_deadline)] | None = None  # auction: 750ms
    floor: Money | None = None  # auction: the lowest winning bid
    max_posts: Annotated[int, Field(ge=1, le=10)] | None = None  # auction: posts per lead, 3
    offer_ttl: Annotated[PositiveDuration, AfterValidator(_offer_ttl)] | None = None  # user_choice: 10m
    tiers: list[TierModel] | None = None  # waterfall: the tiers in order
    shared: SharedModel | None = None  # auction, waterfall: sell to up to N buyers at their shared bids
    prices: dict[str, Money] = {}  # the rule's price per partner (instead of the partner's list price)

    def to_spec(self) -> Target:
        """The target of a canonical document (``partners``, with weights and priorities in their order)."""
        partners = tuple(self.partners or ())
        return Target(
            partners,
            Strategy(self.strategy),
            dict(self.weights),
            dict(self.priorities),
            deadline_s=parse_duration(self.deadline) if self.deadline is not None else 0.75,
            floor=self.floor,
            max_posts=self.max_posts if self.max_posts is not None else 3,
            offer_ttl_s=parse_duration(self.offer_ttl) if self.offer_ttl is not None else 600.0,
            tiers=tuple(tier.to_spec() for tier in self.tiers or ()),
            shared_max=self.shared.max if self.shared is not None else 1,
            prices=dict(self.prices),
        )


class RuleModel(Strict):
    name: Name
    when: Present  # a condition, parsed by hand
    send_to: Present  # a target, checked by hand


class ProfileModel(Strict):
    entity: str
    enabled: bool = True
    auto_redistribute: bool = False
    partner_caps: dict[str, Caps] = {}
    email_to: Annotated[list[Email], AfterValidator(unique)] = []
    dedup: DedupModel | None = None
    suppression: Names = []
    require_consent: bool = False  # a lead without its entity's consent field is unsold: "no consent"
    partner_prices: dict[str, Money] = {}  # the profile's price per partner (a rule's prices come first)
    partner_budgets: dict[str, Budget] = {}  # money caps per partner within the profile
    rules: list[RuleModel] = []
    default: Any = None  # a target or null, checked by hand

    def to_spec(self, name: str) -> ProfileSpec:
        rules = tuple(
            Rule(
                rule.name,
                parse_condition(rule.when, f"profiles.{name}.rules[{i}].when"),
                TargetModel.stored(rule.send_to).to_spec(),
            )
            for i, rule in enumerate(self.rules)
        )
        return ProfileSpec(
            name=name,
            entity=self.entity,
            rules=rules,
            default=TargetModel.stored(self.default).to_spec() if self.default is not None else None,
            enabled=self.enabled,
            auto_redistribute=self.auto_redistribute,
            partner_caps={partner: cap_periods(caps) for partner, caps in self.partner_caps.items()},
            email_to=tuple(self.email_to),
            dedup=dedup_spec(self.dedup),
            suppression=tuple(self.suppression),
            require_consent=self.require_consent,
            partner_prices=dict(self.partner_prices),
            partner_budgets={partner: budget_of(b) for partner, b in self.partner_budgets.items()},
        )
