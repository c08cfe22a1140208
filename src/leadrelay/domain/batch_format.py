"""A batch's file as it was cut: the format, columns and fields it is rendered with, kept with the batch.

A batch is rendered from its stored leads each time it is sent, redelivered or downloaded. Rendering it
with its channel's options *now* would send a batch cut as CSV as XLSX bytes under its ``.csv`` name after
the partner moved to XLSX, and the download of last week's batch would not be the file the buyer got. So
the options are fixed when the batch is cut, like its file name, and stored as a plain record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from leadrelay.domain.files import FileFormat, batch_columns
from leadrelay.domain.model import FileChannel

__all__ = ["CutFormat", "as_cut"]


@dataclass(frozen=True, slots=True)
class CutFormat:
    """How a batch's file is written: its format (with its columns, when they could be fixed) and the lead
    fields it takes (None: every field)."""

    format: FileFormat
    fields: tuple[str, ...] | None

    @classmethod
    def of(cls, spec: FileChannel, entities: Iterable[Iterable[str]] | None = None) -> CutFormat:
        """The channel's options now; with ``entities`` (each entity's field names), the columns are
        fixed too (``batch_columns``), else they are resolved when the file is rendered."""
        fmt = spec.format
        if entities is not None:
            fmt = replace(fmt, columns=batch_columns(fmt, spec.fields, entities))
        return cls(fmt, spec.fields)

    def columns(self, entities: Iterable[Iterable[str]]) -> tuple[str, ...]:
        return batch_columns(self.format, self.fields, entities)

    def record(self) -> dict[str, Any]:
        """The stored form (JSON)."""
        fmt = self.format
        return {
            "kind": fmt.kind,
            "delimiter": fmt.delimiter,
            "quoting": fmt.quoting,
            "header": fmt.header,
            "line_ending": fmt.line_ending,
            "columns": list(fmt.columns) if fmt.columns is not None else None,
            "bold_header": fmt.bold_header,
            "formula_guard": fmt.formula_guard,
            "fields": list(self.fields) if self.fields is not None else None,
        }

    @classmethod
    def from_record(cls, doc: Mapping[str, Any]) -> CutFormat:
        columns: Sequence[str] | None = doc.get("columns")
        fields: Sequence[str] | None = doc.get("fields")
        fmt = FileFormat(
            kind=doc["kind"],
            delimiter=doc["delimiter"],
            quoting=doc["quoting"],
            header=doc["header"],
            line_ending=doc["line_ending"],
            columns=tuple(columns) if columns is not None else None,
            bold_header=doc["bold_header"],
            formula_guard=doc.get("formula_guard", True),  # cut before it was stored: the default
        )
        return cls(fmt, tuple(fields) if fields is not None else None)


def as_cut(stored: Mapping[str, Any] | None, spec: FileChannel) -> CutFormat:
    """The options a batch is rendered with: those stored when it was cut, else (a batch cut before they
    were stored) its channel's now."""
    return CutFormat.from_record(stored) if stored is not None else CutFormat.of(spec)
