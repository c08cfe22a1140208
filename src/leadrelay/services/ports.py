"""The ports the services talk to. Implementations live in ``leadrelay.adapters``."""

from __future__ import annotations

from typing import Protocol

from leadrelay.domain.attempts import AttemptResult, LeadView
from leadrelay.domain.model import ChannelSpec


class Channel(Protocol):
    """Sends one lead to one partner through one transport; never raises for transport trouble."""

    async def send(self, lead: LeadView, spec: ChannelSpec) -> AttemptResult: ...

    async def close(self) -> None: ...
