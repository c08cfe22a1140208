"""Suppression lists (do-not-call, litigators, existing customers, competitors…): what is hashed.

A list holds no plaintext: an entry is the plain (unkeyed) SHA-256 hex digest of a value's *canonical* form,
the format list vendors publish, so a list can be handed over already hashed; unlike the keyed dedup marks
(``domain/dedup.py``), such a hash of a phone number is reversed by trying every number, so a list is still
personal data. A lead matches however either side typed the value. The
canonical form is the field type's normal form, with two deliberate widenings so that one person (or one
area) is one hash:

* phone: E.164 as the ``phone`` field type gives it (``+15125551212``), without an extension
  (``+15125551212;ext=12`` is listed by ``+15125551212``). A list belongs to no region: a value in
  international form (``+44 20 7946 0958``) is read in its own country's numbering, one without its
  calling code as a number of ``region`` (US: NANP), so any entity's leads can be matched;
* email: the ``email`` field type's normal form, then *entirely* lower-cased: the type keeps the local
  part's case (a mail server may honour it), but for suppression ``John@X.com`` and ``john@x.com`` are the
  same person;
* postal_code: the ``postal_code`` field type's normal form, and for a US ZIP+4 only its 5-digit ZIP, so a
  list of ZIPs matches ``78704-1234`` leads (Canadian codes stay whole: ``K1A 0B1``).

``list_hash`` parses a raw value (a list being imported); ``hashes_of_lead`` starts from a lead's values,
already normalized by intake, and reaches the same hash without parsing again. ``file_layout`` and
``data_rows`` read the lines of a list file (plain, or a CSV column). Pure: no I/O.
"""

from __future__ import annotations

import csv
import difflib
import hashlib
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from leadrelay.domain.fields import normalize_field, number_only
from leadrelay.domain.fields.phone import number_key
from leadrelay.domain.fields.value import Invalid

KINDS = ("phone", "email", "postal_code")
"""The kinds of list; each is also the field type whose values it matches."""

_KIND_OF = {kind: kind for kind in KINDS}
HASH_RE = re.compile(r"^[0-9a-f]{64}$")
NOT_A_HASH = "not a SHA-256 hash (64 hexadecimal digits)"
_ZIP4_RE = re.compile(r"^(\d{5})-\d{4}$")


def digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def canonical(kind: str, normal: str) -> str:
    """The form that is hashed, from the field type's normal form of a value of that kind."""
    if kind == "email":
        return normal.lower()
    if kind == "postal_code":
        match = _ZIP4_RE.match(normal)
        return match[1] if match else normal
    if kind == "phone":
        return number_only(normal)
    return normal


def email_forms(address: str) -> list[str]:
    """A canonical address and the same mailbox with its domain written the other way, Unicode or ASCII
    (``ada@bücher.example`` and ``ada@xn--bcher-kva.example``): a list holding either form suppresses a
    lead holding the other. An entry is hashed as written, so both forms are looked for."""
    local, at, domain = address.rpartition("@")
    forms = [address]
    try:
        if domain.isascii() and "xn--" in domain:
            other = domain.encode("ascii").decode("idna")
        elif not domain.isascii():
            other = domain.encode("idna").decode("ascii")
        else:
            return forms
    except UnicodeError:  # not a valid international domain name: compared as written
        return forms
    if at and other.lower() != domain:
        forms.append(f"{local}@{other.lower()}")
    return forms


def check_hashes(kind: str, value: Any, *, region: str = "US") -> tuple[list[str], str | None]:
    """``(hashes, None)``: what a valid value of ``kind`` is looked for as in a list (an email in both
    ways of writing its domain), else ``([], why)``."""
    found, error = hash_or_error(kind, value, region=region)
    if found is None:
        return [], error
    if kind != "email":
        return [found], None
    field = normalize_field(kind, value)
    return [digest(form) for form in email_forms(canonical(kind, str(field.normal)))], None


def hash_or_error(kind: str, value: Any, *, region: str = "US") -> tuple[str | None, str | None]:
    """``(hash, None)`` for a valid value of ``kind``, else ``(None, why)``."""
    if kind not in KINDS:
        raise ValueError(f"unknown suppression list kind {kind!r}")
    if kind == "phone" and isinstance(value, str) and value.strip():
        # the phone type's own parsing without building its parts: a third of the cost of a list line
        try:  # a number in international form (+44 …) in its own country's numbering, others in region's
            return digest(number_key(value, str(region or "US").upper(), any_country=True)), None
        except Invalid as exc:
            return None, str(exc)
    options: dict[str, Any] = {"region": region} if kind == "phone" else {}
    field = normalize_field(kind, value, **options)
    if not field.valid or not field.normal:
        return None, str(field.error or f"not a valid {kind.replace('_', ' ')}")
    return digest(canonical(kind, field.normal)), None


def list_hash(kind: str, value: Any, *, region: str = "US") -> str | None:
    """The entry for ``value`` in a list of ``kind``; None when it is not a valid value of that kind."""
    return hash_or_error(kind, value, region=region)[0]


def normal_hash(value: str) -> str | None:
    """A value given already hashed (64 hex digits, any case) as stored; None when it is not one."""
    text = value.strip().lower()
    return text if HASH_RE.match(text) else None


def entry_of(kind: str, value: Any, *, hashed: bool) -> tuple[str | None, str | None]:
    """``(hash, None)`` for a good value (or a given hash when ``hashed``), else ``(None, why)``."""
    if hashed:
        given = normal_hash(value) if isinstance(value, str) else None
        return (given, None) if given else (None, NOT_A_HASH)
    return hash_or_error(kind, value)


@dataclass(frozen=True, slots=True)
class ListRow:
    name: str
    kind: str
    description: str | None
    created_at: datetime
    entries: int | None  # None when not counted (counting a long list scans it)

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "description": self.description,
            "entries": self.entries,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class BadValue:
    index: int  # position in a request (0-based)
    error: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "error": self.error}


def hash_values(kind: str, values: Sequence[Any], *, hashed: bool) -> tuple[list[str], list[BadValue]]:
    """The hashes of a batch of values (or the given hashes, checked) and, by index, why the others are
    refused: a bad item never costs the good ones."""
    good: list[str] = []
    bad: list[BadValue] = []
    for index, value in enumerate(values):
        entry, error = entry_of(kind, value, hashed=hashed)
        if entry is None:
            bad.append(BadValue(index, error or "invalid"))
        else:
            good.append(entry)
    return good, bad


REFERRING_KINDS = ("entities", "profiles", "partners")
"""Configuration objects that may name lists in their ``suppression`` field."""


def referring_objects(objects: Mapping[str, Mapping[str, Any]], name: str) -> list[str]:
    """The configuration objects (``profiles.solar-main``) whose ``suppression`` names the list ``name``;
    ``objects`` are the stored documents by kind and name."""
    found = []
    for kind in REFERRING_KINDS:
        for obj_name, doc in sorted(objects.get(kind, {}).items()):
            named = doc.get("suppression") if isinstance(doc, Mapping) else None
            if named == name or (isinstance(named, list) and name in named):
                found.append(f"{kind}.{obj_name}")
    return found


def hashes_of_lead(fields: Mapping[str, str], values: Mapping[str, Any]) -> dict[str, set[str]]:
    """For each kind, the hashes of the lead's values of that kind.

    ``fields`` maps a field name to its type name (the entity's fields), ``values`` holds the lead's
    normalized values (what intake stores): only ``canonical`` is applied, nothing is parsed again, and
    the hashes equal what ``list_hash`` gives for the raw values. Kinds without a value are left out.
    """
    out: dict[str, set[str]] = {}
    for name, type_name in fields.items():
        kind = _KIND_OF.get(str(type_name))  # str(): a FieldType member is its value
        value = values.get(name)
        if kind is not None and isinstance(value, str) and value:
            form = canonical(kind, value)
            out.setdefault(kind, set()).update(
                digest(f) for f in (email_forms(form) if kind == "email" else [form])
            )
    return out


# ---------------------------------------------------------------- reading a list file's lines

_DELIMITERS = ",;\t"
_HEADER_RE = re.compile(r"^[A-Za-z][A-Za-z0-9 _.#-]*$")


@dataclass(frozen=True, slots=True)
class Layout:
    """How a file's lines hold the values: plain text (``delimiter`` None) or one column of a CSV."""

    delimiter: str | None
    column: int
    header: str | None  # the header cell of that column when the first line is a header row


def file_layout(first: str, column: str | None, kind: str, *, hashed: bool) -> Layout:
    """Read the first line: the delimiter (the commonest of , ; tab), the column, and whether it is a
    header. With ``column`` it must be a header naming it (``ValueError`` otherwise); without, a first
    line that is a word ("phone", "Email Address") rather than a valid value is a header, not a bad line.
    """
    counts = {d: first.count(d) for d in _DELIMITERS}
    best = max(counts, key=lambda d: counts[d])
    delimiter = best if counts[best] else ("," if column is not None else None)
    cells = (
        [c.strip() for c in next(csv.reader([first], delimiter=delimiter))] if delimiter else [first.strip()]
    )
    if column is None:
        cell = cells[0] if cells else ""
        word = entry_of(kind, cell, hashed=hashed)[0] is None and bool(_HEADER_RE.match(cell))
        return Layout(delimiter, 0, cell if word else None)
    for index, cell in enumerate(cells):
        if cell.casefold() == column.casefold():
            return Layout(delimiter, index, cell)
    close = difflib.get_close_matches(column, cells, n=1, cutoff=0.6)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ValueError(f"no column named '{column}'{hint} (the header row has: {', '.join(cells)})")


def data_rows(lines: Iterable[str], layout: Layout) -> Iterator[tuple[int, str]]:
    """``(line number, value)`` of every row after the header (if any): the column's cell, stripped."""
    header = layout.header is not None
    if layout.delimiter is None:
        for number, line in enumerate(lines, start=1):
            if number > 1 or not header:
                yield number, line.strip()
        return
    reader = csv.reader(lines, delimiter=layout.delimiter)
    index = layout.column
    for row_number, cells in enumerate(reader):
        if row_number > 0 or not header:
            yield reader.line_num, (cells[index].strip() if index < len(cells) else "")
