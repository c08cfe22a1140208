"""A source's outbound postback in configuration (``sources.<name>.postback``)::

    postback:
      url: https://tracker.example/postback
      events: [sold, converted]          # any of: sold, contacted, converted, rejected, returned
      secret: ${TRACKER_WHSEC}           # or a literal (sealed at rest), or secret_env: TRACKER_WHSEC
      click_id_field: click_id           # default

The secret signs every request (Standard Webhooks): ``whsec_<base64>`` as the specification gives it, or
any other text (its UTF-8 bytes are the key). ``secret_env: NAME`` is ``secret: ${NAME}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, Field, model_validator

from leadrelay.configuration.values import EnvText, Strict, Url, choice, problem, unique
from leadrelay.domain.partner_auth import SigningSpec
from leadrelay.domain.postback_relay import DEFAULT_CLICK_ID_FIELD, RelayEvent, SourcePostback

__all__ = ["SourcePostbackModel"]

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELD_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]{0,63}")

EventName = Annotated[str, BeforeValidator(choice("event", tuple(RelayEvent)))]


def _env_name(value: Any) -> str:
    if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
        raise problem("must be an environment variable name such as TRACKER_WHSEC")
    return value


def _field_name(value: Any) -> str:
    if not isinstance(value, str) or not _FIELD_NAME.fullmatch(value):
        raise problem("must be a field name such as click_id")
    return value


class SourcePostbackModel(Strict):
    url: Url
    events: Annotated[list[EventName], AfterValidator(unique), Field(min_length=1)]
    secret: EnvText | None = None
    secret_env: Annotated[str, BeforeValidator(_env_name)] | None = None
    click_id_field: Annotated[str, BeforeValidator(_field_name)] = DEFAULT_CLICK_ID_FIELD

    @model_validator(mode="after")
    def _one_secret(self) -> SourcePostbackModel:
        if (self.secret is None) == (self.secret_env is None):
            raise problem("give exactly one of: secret, secret_env")
        if self.secret is not None:
            try:
                SigningSpec(self.secret)
            except ValueError as exc:
                raise problem(f"secret: {exc}") from None
        return self

    def to_spec(self) -> SourcePostback:
        secret = self.secret if self.secret is not None else "${" + str(self.secret_env) + "}"
        return SourcePostback(
            self.url,
            frozenset(RelayEvent(e) for e in self.events),
            SigningSpec(secret),
            self.click_id_field,
        )
