"""From canonical configuration objects to what the rest of leadrelay uses: domain specs and SMTP settings.

The objects are trusted here: they come from ``leadrelay.configuration.validation.validate_document`` or
from the store, which only keeps what that function returned. Each is read into its model
(``Strict.stored``, without validating it again) and the model gives its spec (``to_spec``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from leadrelay.configuration.alerts import AlertModel
from leadrelay.configuration.entities import EntityModel
from leadrelay.configuration.export import dump_yaml as dump_yaml
from leadrelay.configuration.profiles import ProfileModel
from leadrelay.configuration.schema import (
    KINDS,
    SMTP_NAME,
    Objects,
    PartnerModel,
    SmtpModel,
    SourceModel,
)
from leadrelay.configuration.secrets import is_sealed
from leadrelay.configuration.values import ENV_REF_RE
from leadrelay.domain.alerts import AlertSpec
from leadrelay.domain.model import EntitySpec, PartnerSpec, ProfileSpec, SourceSpec
from leadrelay.domain.smtp import SmtpSettings
from leadrelay.errors import ConfigError, ConfigProblem

__all__ = ["KINDS", "SMTP_NAME", "Objects", "Specs", "build_specs", "dump_yaml", "smtp_settings"]


@dataclass(frozen=True)
class Specs:
    entities: dict[str, EntitySpec]
    sources: dict[str, SourceSpec]
    partners: dict[str, PartnerSpec]
    profiles: dict[str, ProfileSpec]
    smtp: dict[str, Any] | None
    alerts: dict[str, AlertSpec] = field(default_factory=dict)


def build_specs(objects: Objects) -> Specs:
    """The domain specs of canonical objects (as ``validate_document`` returns or the store keeps them)."""

    def each(kind: str) -> list[tuple[str, dict[str, Any]]]:
        return list(objects.get(kind, {}).items())

    return Specs(
        entities={name: EntityModel.stored(doc).to_spec(name) for name, doc in each("entities")},
        sources={name: SourceModel.stored(doc).to_spec(name) for name, doc in each("sources")},
        partners={name: PartnerModel.stored(doc).to_spec(name) for name, doc in each("partners")},
        profiles={name: ProfileModel.stored(doc).to_spec(name) for name, doc in each("profiles")},
        smtp=objects.get("smtp", {}).get(SMTP_NAME),
        alerts={name: AlertModel.stored(doc).to_spec(name) for name, doc in each("alerts")},
    )


def smtp_settings(smtp: Mapping[str, Any], environ: Mapping[str, str]) -> SmtpSettings:
    """The SMTP settings of a canonical ``smtp`` object, with its ``${ENV_VAR}`` references resolved; raises
    ``ConfigError`` for a reference to an unset variable or a sealed password left closed (the process lacks
    the secret key that opens it)."""
    resolved: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    for key, value in smtp.items():
        if is_sealed(value):  # this process cannot open it: never log in with ciphertext
            problems.append(
                ConfigProblem(
                    f"smtp.{key}",
                    "the stored value cannot be opened (is LEADRELAY_SECRET_KEY set, and the same as when "
                    "the configuration was applied?)",
                )
            )
            continue
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
    return SmtpModel.stored(resolved).to_spec()
