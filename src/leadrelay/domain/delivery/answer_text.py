"""A buyer's answer as text: its bytes decoded, and a leading byte order mark dropped.

A byte order mark (U+FEFF; its UTF-8 bytes EF BB BF) marks the encoding and is not part of the answer. .NET
servers often send one before JSON, which a JSON parser then refuses unless it is dropped first (RFC 8259
§8.1 lets a parser ignore it). Its bytes say that the body is UTF-8 whatever the Content-Type's charset says,
as a browser reads it (WHATWG Encoding, "BOM sniff"). Standard library only: the channels use it without
loading the response rules' lxml.
"""

from __future__ import annotations

import codecs

__all__ = ["BOM", "decode_answer", "without_bom"]

BOM = "\ufeff"  # a byte order mark, as text


def without_bom(text: str) -> str:
    """``text`` without a leading byte order mark."""
    return text.removeprefix(BOM)


def decode_answer(body: bytes, charset: str) -> str:
    """An answer's bytes as text in ``charset`` (an unknown one: UTF-8), undecodable bytes replaced; bytes
    that open with UTF-8's byte order mark are UTF-8, and the mark is dropped."""
    if body.startswith(codecs.BOM_UTF8):
        return body[len(codecs.BOM_UTF8) :].decode("utf-8", errors="replace")
    try:
        return body.decode(charset, errors="replace")
    except LookupError:
        return body.decode("utf-8", errors="replace")
