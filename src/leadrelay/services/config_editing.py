"""Editing one configuration object at a time (the console's configuration pages), through ``apply``.

An edit is a whole configuration document: the stored configuration as ``export`` writes it, with one
object replaced (or left out, for a deletion). ``preview`` validates it as ``apply`` does (nothing is
written) and gives the YAML before and after, masked as ``export`` masks it; ``save`` applies it through
``configure.apply_in`` (the same path as ``leadrelay apply -f FILE``: validated, all or nothing,
audited) and a deletion through ``configure.delete_in``, in the transaction that checks the preview is
still current.
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from leadrelay.configuration.load import dump_yaml, load_yaml_text, validate_document
from leadrelay.errors import ConfigError, ConfigProblem, Conflict
from leadrelay.services import configure
from leadrelay.services.configure import (
    Change,
    SecretKeeper,
    check_suppression_lists,
    check_what_stays,
    masked,
    plan_changes,
)
from leadrelay.services.ports import Objects, Sealer, Storage, Tx

__all__ = [
    "EDITABLE",
    "STALE",
    "Preview",
    "diff_lines",
    "document_with",
    "exported",
    "fingerprint",
    "open_draft",
    "preview",
    "save",
    "seal_draft",
]

EDITABLE = ("entities", "sources", "partners", "profiles")


@dataclass(frozen=True, slots=True)
class Preview:
    changes: list[Change]
    before: str  # the stored configuration as `export` writes it
    after: str  # the same after the change (secrets masked alike)

    @property
    def diff(self) -> list[str]:
        return diff_lines(self.before, self.after)

    @property
    def changed(self) -> bool:
        return self.before != self.after

    @property
    def base(self) -> str:
        """What the change was previewed against (``fingerprint`` of the stored configuration)."""
        return fingerprint(self.before)


def fingerprint(exported_yaml: str) -> str:
    return hashlib.sha256(exported_yaml.encode()).hexdigest()[:32]


def diff_lines(before: str, after: str) -> list[str]:
    """A unified diff of two YAML texts, line by line (``+`` added, ``-`` removed, `` `` context)."""
    return list(
        difflib.unified_diff(
            before.splitlines(), after.splitlines(), "stored", "after saving", lineterm="", n=3
        )
    )


async def exported(storage: Storage) -> Objects:
    """The stored objects, masked as ``export`` and the API show them."""
    return masked(await storage.run_read(configure.stored_objects))


def document_with(objects: Objects, kind: str, name: str, doc: dict[str, Any] | None) -> dict[str, Any]:
    """The whole configuration document (what ``export`` writes, read back) with ``kind.name`` replaced by
    ``doc`` (None: left out)."""
    document = load_yaml_text(dump_yaml(objects)) or {}
    section = document.setdefault(kind, {})
    if doc is None:
        section.pop(name, None)
    else:
        section[name] = copy.deepcopy(doc)
    return dict(document)


async def preview(
    storage: Storage,
    document: dict[str, Any],
    *,
    sealer: Sealer | None,
    deleting: tuple[str, str] | None = None,
) -> Preview:
    """What applying ``document`` would change, checked as ``apply`` checks it (raises ``ConfigError``
    with every problem's path); nothing is written. ``deleting``: the (kind, name) left out of it."""

    def run(tx: Tx) -> Preview:
        existing = tx.config.load_objects()
        if deleting is not None:
            kind, name = deleting
            remaining = copy.deepcopy(existing)
            remaining.get(kind, {}).pop(name, None)
            try:
                validate_document(remaining)
            except ConfigError as exc:
                raise ConfigError(
                    [
                        ConfigProblem(p.path, f"{p.message} (after deleting {kind}.{name})")
                        for p in exc.problems
                    ]
                ) from exc
            change = Change(kind, name, "deleted")
            return Preview([change], dump_yaml(masked(existing)), dump_yaml(masked(remaining)))
        incoming = validate_document(document, existing)
        check_what_stays(existing, incoming)
        check_suppression_lists(tx, incoming)
        incoming = SecretKeeper(tx, sealer).prepare(
            incoming, existing, dry_run=True
        )  # a preview writes nothing
        changes = plan_changes(existing, incoming)
        after = copy.deepcopy(existing)
        for kind, docs in incoming.items():
            after.setdefault(kind, {}).update(docs)
        return Preview(changes, dump_yaml(masked(existing)), dump_yaml(masked(after)))

    return await storage.run(run)


STALE = "the configuration changed since the preview"


async def save(
    storage: Storage,
    kind: str,
    name: str,
    doc: dict[str, Any] | None,
    *,
    base: str,
    actor: str,
    sealer: Sealer | None,
) -> list[Change]:
    """Save a previewed change: ``kind.name`` set to ``doc`` in the stored configuration, applied as
    ``leadrelay apply -f FILE`` applies a document, or deleted (``doc`` None; refused while something refers
    to it). Only while the configuration is still what the change was previewed against (``base``, its
    ``fingerprint``): else ``Conflict`` and nothing is saved.

    The check and the write are one transaction under the configuration's lock (``lock_config``, which
    ``apply`` and every other change take too): an ``apply`` or another user's save that lands after the
    preview is seen here and never overwritten by the whole document this one writes."""

    def run(tx: Tx) -> list[Change]:
        tx.config.lock_config()
        existing = tx.config.load_objects()
        shown = masked(existing)
        if fingerprint(dump_yaml(shown)) != base:
            raise Conflict(STALE)
        if doc is None:
            configure.delete_in(tx, kind, name, actor=actor, existing=existing)
            return [Change(kind, name, "deleted")]
        document = document_with(shown, kind, name, doc)  # "***": the stored secret (``SecretKeeper``)
        return configure.apply_in(tx, document, actor=actor, sealer=sealer, existing=existing)

    return await storage.run(run)


_DRAFT_AAD = b"console-config-draft:"


async def seal_draft(sealer: Sealer | None, draft: dict[str, Any], owner: str) -> str:
    """The previewed change, carried by the preview page's form to the save: sealed (bound to ``owner``)
    when a secret key is set, so a new secret typed in the form never comes back in the page. Without a
    key no literal secret can pass the preview (``apply`` refuses it), so the draft is plain JSON."""
    if sealer is not None and sealer.available:
        ring = await sealer.ring()
        return "s:" + ring.seal_json(draft, _DRAFT_AAD + owner.encode())
    return "p:" + json.dumps(draft, separators=(",", ":"))


async def open_draft(sealer: Sealer | None, token: str, owner: str) -> dict[str, Any] | None:
    """The draft of ``seal_draft``, or None when it is not one (forged, another user's, malformed)."""
    try:
        if token.startswith("s:") and sealer is not None and sealer.available:
            ring = await sealer.ring()
            value = ring.open_json(token[2:], _DRAFT_AAD + owner.encode())
        elif token.startswith("p:") and not (sealer is not None and sealer.available):
            value = json.loads(token[2:])
        else:
            return None
    except Exception:  # (a token that does not open is not a draft, whatever the cause)
        return None
    return value if isinstance(value, dict) else None
