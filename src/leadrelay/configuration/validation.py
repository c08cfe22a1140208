"""Validating a configuration document: every object, every reference, each problem with its path.

``validate_document`` reports every problem of a document at once, each with the path of the bad value
(``profiles.solar-main.rules[1].when.any[0].op``), and returns the canonical documents: defaults filled
in, durations as "10s", conditions and targets in one form. Applying the same YAML twice therefore gives
identical dicts, and ``dump_yaml`` writes a document that validates to the same objects. The canonical
documents are what the store keeps and ``export`` writes; ``build_specs`` reads them back into the same
models to give the domain's specs.
"""

from __future__ import annotations

from typing import Any

from leadrelay.configuration.alerts import AlertModel, alert_sections, check_alert
from leadrelay.configuration.document_checks import lookup
from leadrelay.configuration.hosted_form import form_problems
from leadrelay.configuration.partner_checks import PartnerChecks
from leadrelay.configuration.profiles import AUCTION_KEYS, USER_CHOICE_KEYS, ProfileModel, TargetModel
from leadrelay.configuration.schema import (
    KINDS,
    MODELS,
    NAME_RE,
    NAME_RULE,
    SMTP_NAME,
    Objects,
    SourceModel,
)
from leadrelay.configuration.values import suggest, unknown
from leadrelay.domain.files import BUILTIN_COLUMNS
from leadrelay.domain.model import FieldType, Strategy
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = ["validate_document"]


def validate_document(data: Any, existing: Objects | None = None) -> Objects:
    """Check a whole document and return its canonical objects; raises ``ConfigError`` with every problem.

    References are resolved against the document merged over ``existing`` (the objects already stored).
    Only the kinds the document has are in the result; ``smtp`` is one object named ``default``. The
    result of this function is itself a valid document (``smtp`` may be written ``{default: {...}}``).
    """
    if not isinstance(data, dict):
        raise ConfigError(
            [ConfigProblem("", f"the document must be a mapping with sections: {', '.join(KINDS)}")]
        )
    return _Validator(data, existing or {}).run()


class _Validator(PartnerChecks):
    """The whole document: its sections, then one method per kind (partners: ``PartnerChecks``; the checks
    the kinds share: ``DocumentChecks``)."""

    def run(self) -> Objects:
        for key in self.data:
            if key not in KINDS:
                self.fail(str(key), f"unknown section{suggest(key, KINDS)}")
        for kind in KINDS[1:]:
            if kind in self.data:
                self.raw[kind] = self.section(
                    kind, self.alert_list(self.data[kind]) if kind == "alerts" else self.data[kind]
                )
        smtp = self.data.get("smtp")
        if isinstance(smtp, dict) and list(smtp) == [SMTP_NAME]:  # the Objects form: {default: {...}}
            smtp = smtp[SMTP_NAME]
        if smtp is not None:
            self.raw["smtp"] = {SMTP_NAME: smtp}
        result: Objects = {}
        check = {"smtp": self.smtp, "entities": self.entity, "sources": self.source}
        check |= {"partners": self.partner, "profiles": self.profile, "alerts": self.alert}
        for kind in KINDS:
            if kind in self.raw:
                result[kind] = {}
                for name, raw in self.raw[kind].items():
                    path = kind if kind == "smtp" else f"{kind}.{name}"
                    canonical = check[kind](raw, path)
                    if canonical is not None:
                        result[kind][name] = canonical
        self.global_key_orders(result.get("entities", {}))
        if self.problems:
            raise ConfigError(self.problems)
        return result

    def global_key_orders(self, mine: dict[str, Any]) -> None:
        """Entities deduplicating across entities (``scope: global``) with a key of the same fields must
        list them in the same order: a key's order is part of its marks, so ``[email, last_name]`` and
        ``[last_name, email]`` never find each other's duplicates."""
        seen: dict[frozenset[str], tuple[str, tuple[str, ...]]] = {}
        stored = {n: d for n, d in self.existing.get("entities", {}).items() if n not in mine}
        for name, doc in [*sorted(stored.items()), *mine.items()]:  # the document's in its order
            dedup = doc.get("dedup") if isinstance(doc, dict) else None
            if not isinstance(dedup, dict) or dedup.get("scope") != "global":
                continue
            for i, key in enumerate(dedup.get("keys") or ()):
                path, fields = f"entities.{name}.dedup.keys[{i}]", tuple(key)
                first = seen.setdefault(frozenset(fields), (path, fields))
                if first[1] != fields and name in mine:
                    self.fail(
                        path,
                        f"the fields of {first[0]} in another order ({', '.join(first[1])}): list them in "
                        "the same order, or the two entities never find each other's duplicates",
                    )

    def section(self, kind: str, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(kind, "must be a mapping of names to objects")
            return {}
        for name in value:
            if not isinstance(name, str) or not NAME_RE.match(name):
                self.fail(f"{kind}.{name}", f"invalid name '{name}': {NAME_RULE}")
        return {name: obj for name, obj in value.items() if isinstance(name, str) and NAME_RE.match(name)}

    def alert_list(self, value: Any) -> Any:
        """The ``alerts`` list as a mapping of names to rules (``configuration.alerts.alert_sections``)."""
        if value is None:
            return None
        rules, problems = alert_sections(value)
        for path, message in problems:
            self.fail(path, message)
        return rules

    # ---------------------------------------------------------------- one function per kind

    def alert(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(AlertModel, raw, path)
        partners = lookup(raw, "partners")
        for i, name in enumerate(partners if isinstance(partners, list) else []):
            self.reference("partners", "partner", name, f"{path}.partners[{i}]")
        if model is None:
            return None
        document = model.model_dump()
        for where, message in check_alert(model, document):
            self.fail(f"{path}.{where}", message)
        if document.get("partners") == []:  # every partner, as when left out (and as exported)
            document["partners"] = None
        return document

    def smtp(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(MODELS["smtp"], raw, path)
        return model.model_dump() if model is not None else None

    def entity(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(MODELS["entities"], raw, path)
        if model is None:
            return None
        document = model.model_dump()
        for name in document["fields"]:
            if name in BUILTIN_COLUMNS:  # it would take the place of the built-in column in a batch file
                self.fail(
                    f"{path}.fields.{name}",
                    f"'{name}' is a built-in column of every batch file and digest row "
                    f"({', '.join(BUILTIN_COLUMNS)}): give the field another name",
                )
        self.dedup_fields(document, path, set(document["fields"]))
        self.consent_field(document, path)
        return document

    def consent_field(self, document: dict[str, Any], path: str) -> None:
        """The consent field is a field of the entity that can hold a list of seller names."""
        consent = document.get("consent")
        if consent is None:
            return
        name = consent["field"]
        spec = document["fields"].get(name)
        if spec is None:
            self.fail(f"{path}.consent.field", unknown("field", name, document["fields"]))
        elif spec["type"] != FieldType.STRING or spec["max_length"] is not None:
            self.fail(
                f"{path}.consent.field",
                f"the consent field '{name}' holds a list of seller names: "
                "make it a string field without max_length",
            )

    def source(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(SourceModel, raw, path)
        entities = lookup(raw, "entities")
        for i, name in enumerate(entities if isinstance(entities, list) else []):
            self.reference("entities", "entity", name, f"{path}.entities[{i}]")
        payouts = lookup(raw, "payouts_by_entity")
        for name in payouts if isinstance(payouts, dict) else ():  # a misspelt entity would pay nothing
            self.reference("entities", "entity", name, f"{path}.payouts_by_entity.{name}")
        if model is not None and model.form is not None:
            named = entities if isinstance(entities, list) and entities else sorted(self.known("entities"))
            docs = [(e, self.entity_doc(e)) for e in named if isinstance(e, str)]
            for where, message in form_problems(lookup(raw, "form"), docs, f"{path}.form"):
                self.fail(where, message)
        return model.model_dump() if model is not None else None

    def entity_doc(self, name: str) -> Any:
        """An entity's document, from this document or stored (None: unknown)."""
        return self.raw.get("entities", {}).get(name) or self.existing.get("entities", {}).get(name)

    def profile(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(ProfileModel, raw, path)
        entity = lookup(raw, "entity")
        self.reference("entities", "entity", entity, f"{path}.entity")
        fields = self.entity_fields(entity)
        caps = lookup(raw, "partner_caps")
        for name in caps if isinstance(caps, dict) else ():
            self.reference("partners", "partner", name, f"{path}.partner_caps.{name}")
        prices = lookup(raw, "partner_prices")
        for name in prices if isinstance(prices, dict) else ():
            self.reference("partners", "partner", name, f"{path}.partner_prices.{name}")
        budgets = lookup(raw, "partner_budgets")
        for name in budgets if isinstance(budgets, dict) else ():
            self.reference("partners", "partner", name, f"{path}.partner_budgets.{name}")
        rules: list[dict[str, Any]] = []
        raw_rules = lookup(raw, "rules")
        seen: dict[str, int] = {}
        for i, rule in enumerate(raw_rules if isinstance(raw_rules, list) else []):
            where = f"{path}.rules[{i}]"
            name = lookup(rule, "name")
            if isinstance(name, str) and name in seen:
                self.fail(f"{where}.name", f"duplicate rule name '{name}' (also rules[{seen[name]}])")
            elif isinstance(name, str):
                seen[name] = i
            when = lookup(rule, "when")
            when = self.condition(when, f"{where}.when", fields, str(entity)) if when is not None else None
            send_to = lookup(rule, "send_to")
            send_to = self.target(send_to, f"{where}.send_to") if send_to is not None else None
            rules.append({"name": name, "when": when, "send_to": send_to})
        default = lookup(raw, "default")
        default = self.target(default, f"{path}.default") if default is not None else None
        if model is None:
            return None
        document = model.model_dump()
        self.dedup_fields(document, path, fields)
        if document["require_consent"] and isinstance(entity, str) and self.entity_consent(entity) is None:
            self.fail(
                f"{path}.require_consent",
                f"entity {entity} names no consent field: give it 'consent: {{field: <field>}}'",
            )
        document["rules"] = rules
        document["default"] = default if default is not None and default["partners"] else None
        for per_partner in ("partner_caps", "partner_prices", "partner_budgets"):  # an empty entry is none
            if isinstance(document.get(per_partner), dict):
                document[per_partner] = {
                    k: v for k, v in document[per_partner].items() if v not in ({}, None)
                }
        return document

    def target(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(TargetModel, raw, path)
        if model is None:
            return None
        waterfall = model.strategy == Strategy.WATERFALL
        tiers: list[dict[str, Any]] = []
        if waterfall:
            tiers = self.tiers(model, path)
            names = [name for tier in tiers for name in tier["partners"]]
        else:
            if model.tiers is not None:
                self.fail(f"{path}.tiers", "tiers apply only to strategy 'waterfall'")
            names = self.target_partners(model, path)
        for key, label, strategy in (
            ("weights", "weight", Strategy.WEIGHTED),
            ("priorities", "priority", Strategy.PRIORITY),
        ):
            given: dict[str, int] = getattr(model, key)
            if given and model.strategy != strategy:
                self.fail(f"{path}.{key}", f"{key} apply only to strategy '{strategy.value}'")
                continue
            for name in given:
                if name not in names:
                    self.fail(f"{path}.{key}.{name}", f"'{name}' is not one of this target's partners")
            if given or model.strategy == strategy == Strategy.WEIGHTED:
                missing = [name for name in names if name not in given]
                if missing:
                    self.fail(f"{path}.{key}", f"no {label} for partner '{missing[0]}'")
        document: dict[str, Any] = {
            "partners": names,
            "strategy": model.strategy,
            "weights": {n: model.weights[n] for n in names if n in model.weights},
            "priorities": {n: model.priorities[n] for n in names if n in model.priorities},
        }
        if model.prices and model.strategy in (Strategy.AUCTION, Strategy.WATERFALL):
            self.fail(
                f"{path}.prices", "an auction's or a waterfall's buyers pay their bids, not a rule price"
            )
        for name in model.prices:
            if name not in names:
                self.fail(f"{path}.prices.{name}", f"'{name}' is not one of this target's partners")
        if model.prices:
            document["prices"] = {n: model.prices[n] for n in names if n in model.prices}
        if model.strategy != Strategy.USER_CHOICE:
            for key in USER_CHOICE_KEYS:
                if getattr(model, key) is not None:
                    self.fail(f"{path}.{key}", f"{key} applies only to strategy 'user_choice'")
        if model.strategy == Strategy.USER_CHOICE:
            document["offer_ttl"] = model.offer_ttl if model.offer_ttl is not None else "10m"
        if model.strategy not in (Strategy.AUCTION, Strategy.WATERFALL):
            for key in AUCTION_KEYS:
                if getattr(model, key) is not None:
                    self.fail(f"{path}.{key}", f"{key} applies only to strategies 'auction' and 'waterfall'")
            return document
        if not waterfall:
            for i, name in enumerate(names):
                self.bidder(name, f"{path}.partners[{i}]")
        document["deadline"] = model.deadline if model.deadline is not None else "750ms"
        document["floor"] = model.floor
        document["max_posts"] = model.max_posts if model.max_posts is not None else 3
        document["shared"] = {"max": model.shared.max} if model.shared is not None else None
        if waterfall:
            document["tiers"] = tiers
        return document

    def target_partners(self, model: TargetModel, path: str) -> list[str]:
        if model.partner is not None and model.partners is not None:
            self.fail(path, "give either 'partner' or 'partners', not both")
        elif model.partner is None and model.partners is None:
            self.fail(path, "give 'partner: name' or 'partners: [names]'")
        if model.partner is not None:
            self.reference("partners", "partner", model.partner, f"{path}.partner")
            return [model.partner]
        names = model.partners or []
        for i, name in enumerate(names):
            self.reference("partners", "partner", name, f"{path}.partners[{i}]")
        return names

    def tiers(self, model: TargetModel, path: str) -> list[dict[str, Any]]:
        """A waterfall's tiers, canonical: each a non-empty list of partners (each in one tier only), sold
        by ``priority`` or ``auction``, with an optional floor. (The canonical form also lists every tier's
        partners in ``partners``, in order: a stored waterfall validates again, for a delete or an export.)"""
        in_tiers = [name for tier in model.tiers or () for name in tier.partners]
        if model.partner is not None or (model.partners is not None and list(model.partners) != in_tiers):
            self.fail(path, "a waterfall names its partners in its tiers, not in 'partners'")
        if not model.tiers:
            self.fail(f"{path}.tiers", "a waterfall needs tiers: [{partners: [names]}, …]")
            return []
        seen: dict[str, int] = {}
        out: list[dict[str, Any]] = []
        for t, tier in enumerate(model.tiers):
            where = f"{path}.tiers[{t}]"
            if not tier.partners:
                self.fail(f"{where}.partners", "a tier needs at least one partner")
            for i, name in enumerate(tier.partners):
                self.reference("partners", "partner", name, f"{where}.partners[{i}]")
                if name in seen:
                    self.fail(f"{where}.partners[{i}]", f"'{name}' is already in tiers[{seen[name]}]")
                seen.setdefault(name, t)
                self.bidder(name, f"{where}.partners[{i}]")
            out.append({"partners": list(tier.partners), "strategy": tier.strategy, "floor": tier.floor})
        return out

    def bidder(self, name: str, path: str) -> None:
        """A partner sold to by bids has a ping, or a list price to be offered the lead at."""
        partner = self.partner_doc(name)
        if partner is not None and lookup(partner, "ping") is None and lookup(partner, "price") is None:
            self.fail(
                path,
                f"partner '{name}' has no ping and no price: an auction offers a post-only partner the"
                " lead at its list price (give it 'price' or a 'ping')",
            )

    def partner_doc(self, name: str) -> Any:
        """A partner's document, of this document or stored (None: unknown)."""
        return self.raw.get("partners", {}).get(name) or self.existing.get("partners", {}).get(name)
