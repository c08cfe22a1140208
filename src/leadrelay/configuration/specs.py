"""From canonical configuration objects to what the rest of leadrelay uses: domain specs, SMTP settings,
and YAML again (``dump_yaml`` writes a document that validates back to the same objects).

The objects are trusted here: they come from ``leadrelay.configuration.load.validate_document`` or from
the store, which only keeps what that function returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from leadrelay.configuration.batching import digest_of, file_of
from leadrelay.configuration.partner_auth import signing_of, spec_of
from leadrelay.configuration.schema import ENV_REF_RE, parse_duration
from leadrelay.domain.condition_syntax import parse_condition
from leadrelay.domain.hours import parse_hours
from leadrelay.domain.model import (
    CapPeriod,
    ChannelSpec,
    DedupSpec,
    EmailChannel,
    EntitySpec,
    FieldSpec,
    FieldType,
    HoldChannel,
    PartnerSpec,
    ProfileSpec,
    Rule,
    SourceSpec,
    Strategy,
    Target,
    WebhookChannel,
)
from leadrelay.domain.smtp import SmtpSettings
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = ["KINDS", "SMTP_NAME", "Objects", "Specs", "build_specs", "dump_yaml", "smtp_settings"]

Objects = dict[str, dict[str, dict[str, Any]]]
"""kind ("smtp", "entities", "sources", "partners", "profiles") -> name -> canonical document."""
KINDS = ("smtp", "entities", "sources", "partners", "profiles")
SMTP_NAME = "default"


@dataclass(frozen=True)
class Specs:
    entities: dict[str, EntitySpec]
    sources: dict[str, SourceSpec]
    partners: dict[str, PartnerSpec]
    profiles: dict[str, ProfileSpec]
    smtp: dict[str, Any] | None


def build_specs(objects: Objects) -> Specs:
    """The domain specs of canonical objects (as ``validate_document`` returns or the store keeps them)."""

    def each(kind: str) -> list[tuple[str, dict[str, Any]]]:
        return list(objects.get(kind, {}).items())

    return Specs(
        entities={name: _entity(name, doc) for name, doc in each("entities")},
        sources={
            name: SourceSpec(name, tuple(doc["entities"]), parse_duration(doc["wait"]))
            for name, doc in each("sources")
        },
        partners={name: _partner(name, doc) for name, doc in each("partners")},
        profiles={name: _profile(name, doc) for name, doc in each("profiles")},
        smtp=objects.get("smtp", {}).get(SMTP_NAME),
    )


def _entity(name: str, doc: Mapping[str, Any]) -> EntitySpec:
    fields = {
        key: FieldSpec(
            key,
            FieldType(f["type"]),
            f["required"],
            f["max_length"],
            tuple(f["choices"]),
            f["sensitive"],
            f.get("region"),
        )
        for key, f in doc["fields"].items()
    }
    return EntitySpec(
        name,
        fields,
        region=doc.get("region", "US"),
        dedup=_dedup(doc.get("dedup")),
        suppression=tuple(doc.get("suppression", ())),
    )


def _dedup(doc: Mapping[str, Any] | None) -> DedupSpec | None:
    if doc is None:
        return None
    keys = tuple(tuple(key) for key in doc["keys"])
    return DedupSpec(keys, parse_duration(doc["window"]), doc.get("scope", "entity"))


def _caps(caps: Mapping[str, int]) -> dict[CapPeriod, int]:
    return {CapPeriod(period): count for period, count in caps.items()}


def _channel(doc: Mapping[str, Any] | None, partner_email: str | None) -> ChannelSpec | None:
    if doc is None:
        return None
    if (hook := doc.get("webhook")) is not None:
        return WebhookChannel(
            url=hook["url"],
            format=hook["format"],
            method=hook["method"],
            headers=dict(hook["headers"]),
            timeout_s=parse_duration(hook["timeout"]),
            max_attempts=hook["max_attempts"],
            fields=tuple(hook["fields"]) if hook["fields"] is not None else None,
            mapping=hook.get("mapping") if hook.get("mapping") is not None else hook.get("mappings"),
            ascii=hook.get("ascii", False),
            content_type=hook.get("content_type"),
            response=dict(hook["response"]) if hook.get("response") is not None else None,
            auth=spec_of(hook.get("auth")),
            signing=signing_of(hook.get("signing")),
            status_policy=hook.get("status_policy", "strict"),
        )
    if (batch := doc.get("file")) is not None:
        return file_of(batch, partner_email)
    if (mail := doc.get("email")) is not None:
        if mail.get("digest") is not None:
            return digest_of(mail, partner_email)
        return EmailChannel(
            to=tuple(mail["to"] or [partner_email]),
            subject=mail["subject"],
            body=mail["body"],
            html=mail["html"],
            attach=mail["attach"],
            max_attempts=mail["max_attempts"],
            fields=tuple(mail["fields"]) if mail["fields"] is not None else None,
        )
    if (hold := doc.get("hold")) is not None:
        return HoldChannel(fields=tuple(hold["fields"]) if hold.get("fields") is not None else None)
    return None


def _partner(name: str, doc: Mapping[str, Any]) -> PartnerSpec:
    channel = _channel(doc["channel"], doc["email"])
    failover = tuple(c for c in (_channel(step, doc["email"]) for step in doc.get("failover", ())) if c)
    return PartnerSpec(
        name=name,
        timezone=doc["timezone"],
        email=doc["email"],
        caps=_caps(doc["caps"]),
        hours=parse_hours(doc["hours"]) if doc["hours"] is not None else None,
        filters=parse_condition(doc["filters"], f"partners.{name}.filters") if doc["filters"] else None,
        paused=doc["paused"],
        channel=channel,
        price=doc["price"],
        cancel_period_s=parse_duration(doc["cancel_period"]),
        dedup=_dedup(doc.get("dedup")),
        suppression=tuple(doc.get("suppression", ())),
        failover=failover,
    )


def _target(doc: Mapping[str, Any]) -> Target:
    return Target(
        tuple(doc["partners"]), Strategy(doc["strategy"]), dict(doc["weights"]), dict(doc["priorities"])
    )


def _profile(name: str, doc: Mapping[str, Any]) -> ProfileSpec:
    rules = tuple(
        Rule(
            rule["name"],
            parse_condition(rule["when"], f"profiles.{name}.rules[{i}].when"),
            _target(rule["send_to"]),
        )
        for i, rule in enumerate(doc["rules"])
    )
    return ProfileSpec(
        name=name,
        entity=doc["entity"],
        rules=rules,
        default=_target(doc["default"]) if doc["default"] is not None else None,
        enabled=doc["enabled"],
        auto_redistribute=doc["auto_redistribute"],
        partner_caps={partner: _caps(caps) for partner, caps in doc["partner_caps"].items()},
        email_to=tuple(doc["email_to"]),
        dedup=_dedup(doc.get("dedup")),
        suppression=tuple(doc.get("suppression", ())),
    )


# ---------------------------------------------------------------- export


class _FlowDict(dict[str, Any]):
    pass


class _FlowList(list[Any]):
    pass


class _Mapping(dict[str, Any]):
    """A webhook's mapping, written whole: a null or false value is what the buyer gets, not a default."""


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _string(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML writes NEL and the Unicode line separators raw in other styles, and reads them back as breaks.
    style = '"' if any(c in value for c in "\x85\u2028\u2029") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _string)
_Dumper.add_representer(
    _FlowDict, lambda d, v: d.represent_mapping("tag:yaml.org,2002:map", v, flow_style=True)
)
_Dumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _flow(value: Any) -> Any:
    """Leave out what validation fills in again (nulls, empty lists and mappings, false flags); write
    small things on one line (a field, a condition leaf, caps, a target) and the rest as blocks."""
    if isinstance(value, _Mapping):
        return {key: _flow_value(item) for key, item in value.items()}
    if isinstance(value, list):
        elements = [_flow(item) for item in value]
        return _FlowList(elements) if all(_is_scalar(item) for item in value) else elements
    if isinstance(value, dict):
        entries = {key: _flow(item) for key, item in value.items() if not _implied(key, item)}
        small = all(
            _is_scalar(v)
            or isinstance(v, _FlowList)
            or (isinstance(v, _FlowDict) and all(_is_scalar(w) for w in v.values()))
            for v in entries.values()
        )
        return _FlowDict(entries) if small and len(repr(entries)) <= 100 else entries
    return value


def _flow_value(value: Any) -> Any:
    """One value of a mapping: a conditional as a block, a reference or a literal on one line."""
    if isinstance(value, dict) and "when" in value:
        entries = {"when": _flow(value["when"]), "value": _flow_value(value["value"])}
        if "else" in value:
            entries["else"] = _flow_value(value["else"])
        return entries
    return _FlowDict(value) if isinstance(value, dict) else value


def _marked(partner: dict[str, Any]) -> dict[str, Any]:
    """The partner with its webhooks' mappings (its channel's and any failover step's) marked whole."""
    marked = dict(partner)
    if isinstance(partner.get("channel"), dict):
        marked["channel"] = _marked_channel(partner["channel"])
    if isinstance(partner.get("failover"), list):
        marked["failover"] = [_marked_channel(step) for step in partner["failover"]]
    return marked


def _marked_channel(channel: Any) -> Any:
    hook = channel.get("webhook") if isinstance(channel, dict) else None
    if not hook or (hook.get("mapping") is None and hook.get("mappings") is None):
        return channel
    hook = dict(hook)
    if hook.get("mapping") is not None:
        hook["mapping"] = _Mapping(hook["mapping"])
    if hook.get("mappings") is not None:
        hook["mappings"] = [{**entry, "mapping": _Mapping(entry["mapping"])} for entry in hook["mappings"]]
    return {**channel, "webhook": hook}


def _implied(key: str, value: Any) -> bool:
    if key == "partners":  # a target's partners, even none, must be written
        return False
    return value is None or value == [] or value == {} or (key in _FALSE_BY_DEFAULT and value is False)


_FALSE_BY_DEFAULT = frozenset({"ascii", "case_sensitive", "required", "sensitive"})


def dump_yaml(objects: Objects) -> str:
    """A YAML document of ``objects`` (sections in a fixed order, names sorted) that re-applies to them."""
    document: dict[str, Any] = {}
    for kind in KINDS:
        if kind == "smtp":
            if objects.get("smtp", {}).get(SMTP_NAME) is not None:
                document["smtp"] = _flow(objects["smtp"][SMTP_NAME])
        elif kind in objects:
            mark = _marked if kind == "partners" else dict
            document[kind] = {name: _flow(mark(objects[kind][name])) for name in sorted(objects[kind])}
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def smtp_settings(smtp: Mapping[str, Any], environ: Mapping[str, str]) -> SmtpSettings:
    """The SMTP settings of a canonical ``smtp`` object, with its ``${ENV_VAR}`` references resolved."""
    resolved: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    for key, value in smtp.items():
        if isinstance(value, str) and ENV_REF_RE.match(value):
            variable = value[2:-1]
            if variable not in environ:
                problems.append(ConfigProblem(f"smtp.{key}", f"environment variable {variable} is not set"))
                continue
            value = environ[variable]
        resolved[key] = value
    if isinstance(resolved.get("port"), str):
        port = resolved["port"]
        if not port.isdigit() or not 0 < int(port) < 65536:
            problems.append(ConfigProblem("smtp.port", f"not a port number: {port!r}"))
        else:
            resolved["port"] = int(port)
    if problems:
        raise ConfigError(problems)
    return SmtpSettings(
        host=resolved["host"],
        port=resolved["port"],
        security=resolved["security"],
        username=resolved["username"],
        password=resolved["password"],
        sender=resolved["sender"],
        timeout_s=parse_duration(resolved["timeout"]),
    )
