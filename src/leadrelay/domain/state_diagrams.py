"""The state machines of ``leadrelay.domain.states`` (``MACHINES``: those of a lead's distribution and
those of ``domain.after_sale_states``) drawn as Mermaid diagrams, every transition labelled.

``python -m leadrelay.domain.state_diagrams`` prints the diagram blocks of ``docs/states.md``; a unit test
(``tests/unit/test_states.py``) fails when the document and the tables differ.

Pure: standard library only.
"""

from __future__ import annotations

from leadrelay.domain.state_machine import Machine, S
from leadrelay.domain.states import MACHINES


def mermaid(machine: Machine[S]) -> str:
    """The machine as a Mermaid ``stateDiagram-v2``, every transition labelled (docs/states.md)."""
    lines = ["stateDiagram-v2", "    direction LR"]
    for state, how in machine.initial.items():
        lines.append(f"    [*] --> {state.value} : {how}")
    if machine.mesh:
        lines.append('    state "derived" as derived {')
        lines.extend(f"        {s.value}" for s in machine.states if s in machine.mesh)
        lines.append("    }")
        lines.append(f"    derived --> derived : {machine.mesh_label}")
    for src, dst, label in machine.edges:
        assert ":" not in label, label  # Mermaid ends a label at a colon
        lines.append(f"    {src.value} --> {dst.value} : {label}")
    for state in machine.states:
        if not machine.transitions[state]:
            lines.append(f"    {state.value} --> [*]")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":  # the diagram blocks of docs/states.md
    for _machine in MACHINES:
        print(f"## {_machine.name}\n\n```mermaid\n{mermaid(_machine)}```\n")
