"""``leadrelay check-response`` through the real CLI app, on rules and bodies written to real files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from leadrelay.entrypoints.cli import app

runner = CliRunner()


def write(path: Path, content: str | bytes) -> Path:
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


def invoke(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["check-response", *args])
    return result.exit_code, result.stdout, result.stderr


def rows(stdout: str) -> dict[str, str]:
    return {
        name: value.strip()
        for name, value in (line.split(None, 1) for line in stdout.splitlines() if line.strip())
    }


def test_json_answer_with_yaml_rules(tmp_path: Path) -> None:
    rules = write(
        tmp_path / "rules.yaml",
        "outcome_search_term: accepted\noutcome_search_path: status\nreason_path: errors.*.message\n"
        "price_path: bid\nreference_path: lead.id\n",
    )
    body = write(
        tmp_path / "answer.json",
        json.dumps(
            {
                "status": "rejected",
                "errors": [{"message": "[dup] seen"}, {"message": "bad zip"}],
                "bid": "$1.50",
                "lead": {"id": "L-1"},
            }
        ),
    )
    code, stdout, stderr = invoke(
        "--rules",
        str(rules),
        "--status",
        "409",
        "--header",
        "content-type: application/json",
        "--body-file",
        str(body),
    )
    assert (code, stderr) == (0, "")
    assert rows(stdout) == {
        "outcome": "failure",
        "reason": "[dup] seen, bad zip",
        "price": "1.5",
        "reference": "L-1",
    }


def test_xml_answer_with_json_rules_and_fallback_price(tmp_path: Path) -> None:
    rules = write(
        tmp_path / "rules.json",
        json.dumps(
            {
                "outcome_search_term": "/^OK$/i",
                "outcome_search_path": "/r/s/text()",
                "fallback_price": 2,
                "price_path": "/r/p",
            }
        ),
    )
    body = write(
        tmp_path / "answer.xml", b'<?xml version="1.0" encoding="ISO-8859-1"?><r><s>ok</s><p>n/a</p></r>'
    )
    code, stdout, _ = invoke(
        "--rules", str(rules), "--header", "Content-Type: text/xml", "--body-file", str(body)
    )
    assert code == 0
    assert rows(stdout) == {"outcome": "success", "reason": "-", "price": "2", "reference": "-"}


def test_server_error_and_empty_rules(tmp_path: Path) -> None:
    rules = write(tmp_path / "rules.yaml", "")
    body = write(tmp_path / "answer.txt", "down")
    code, stdout, _ = invoke("--rules", str(rules), "--status", "503", "--body-file", str(body))
    assert code == 0
    assert rows(stdout)["outcome"] == "error" and rows(stdout)["reason"] == "Server error"


@pytest.mark.parametrize(
    ("rules_name", "rules_text", "extra", "message"),
    [
        (
            "r.yaml",
            "reason_pth: msg\n",
            [],
            "unknown response option 'reason_pth' (did you mean 'reason_path'?)",
        ),
        ("r.yaml", "outcome_search_term: '/[/'\n", [], "outcome_search_term '/[/' is not a valid regex"),
        ("r.yaml", "outcome_on_match: maybe\n", [], "outcome_on_match must be success, failure or error"),
        ("r.yaml", "fallback_price: lots\n", [], "fallback_price 'lots' is not a number"),
        ("r.yaml", "- a list\n", [], "must hold a mapping of option names to values"),
        ("r.yaml", "a: [unclosed\n", [], "is not valid YAML"),
        ("r.json", "{not json", [], "is not valid JSON"),
        ("r.yaml", "{}", ["--header", "no colon here"], "--header 'no colon here' is not 'Name: value'"),
    ],
)
def test_bad_input_is_one_error_line_and_exit_1(
    tmp_path: Path, rules_name: str, rules_text: str, extra: list[str], message: str
) -> None:
    rules = write(tmp_path / rules_name, rules_text)
    body = write(tmp_path / "answer.txt", "ok")
    code, stdout, stderr = invoke("--rules", str(rules), "--body-file", str(body), *extra)
    assert code == 1
    assert stdout == ""
    assert stderr.startswith("error: ")
    assert message in " ".join(stderr.split())  # long paths may wrap


def test_unreadable_files_are_errors(tmp_path: Path) -> None:
    body = write(tmp_path / "answer.txt", "ok")
    code, _, stderr = invoke("--rules", str(tmp_path / "missing.yaml"), "--body-file", str(body))
    assert code == 1 and "cannot read the rules file" in stderr and "missing.yaml" in stderr
    rules = write(tmp_path / "rules.yaml", "{}")
    code, _, stderr = invoke("--rules", str(rules), "--body-file", str(tmp_path / "gone.txt"))
    assert code == 1 and "cannot read the body file" in stderr and "gone.txt" in stderr
