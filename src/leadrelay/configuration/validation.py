"""Validating a configuration document: every object, every reference, each problem with its path.

``validate_document`` reports every problem of a document at once, each with the path of the bad value
(``profiles.solar-main.rules[1].when.any[0].op``), and returns the canonical documents: defaults filled
in, durations as "10s", conditions and targets in one form. Applying the same YAML twice therefore gives
identical dicts, and ``dump_yaml`` writes a document that validates to the same objects. The canonical
documents are what the store keeps and ``export`` writes; ``build_specs`` reads them back into the same
models to give the domain's specs.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Any, TypeVar, get_args, get_origin

from pydantic import BaseModel, ValidationError

from leadrelay.configuration.batching import BUILTIN_COLUMNS, DigestModel, FileModel
from leadrelay.configuration.channels import CHANNEL_KINDS, ChannelModel
from leadrelay.configuration.mappings import check_mappings
from leadrelay.configuration.partner_auth import AuthModel, SigningModel, canonical_auth
from leadrelay.configuration.ping import personal_fields, ping_problems
from leadrelay.configuration.schema import (
    KINDS,
    MODELS,
    NAME_RE,
    NAME_RULE,
    SMTP_NAME,
    Objects,
    PartnerModel,
    ProfileModel,
    SourceModel,
    TargetModel,
)
from leadrelay.configuration.values import suggest, unknown, unwrap
from leadrelay.domain.condition_syntax import canonical_condition, check_condition
from leadrelay.domain.consent import seller_key
from leadrelay.domain.model import FieldType, Strategy
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = ["validate_document"]

_M = TypeVar("_M", bound=BaseModel)
_MESSAGES = {
    "missing": "required",
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "int_type": "must be an integer",
    "float_type": "must be a number",
    "dict_type": "must be a mapping",
    "model_type": "must be a mapping",
    "model_attributes_type": "must be a mapping",
    "list_type": "must be a list",
}


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


class _Validator:
    def __init__(self, data: dict[Any, Any], existing: Objects) -> None:
        self.data = data
        self.existing = existing
        self.problems: list[ConfigProblem] = []
        self.raw: dict[str, dict[str, Any]] = {}
        self._known: dict[str, set[str]] = {}
        self._all_fields: tuple[Collection[str] | None] | None = None
        self._personal: dict[str, str | None] | None = None

    def fail(self, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(path, message))

    def run(self) -> Objects:
        for key in self.data:
            if key not in KINDS:
                self.fail(str(key), f"unknown section{suggest(key, KINDS)}")
        for kind in KINDS[1:]:
            if kind in self.data:
                self.raw[kind] = self.section(kind, self.data[kind])
        smtp = self.data.get("smtp")
        if isinstance(smtp, dict) and list(smtp) == [SMTP_NAME]:  # the Objects form: {default: {...}}
            smtp = smtp[SMTP_NAME]
        if smtp is not None:
            self.raw["smtp"] = {SMTP_NAME: smtp}
        result: Objects = {}
        check = {"smtp": self.smtp, "entities": self.entity, "sources": self.source}
        check |= {"partners": self.partner, "profiles": self.profile}
        for kind in KINDS:
            if kind in self.raw:
                result[kind] = {}
                for name, raw in self.raw[kind].items():
                    path = kind if kind == "smtp" else f"{kind}.{name}"
                    canonical = check[kind](raw, path)
                    if canonical is not None:
                        result[kind][name] = canonical
        if self.problems:
            raise ConfigError(self.problems)
        return result

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

    def known(self, kind: str) -> set[str]:
        if kind not in self._known:
            self._known[kind] = set(self.existing.get(kind, {})) | set(self.raw.get(kind, {}))
        return self._known[kind]

    def reference(self, kind: str, what: str, name: Any, path: str) -> None:
        if isinstance(name, str) and name not in self.known(kind):
            self.fail(path, unknown(what, name, self.known(kind)))

    def entity_fields(self, entity: Any) -> Collection[str] | None:
        if not isinstance(entity, str):
            return None
        if entity in self.raw.get("entities", {}):
            fields = _get(self.raw["entities"][entity], "fields")
            return set(fields) if isinstance(fields, dict) else None
        stored = self.existing.get("entities", {}).get(entity)
        return set(stored.get("fields", {})) if stored is not None else None

    def entity_consent(self, entity: str) -> Any:
        """The ``consent`` of an entity of the document or stored (None: it has none or is unknown)."""
        doc = self.raw.get("entities", {}).get(entity) or self.existing.get("entities", {}).get(entity)
        return _get(doc, "consent")

    def all_fields(self) -> Collection[str] | None:
        """Every field of every entity (None when one is unknown): a partner takes leads of any entity."""
        if self._all_fields is None:
            union: set[str] | None = set()
            for entity in self.known("entities"):
                fields = self.entity_fields(entity)
                union = union | set(fields) if union is not None and fields is not None else None
            self._all_fields = (union or None,)
        return self._all_fields[0]

    def model(self, cls: type[_M], data: Any, path: str) -> _M | None:
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                loc = [part for part in error["loc"] if part != "[key]"]
                message = _MESSAGES.get(error["type"], error["msg"])
                if error["type"] == "extra_forbidden":
                    message = f"unknown key{suggest(loc[-1], _keys_at(cls, loc[:-1]))}"
                elif error["type"] == "too_short":
                    message = "must not be empty"
                self.fail(_join(path, loc), message)
            return None

    def condition(self, data: Any, path: str, fields: Collection[str] | None, entity: str) -> Any:
        condition, problems = check_condition(data, path, fields, entity)
        self.problems.extend(problems)
        return canonical_condition(condition) if condition is not None else None

    # ---------------------------------------------------------------- one function per kind

    def smtp(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(MODELS["smtp"], raw, path)
        return model.model_dump() if model is not None else None

    def entity(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(MODELS["entities"], raw, path)
        if model is None:
            return None
        document = model.model_dump()
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

    def dedup_fields(self, document: dict[str, Any], path: str, fields: Collection[str] | None) -> None:
        """Every dedup key names fields the entity has (when it is known)."""
        dedup = document.get("dedup")
        if dedup is None:
            return
        if dedup["scope"] != "entity" and not path.startswith("entities."):
            self.fail(f"{path}.dedup.scope", "'scope' applies only to an entity's dedup")
        for i, key in enumerate(dedup["keys"]):
            for j, name in enumerate(key):
                if fields is not None and name not in fields:
                    self.fail(f"{path}.dedup.keys[{i}][{j}]", unknown("field", name, fields))

    def source(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(SourceModel, raw, path)
        entities = _get(raw, "entities")
        for i, name in enumerate(entities if isinstance(entities, list) else []):
            self.reference("entities", "entity", name, f"{path}.entities[{i}]")
        return model.model_dump() if model is not None else None

    def partner(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(PartnerModel, raw, path)
        filters = _get(raw, "filters")
        canonical_filters = (
            self.condition(filters, f"{path}.filters", None, "") if filters is not None else None
        )
        raw_steps = _get(raw, "failover")
        places = [("channel", _get(raw, "channel"))]
        places += [
            (f"failover[{i}]", step)
            for i, step in enumerate(raw_steps if isinstance(raw_steps, list) else [])
        ]
        mappings = {}
        for where, step in places:
            found, problems = check_mappings(
                _get(step, "webhook"), f"{path}.{where}.webhook", self.all_fields()
            )
            self.problems.extend(problems)
            mappings[where] = found
        mappings["ping"], problems = check_mappings(_get(raw, "ping"), f"{path}.ping", self.all_fields())
        self.problems.extend(problems)
        if model is None:
            return None
        document = model.model_dump()
        self.dedup_fields(document, path, None)
        self.seller_names(document, path)
        document["filters"] = canonical_filters
        steps = [("channel", model.channel), *((f"failover[{i}]", c) for i, c in enumerate(model.failover))]
        for where, channel in steps:
            if (
                channel is not None
                and channel.email is not None
                and channel.email.to is None
                and not model.email
            ):
                self.fail(f"{path}.{where}.email.to", "required when the partner has no 'email'")
        if model.failover and model.channel is None:
            self.fail(f"{path}.failover", "a failover needs the partner's own 'channel' first")
        if model.ping is not None and model.channel is None:
            self.fail(f"{path}.ping", "a ping needs the partner's 'channel' too: the post that follows a bid")
        if model.pacing is not None and "day" not in model.caps:
            self.fail(f"{path}.pacing", "pacing spreads the day cap: give the partner 'caps: {day: N}'")
        document["channel"] = _channel(model.channel)
        document["failover"] = [_channel(c) for c in model.failover]
        if document["ping"] is not None:
            self.ping(document["ping"], f"{path}.ping", mappings.get("ping", {}), model.ping_pii == "allowed")
        for where, canonical in [("channel", document["channel"])] + [
            (f"failover[{i}]", c) for i, c in enumerate(document["failover"])
        ]:
            if canonical is not None and "webhook" in canonical:
                canonical["webhook"].update(mappings.get(where, {}))
                self.webhook_auth(canonical["webhook"], f"{path}.{where}.webhook")
            if canonical is not None:
                self.batched(canonical, f"{path}.{where}", model.email)
            if canonical is not None and isinstance(canonical.get("hold"), dict):
                hold_fields = canonical["hold"].get("fields") or []
                self.field_names(hold_fields, f"{path}.{where}.hold.fields", ())
        return document

    def seller_names(self, document: dict[str, Any], path: str) -> None:
        """A partner's ``legal_name`` and ``aliases``: each names a seller (a letter or a digit once
        normalized), none the same seller as another (``leadrelay.domain.consent.seller_key``)."""
        names = [("legal_name", document["legal_name"])] if document["legal_name"] is not None else []
        names += [(f"aliases[{i}]", alias) for i, alias in enumerate(document["aliases"])]
        seen: dict[str, str] = {}
        for where, name in names:
            key = seller_key(name)
            if not key:
                self.fail(f"{path}.{where}", "must name a seller (a letter or a digit)")
            elif key in seen:
                self.fail(f"{path}.{where}", f"the same seller as {seen[key]} once normalized ('{key}')")
            else:
                seen[key] = where

    def ping(self, hook: dict[str, Any], path: str, mappings: dict[str, Any], pii_allowed: bool) -> None:
        """A partner's ping in canonical form (its mapping, auth and signing, no ``max_attempts``: it is
        sent once), and no personal field in it unless the partner allows it."""
        hook.pop("max_attempts", None)
        hook.update(mappings)
        self.webhook_auth(hook, path)
        self.field_names(hook.get("fields") or [], f"{path}.fields", ())
        if not pii_allowed:
            self.problems.extend(ping_problems(hook, path, self.personal_fields()))

    def personal_fields(self) -> dict[str, str | None]:
        """The fields of every entity (document or stored): name → why it is personal, None if not."""
        if self._personal is None:
            fields = []
            for entity in sorted(self.known("entities")):
                doc = self.raw.get("entities", {}).get(entity) or self.existing.get("entities", {}).get(
                    entity
                )
                found = _get(doc, "fields")
                fields.append(found if isinstance(found, dict) else {})
            self._personal = personal_fields(fields)
        return self._personal

    def batched(self, channel: dict[str, Any], path: str, partner_email: str | None) -> None:
        """Validate a file channel or an email digest (put back in canonical form)."""
        columns: list[str] | None = None
        if "file" in channel:
            where = f"{path}.file"
            mail = _get(_get(channel["file"], "destination"), "email")  # reported with the other problems
            if isinstance(mail, dict) and mail.get("to") is None and not partner_email:
                self.fail(f"{where}.destination.email.to", "required when the partner has no 'email'")
            found = self.model(FileModel, channel["file"], where)
            channel["file"] = found.model_dump() if found is not None else None
            if found is None:
                return
            columns = found.columns
            self.field_names(found.fields or [], f"{where}.fields", ())
        elif channel.get("email") is not None and channel["email"].get("digest") is not None:
            digest = self.model(DigestModel, channel["email"]["digest"], f"{path}.email.digest")
            channel["email"]["digest"] = digest.model_dump() if digest is not None else None
            if digest is None:
                return
            columns, where = digest.columns, f"{path}.email.digest"
        if columns:
            self.field_names(columns, f"{where}.columns", BUILTIN_COLUMNS)

    def field_names(self, names: Sequence[str], path: str, builtins: Sequence[str]) -> None:
        known = self.all_fields()
        if known is None:
            return
        choices = [*builtins, *sorted(known)]
        for i, name in enumerate(names):
            if name not in known and name not in builtins:
                self.fail(f"{path}[{i}]", unknown("field", name, choices))

    def webhook_auth(self, hook: dict[str, Any], path: str) -> None:
        """Validate a webhook's ``auth`` and ``signing`` (put back in canonical form)."""
        if hook.get("auth") is not None:
            auth = self.model(AuthModel, hook["auth"], f"{path}.auth")
            hook["auth"] = canonical_auth(auth)
        if hook.get("signing") is not None:
            signing = self.model(SigningModel, hook["signing"], f"{path}.signing")
            hook["signing"] = signing.model_dump() if signing is not None else None

    def profile(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(ProfileModel, raw, path)
        entity = _get(raw, "entity")
        self.reference("entities", "entity", entity, f"{path}.entity")
        fields = self.entity_fields(entity)
        caps = _get(raw, "partner_caps")
        for name in caps if isinstance(caps, dict) else ():
            self.reference("partners", "partner", name, f"{path}.partner_caps.{name}")
        rules: list[dict[str, Any]] = []
        raw_rules = _get(raw, "rules")
        seen: dict[str, int] = {}
        for i, rule in enumerate(raw_rules if isinstance(raw_rules, list) else []):
            where = f"{path}.rules[{i}]"
            name = _get(rule, "name")
            if isinstance(name, str) and name in seen:
                self.fail(f"{where}.name", f"duplicate rule name '{name}' (also rules[{seen[name]}])")
            elif isinstance(name, str):
                seen[name] = i
            when = _get(rule, "when")
            when = self.condition(when, f"{where}.when", fields, str(entity)) if when is not None else None
            send_to = _get(rule, "send_to")
            send_to = self.target(send_to, f"{where}.send_to") if send_to is not None else None
            rules.append({"name": name, "when": when, "send_to": send_to})
        default = _get(raw, "default")
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
        return document

    def target(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(TargetModel, raw, path)
        if model is None:
            return None
        if model.partner is not None and model.partners is not None:
            self.fail(path, "give either 'partner' or 'partners', not both")
        elif model.partner is None and model.partners is None:
            self.fail(path, "give 'partner: name' or 'partners: [names]'")
        if model.partner is not None:
            names = [model.partner]
            self.reference("partners", "partner", model.partner, f"{path}.partner")
        else:
            names = model.partners or []
            for i, name in enumerate(names):
                self.reference("partners", "partner", name, f"{path}.partners[{i}]")
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
        return {
            "partners": names,
            "strategy": model.strategy,
            "weights": {n: model.weights[n] for n in names if n in model.weights},
            "priorities": {n: model.priorities[n] for n in names if n in model.priorities},
        }


def _get(raw: Any, key: str) -> Any:
    return raw.get(key) if isinstance(raw, dict) else None


def _join(path: str, loc: Sequence[int | str]) -> str:
    for part in loc:
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}"
    return path


def _keys_at(model: type[BaseModel], loc: Sequence[int | str]) -> list[str]:
    """The keys allowed where an unknown key was found: walk the model's annotations along ``loc``."""
    current: Any = model
    for part in [*loc, None]:
        current = unwrap(current)
        if part is None:
            break
        if isinstance(current, type) and issubclass(current, BaseModel):
            info = current.model_fields.get(str(part))
            if info is None:
                return []
            current = info.annotation
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        else:
            return []
    return list(current.model_fields) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _channel(channel: ChannelModel | None) -> dict[str, Any] | None:
    if channel is None:
        return None
    unused = {kind for kind in CHANNEL_KINDS if getattr(channel, kind) is None}
    return channel.model_dump(exclude_none=False, exclude=unused)
