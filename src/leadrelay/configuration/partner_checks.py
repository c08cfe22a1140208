"""The checks of a partner: its channels and failover, webhooks (mappings, auth, signing), ping, files and
digests, seller names; each canonical form is put back in the partner's document."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from leadrelay.configuration.batching import BUILTIN_COLUMNS, DigestModel, FileModel
from leadrelay.configuration.channels import CHANNEL_KINDS, ChannelModel
from leadrelay.configuration.document_checks import DocumentChecks, lookup
from leadrelay.configuration.mappings import check_mappings
from leadrelay.configuration.partner_auth import AUTH_KINDS, AuthModel, SigningModel, canonical_auth
from leadrelay.configuration.ping import personal_fields, ping_problems
from leadrelay.configuration.returns import returns_problems
from leadrelay.configuration.schema import PartnerModel
from leadrelay.domain.consent import seller_key

__all__ = ["PartnerChecks"]


class PartnerChecks(DocumentChecks):
    def partner(self, raw: Any, path: str) -> dict[str, Any] | None:
        model = self.model(PartnerModel, raw, path)
        filters = lookup(raw, "filters")
        canonical_filters = (
            self.condition(filters, f"{path}.filters", None, "") if filters is not None else None
        )
        raw_steps = lookup(raw, "failover")
        places = [("channel", lookup(raw, "channel"))]
        places += [
            (f"failover[{i}]", step)
            for i, step in enumerate(raw_steps if isinstance(raw_steps, list) else [])
        ]
        mappings = {}
        for where, step in places:
            found, problems = check_mappings(
                lookup(step, "webhook"), f"{path}.{where}.webhook", self.all_fields()
            )
            self.problems.extend(problems)
            mappings[where] = found
        mappings["ping"], problems = check_mappings(lookup(raw, "ping"), f"{path}.ping", self.all_fields())
        self.problems.extend(problems)
        if model is None:
            return None
        document = model.model_dump()
        self.dedup_fields(document, path, self.all_fields())  # a partner takes leads of any entity
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
        self.problems.extend(returns_problems(model.returns, f"{path}.returns"))
        if model.failover and model.channel is None:
            self.fail(f"{path}.failover", "a failover needs the partner's own 'channel' first")
        if model.ping is not None and model.channel is None:
            self.fail(f"{path}.ping", "a ping needs the partner's 'channel' too: the post that follows a bid")
        if model.adaptive_ping_timeout is not None and model.ping is None:
            self.fail(f"{path}.adaptive_ping_timeout", "an adaptive ping timeout needs the partner's 'ping'")
        if model.show_price and model.price is None:
            self.fail(f"{path}.show_price", "a user-choice offer shows the partner's 'price': give it one")
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
            for kind in ("webhook", "email", "hold"):  # "only these fields": each one a field
                if canonical is not None and isinstance(canonical.get(kind), dict):
                    self.field_names(canonical[kind].get("fields") or [], f"{path}.{where}.{kind}.fields", ())
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
                found = lookup(doc, "fields")
                fields.append(found if isinstance(found, dict) else {})
            self._personal = personal_fields(fields)
        return self._personal

    def batched(self, channel: dict[str, Any], path: str, partner_email: str | None) -> None:
        """Validate a file channel or an email digest (put back in canonical form)."""
        columns: list[str] | None = None
        if "file" in channel:
            where = f"{path}.file"
            mail = lookup(lookup(channel["file"], "destination"), "email")  # reported with the other problems
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

    def webhook_auth(self, hook: dict[str, Any], path: str) -> None:
        """Validate a webhook's ``auth`` and ``signing`` (put back in canonical form)."""
        if hook.get("auth") is not None:
            auth = self.model(AuthModel, hook["auth"], f"{path}.auth")
            hook["auth"] = canonical_auth(auth)
            if auth is not None:  # what only the request can hold (a header's name, a value's line break)
                kind = next(k for k in AUTH_KINDS if getattr(auth, k) is not None)
                self._buildable(auth.to_spec, f"{path}.auth.{kind}")
        if hook.get("signing") is not None:
            signing = self.model(SigningModel, hook["signing"], f"{path}.signing")
            hook["signing"] = signing.model_dump() if signing is not None else None
            if signing is not None:  # an empty secret, a whsec_ secret that is not base64
                self._buildable(signing.to_spec, f"{path}.signing.secret")

    def _buildable(self, build: Callable[[], object], path: str) -> None:
        """The domain's own checks of a spec, at ``apply``: a value they refuse would otherwise fail every
        reading of the configuration in force (and with it every request), not only this partner's."""
        try:
            build()
        except ValueError as exc:
            self.fail(path, str(exc))


def _channel(channel: ChannelModel | None) -> dict[str, Any] | None:
    if channel is None:
        return None
    unused = {kind for kind in CHANNEL_KINDS if getattr(channel, kind) is None}
    return channel.model_dump(exclude_none=False, exclude=unused)
