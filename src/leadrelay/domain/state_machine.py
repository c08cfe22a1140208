"""The shape of a state machine (``domain.states`` and ``domain.after_sale_states`` hold the machines
themselves): the states of one column, where a row may start, and the labelled moves between states, with
the checks writers make.

Pure: standard library only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from leadrelay.errors import InvalidTransition

__all__ = ["Machine", "S"]

S = TypeVar("S", bound=StrEnum)
"""A state column's enum."""


@dataclass(frozen=True, slots=True)
class Machine(Generic[S]):
    """The states of one column: where a row may start, and the labelled moves between states.

    ``mesh``: states derived from other facts, which may follow one another freely (a lead's status,
    recomputed from its jobs); drawn as one box.
    """

    name: str
    states: type[S]
    initial: Mapping[S, str]  # state -> how a row is created in it
    edges: tuple[tuple[S, S, str], ...]  # (from, to, label)
    mesh: frozenset[S] = frozenset()
    mesh_label: str = ""
    transitions: Mapping[S, frozenset[S]] = field(init=False)

    def __post_init__(self) -> None:
        table: dict[S, set[S]] = {state: set() for state in self.states}
        for src, dst, _ in self.edges:
            table[src].add(dst)
        for src in self.mesh:
            table[src] |= self.mesh - {src}
        object.__setattr__(self, "transitions", {s: frozenset(n) for s, n in table.items()})

    def allowed(self, src: S | str, dst: S | str) -> bool:
        # the states are StrEnums: a stored value (str) hashes and compares equal to its member, so the
        # table answers for both without converting (which costs more than the lookup)
        nexts = self.transitions.get(src)  # type: ignore[arg-type]
        return nexts is not None and dst in nexts

    def check(self, src: S | str, dst: S) -> S:
        """``dst`` when a row in ``src`` may move there; else :class:`InvalidTransition`."""
        if not self.allowed(src, dst):
            raise InvalidTransition(f"{self.name} cannot go from {src!s} to {dst!s}")
        return dst

    def check_initial(self, state: S | str) -> S:
        """``state`` when a row may be created in it; else :class:`InvalidTransition`."""
        try:
            got = self.states(state)
        except ValueError:
            got = None
        if got is None or got not in self.initial:
            raise InvalidTransition(f"a {self.name} cannot start in {state!s}")
        return got

    def sources(self, dst: S) -> frozenset[S]:
        """Every state from which ``dst`` may be reached (for a bulk UPDATE's WHERE clause)."""
        return frozenset(s for s, nexts in self.transitions.items() if dst in nexts)

    def terminal(self) -> frozenset[S]:
        return frozenset(s for s, nexts in self.transitions.items() if not nexts)
