"""How a webhook authenticates and signs, as configuration: one of ``headers``, ``api_key``, ``bearer``,
``basic`` or ``oauth2`` under ``auth``, and ``signing`` (Standard Webhooks).

Every secret may be a literal (stored encrypted, shown as ``***``) or a ``${ENV_VAR}`` reference resolved
when the request is sent. ``spec_of`` turns the canonical documents into the domain's auth specs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from leadrelay.configuration.schema import EnvText, Strict, Url, _choice, problem
from leadrelay.domain.partner_auth import (
    ApiKeyAuth,
    AuthSpec,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OAuth2ClientCredentials,
    SigningSpec,
)

AUTH_KINDS = ("headers", "api_key", "bearer", "basic", "oauth2")


class ApiKeyModel(Strict):
    model_config = ConfigDict(extra="forbid", strict=True, populate_by_name=True, serialize_by_alias=True)

    name: Annotated[str, Field(min_length=1, max_length=100)]
    value: EnvText
    in_: Annotated[str, BeforeValidator(_choice("place", ("header", "query")))] = Field("header", alias="in")


class BearerModel(Strict):
    token: EnvText


class BasicModel(Strict):
    username: EnvText
    password: EnvText


class OAuth2Model(Strict):
    token_url: Url
    client_id: EnvText
    client_secret: EnvText
    scope: str | None = None
    audience: str | None = None
    auth_method: Annotated[str, BeforeValidator(_choice("auth method", ("basic", "body")))] = "basic"


class AuthModel(Strict):
    headers: dict[str, EnvText] | None = None
    api_key: ApiKeyModel | None = None
    bearer: BearerModel | None = None
    basic: BasicModel | None = None
    oauth2: OAuth2Model | None = None

    @model_validator(mode="after")
    def _one(self) -> AuthModel:
        if sum(getattr(self, kind) is not None for kind in AUTH_KINDS) != 1:
            raise problem(f"give exactly one of: {', '.join(AUTH_KINDS)}")
        return self


class SigningModel(Strict):
    secret: EnvText
    scheme: Annotated[str, BeforeValidator(_choice("signing scheme", ("standard-webhooks",)))] = (
        "standard-webhooks"
    )


def canonical_auth(model: AuthModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    return {k: v for k, v in model.model_dump(by_alias=True).items() if v is not None}


def spec_of(auth: Mapping[str, Any] | None) -> AuthSpec | None:
    """The domain spec of a canonical ``auth`` document (secrets as stored there: opened or ``${ENV}``)."""
    if not auth:
        return None
    if (headers := auth.get("headers")) is not None:
        return HeaderAuth(dict(headers))
    if (key := auth.get("api_key")) is not None:
        return ApiKeyAuth(key["name"], key["value"], key.get("in", "header"))
    if (bearer := auth.get("bearer")) is not None:
        return BearerAuth(bearer["token"])
    if (basic := auth.get("basic")) is not None:
        return BasicAuth(basic["username"], basic["password"])
    o = auth["oauth2"]
    return OAuth2ClientCredentials(
        o["token_url"],
        o["client_id"],
        o["client_secret"],
        o.get("scope"),
        o.get("audience"),
        o["auth_method"],
    )


def signing_of(signing: Mapping[str, Any] | None) -> SigningSpec | None:
    return SigningSpec(signing["secret"]) if signing else None
