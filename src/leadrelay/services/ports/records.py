"""What the repositories hand back: stored rows and the stored configuration."""

from __future__ import annotations

from typing import Any

Record = Any
"""A stored row as a repository returns it: its columns are attributes (``row.status``)."""

Objects = dict[str, dict[str, dict[str, Any]]]
"""The stored configuration: kind → name → document."""
