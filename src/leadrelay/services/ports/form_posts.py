"""The hosted form's post counts (``services.hosted_form``): one count per source, client address and
window, shared by every process on the database."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol


class FormPosts(Protocol):
    def count_post(self, source: str, client: str, window_start: datetime, limit: int) -> bool:
        """One more post of ``client`` to ``source`` in the window starting at ``window_start``, counted
        only while the window holds fewer than ``limit``: True when counted, False when the window was
        full (nothing changed). Atomic against every other process counting the same key."""
        ...

    def forget_windows(self, before: datetime, *, limit: int) -> int:
        """At most ``limit`` counts of windows starting before ``before`` go; how many went."""
        ...
