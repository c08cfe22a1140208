"""Privacy helpers without I/O: redaction of known values (sensitive fields, partner secrets, erased leads)
in the text leadrelay stores or shows.

Every text that comes from outside and is kept — a buyer's answer, the reason read from it, the recorded
request, a trace line, an error — goes through one :class:`Redactor` before it is written. A redactor
knows two kinds of values:

- **sensitive** values (a lead's ``sensitive: true`` fields, raw and normalized, and the text a mapping
  rendered from them): found in their encoded forms (JSON, URL, XML), in any letter case, trimmed or with
  their spaces collapsed, and — when they hold five digits or more — as those digits written with any
  separators (``987-65-4321``, ``987 65 4321``, ``987654321``; a NANP phone with or without its ``1``);
- **secrets** (a partner's credentials, tokens, destination passwords): found in their encoded forms, in
  any letter case.
"""

from __future__ import annotations

import base64
import functools
import html
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload
from urllib.parse import parse_qsl, quote, quote_plus, unquote, urlencode, urlsplit, urlunsplit

__all__ = [
    "NO_REDACTION",
    "REDACTED",
    "FieldMatch",
    "Redactor",
    "is_secret_name",
    "redact_text",
    "secret_forms",
]

REDACTED = "***"
ERASED_REASON = "personal data erased"  # why nothing more is sent of an erased lead
MIN_CHARS = 3  # "1" or "TX" would blank out half a text; such values are not identifying
MIN_DIGITS = 5  # a value with this many digits is also found with other separators between them
# between two digits of a value: up to three separators, plain or percent-encoded ("%20")
_SEPARATOR = r"(?:[^0-9A-Za-z]|%[0-9A-Fa-f]{2}){0,3}"
_SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "cookie", "set-cookie"})
_SECRET_WORDS = ("token", "secret", "key", "password", "passwd", "auth", "signature", "session")
_NOT_SECRET = frozenset({"idempotency-key"})


@functools.lru_cache(maxsize=4096)  # header names repeat on every request
def is_secret_name(name: str) -> bool:
    """Whether a header (or query parameter) called ``name`` carries a credential."""
    lowered = name.lower()
    if lowered in _NOT_SECRET:
        return False
    return lowered in _SECRET_HEADERS or any(word in lowered for word in _SECRET_WORDS)


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return str(int(value))  # as a buyer reads it: 180, not 180.0
    return value if isinstance(value, str) else str(value)


def _encodings(text: str) -> set[str]:
    escaped = json.dumps(text, ensure_ascii=False)[1:-1]
    return {
        text,
        json.dumps(text)[1:-1],
        escaped,
        escaped.replace("/", "\\/"),  # PHP's json_encode escapes slashes
        quote(text, safe=""),
        quote_plus(text),
        html.escape(text, quote=False),
        html.escape(text),
    }


def secret_forms(values: Iterable[Any]) -> tuple[str, ...]:
    """Every form a value may take in a recorded request: as is, JSON-escaped, URL-encoded, XML-escaped;
    longest first so a longer form is replaced before a shorter one inside it."""
    forms: set[str] = set()
    for value in values:
        text = _as_text(value)
        if text is not None and len(text) >= MIN_CHARS:
            forms.update(_encodings(text))
    return tuple(sorted(forms, key=len, reverse=True))


def redact_text(text: str, forms: tuple[str, ...]) -> str:
    for form in forms:
        if form in text:
            text = text.replace(form, REDACTED)
    return text


def _digit_runs(text: str) -> set[str]:
    digits = "".join(ch for ch in text if "0" <= ch <= "9")
    if len(digits) < MIN_DIGITS:
        return set()
    runs = {digits}
    if len(digits) == 11 and digits.startswith("1"):  # +15125551212 is also written 512-555-1212
        runs.add(digits[1:])
    return runs


@functools.lru_cache(maxsize=512)
def _pattern(literals: frozenset[str], runs: frozenset[str]) -> re.Pattern[str] | None:
    parts = [re.escape(form) for form in sorted(literals, key=len, reverse=True)]
    for run in sorted(runs, key=len, reverse=True):
        parts.append(r"(?<![0-9])" + _SEPARATOR.join(run) + r"(?![0-9])")
    return re.compile("|".join(parts), re.IGNORECASE) if parts else None


@dataclass(frozen=True, slots=True)
class Redactor:
    """Known values to replace by ``***`` wherever a stored or shown text holds them (see the module)."""

    literals: frozenset[str] = frozenset()
    runs: frozenset[str] = frozenset()  # digit sequences found with any separators

    @classmethod
    def of(cls, sensitive: Iterable[Any] = (), secrets: Iterable[Any] = ()) -> Redactor:
        return NO_REDACTION.plus(sensitive=sensitive, secrets=secrets)

    def plus(self, *, sensitive: Iterable[Any] = (), secrets: Iterable[Any] = ()) -> Redactor:
        """This redactor and more values."""
        literals, runs = set(self.literals), set(self.runs)
        for value in sensitive:
            text = _as_text(value)
            if text is None:
                continue
            for variant in {text, text.strip(), " ".join(text.split())}:
                if len(variant) >= MIN_CHARS:
                    literals.update(_encodings(variant))
            runs.update(_digit_runs(text))
        for value in secrets:
            text = _as_text(value)
            if text is not None and len(text) >= MIN_CHARS:
                literals.update(_encodings(text))
        if len(literals) == len(self.literals) and len(runs) == len(self.runs):
            return self
        return Redactor(frozenset(literals), frozenset(runs))

    def __or__(self, other: Redactor) -> Redactor:
        if not other:
            return self
        if not self:
            return other
        return Redactor(self.literals | other.literals, self.runs | other.runs)

    def __bool__(self) -> bool:
        return bool(self.literals or self.runs)

    @overload
    def text(self, text: str) -> str: ...
    @overload
    def text(self, text: None) -> None: ...
    def text(self, text: str | None) -> str | None:
        if not text or not (self.literals or self.runs):
            return text
        pattern = _pattern(self.literals, self.runs)
        return pattern.sub(REDACTED, text) if pattern is not None else text

    def lines(self, lines: Sequence[str]) -> list[str]:
        return [self.text(str(line)) for line in lines] if self else list(lines)

    def value(self, value: Any) -> Any:
        """A JSON-like value with every known value replaced in its texts (keys included)."""
        if not self:
            return value
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k) if isinstance(k, str) else k: self.value(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self.value(v) for v in value]
        return value


NO_REDACTION = Redactor()


@dataclass(frozen=True, slots=True)
class FieldMatch:
    """How an erasure request finds a person's leads: the stored (normalized) value of ``field`` equals
    ``value`` (``equal``), equals it in any letter case (``equal_ignoring_case``), or starts with it
    (``prefix``)."""

    field: str
    value: str
    how: Literal["equal", "equal_ignoring_case", "prefix"] = "equal"


@functools.lru_cache(maxsize=1024)  # a partner's URL is the same on every post
def redact_url(url: str) -> str:
    """The URL without a password in its user info or values of secret-looking query parameters."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else netloc
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_secret_name(name) for name, _ in pairs):
                query = urlencode([(n, REDACTED if is_secret_name(n) else v) for n, v in pairs], safe="*")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return url


def url_secrets(url: str) -> tuple[str, ...]:
    """What ``redact_url`` hides of ``url`` (the values of secret-looking query parameters, a password in
    its user info, and the ``Authorization: Basic`` value an HTTP client makes of the user info): kept out
    of any text that quotes the URL or echoes the request (an HTTP library's error, a buyer's answer)."""
    try:
        parts = urlsplit(url)
        # a value of 8 characters or more: ``?auth=true`` is a flag, and redacting "true" would change the
        # buyer's answer before it is read
        found = [
            v for n, v in parse_qsl(parts.query, keep_blank_values=True) if is_secret_name(n) and len(v) >= 8
        ]
        if parts.password:
            user, password = unquote(parts.username or ""), unquote(parts.password)
            found.extend(dict.fromkeys((parts.password, password)))
            for charset in ("utf-8", "latin-1"):  # aiohttp encodes in latin-1; others in UTF-8
                try:
                    found.append(base64.b64encode(f"{user}:{password}".encode(charset)).decode("ascii"))
                except UnicodeEncodeError:
                    continue
    except ValueError:
        return ()
    return tuple(dict.fromkeys(found))
