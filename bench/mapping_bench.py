"""A partner mapping's rendering, per lead: the direct read of `{{ lead.x | filter }}` values against Jinja.

Compiles one mapping of six values (five lead fields, one through a filter) twice, with and without the
direct read (``templating.sandbox._direct``), renders it for the same lead N times each, alternating, and
prints the CPU µs per rendering. Both give the same values (``tests/unit/test_mapping_direct.py``).

    python bench/mapping_bench.py [--renders 20000] [--rounds 2]
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from leadrelay.templating import mapping as mappings
from leadrelay.templating.sandbox import compile_template

DOCUMENT = {
    "fname": "{{ lead.first_name }}",
    "lname": "{{ lead.last_name }}",
    "email": "{{ lead.email }}",
    "phone": "{{ lead.phone | digits }}",
    "zip": "{{ lead.zip }}",
    "amount": "{{ lead.loan_amount }}",
}
LEAD = {
    "first_name": "Ann",
    "last_name": "Lee",
    "email": "ann@example.com",
    "phone": "+15125550100",
    "zip": "78701",
    "loan_amount": 25000,
}


def compiled(direct: bool) -> mappings.CompiledMapping:
    def compile_with(source: str, fields: Any) -> Any:
        return compile_template(source, fields, direct=direct)

    original = mappings.compile_template
    mappings.compile_template = compile_with  # type: ignore[assignment]
    try:
        result, problems = mappings.compile_mapping(DOCUMENT, "mapping", None)
    finally:
        mappings.compile_template = original
    assert result is not None, problems
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--renders", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    ways = {"through Jinja": compiled(False), "direct read": compiled(True)}
    first = [m.render(LEAD, meta={"lead_id": "L1"}) for m in ways.values()]
    assert first[0] == first[1], first
    print(f"a {len(DOCUMENT)}-value mapping, CPU µs per rendering ({args.renders:,} renderings per measure)")
    for n in range(1, args.rounds + 1):
        for name, m in ways.items():
            start = time.process_time()
            for _ in range(args.renders):
                m.render(LEAD, meta={"lead_id": "L1"})
            spent = (time.process_time() - start) / args.renders * 1e6
            print(f"  round {n}: {name:14s} {spent:6.1f} µs")


if __name__ == "__main__":
    main()
