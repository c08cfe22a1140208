"""The README's YAML examples that write a `${VAR}` reference inside a flow mapping (`{…}`) load: the
reference is quoted there (unquoted, its braces are flow indicators and the example is invalid YAML)."""

from __future__ import annotations

import re
from pathlib import Path

from leadrelay.configuration.load import load_yaml_text
from leadrelay.errors import ConfigError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_examples_with_env_references_in_flow_mappings_load() -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    # the blocks that write a ${VAR} reference inside a flow mapping on a line that is not a comment
    with_refs = [
        block
        for block in blocks
        if any(
            re.search(r"\{[^#]*\$\{", line)
            for line in block.splitlines()
            if not line.lstrip().startswith("#")
        )
    ]
    assert len(with_refs) >= 3
    failures = []
    for block in with_refs:
        try:
            load_yaml_text(block)
        except ConfigError as exc:
            failures.append(f"{block.strip().splitlines()[0]} …: {exc.problems[0].message}")
    assert failures == []
