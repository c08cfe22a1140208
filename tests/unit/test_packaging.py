"""pyproject.toml in the form current setuptools reads without a deprecation wall (issue 9)."""

from __future__ import annotations

import re
import tomllib

from tests.support import ROOT


def test_the_license_is_an_spdx_expression_and_setuptools_can_read_it() -> None:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert doc["project"]["license"] == "Apache-2.0"  # PEP 639, not the deprecated {text = …} table
    assert not any(c.startswith("License ::") for c in doc["project"].get("classifiers", []))
    [setuptools] = [r for r in doc["build-system"]["requires"] if r.startswith("setuptools")]
    match = re.fullmatch(r"setuptools>=(\d+)(?:\.\d+)*", setuptools)
    assert match and int(match[1]) >= 77  # the first setuptools that reads license expressions
