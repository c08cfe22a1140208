"""How a webhook authenticates and signs, as configuration: one of ``headers``, ``api_key``, ``bearer``,
``basic`` or ``oauth2`` under ``auth``, and ``signing`` (Standard Webhooks).

Every secret may be a literal (stored encrypted, shown as ``***``) or a ``${ENV_VAR}`` reference resolved
when the request is sent. ``to_spec`` gives the domain's auth and signing specs.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, ConfigDict, Field, model_validator

from leadrelay.configuration.values import EnvText, Strict, Url, choice, problem
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
    in_: Annotated[Literal["header", "query"], BeforeValidator(choice("place", ("header", "query")))] = Field(
        "header", alias="in"
    )

    def to_spec(self) -> ApiKeyAuth:
        return ApiKeyAuth(self.name, self.value, self.in_)


class BearerModel(Strict):
    token: EnvText

    def to_spec(self) -> BearerAuth:
        return BearerAuth(self.token)


class BasicModel(Strict):
    username: EnvText
    password: EnvText

    def to_spec(self) -> BasicAuth:
        return BasicAuth(self.username, self.password)


class OAuth2Model(Strict):
    token_url: Url
    client_id: EnvText
    client_secret: EnvText
    scope: str | None = None
    audience: str | None = None
    auth_method: Annotated[
        Literal["basic", "body"], BeforeValidator(choice("auth method", ("basic", "body")))
    ] = "basic"

    def to_spec(self) -> OAuth2ClientCredentials:
        return OAuth2ClientCredentials(
            self.token_url, self.client_id, self.client_secret, self.scope, self.audience, self.auth_method
        )


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

    def to_spec(self) -> AuthSpec:
        if self.headers is not None:
            return HeaderAuth(dict(self.headers))
        kind = self.api_key or self.bearer or self.basic or self.oauth2
        assert kind is not None, "validation: exactly one kind"
        return kind.to_spec()


class SigningModel(Strict):
    secret: EnvText
    scheme: Annotated[str, BeforeValidator(choice("signing scheme", ("standard-webhooks",)))] = (
        "standard-webhooks"
    )

    def to_spec(self) -> SigningSpec:
        return SigningSpec(self.secret)


def canonical_auth(model: AuthModel | None) -> dict[str, Any] | None:
    if model is None:
        return None
    return {k: v for k, v in model.model_dump(by_alias=True).items() if v is not None}
