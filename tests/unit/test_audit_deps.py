"""The dependency audit's judgement of pip-audit's report (``scripts/audit_deps.py``)."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest
from script_modules import load_script


@pytest.fixture(scope="module")
def audit() -> ModuleType:
    return load_script("scripts/audit_deps.py", "audit_deps")


CLEAN = {"name": "httpx", "version": "0.28.1", "vulns": []}
VULNERABLE = {
    "name": "jinja2",
    "version": "3.1.2",
    "vulns": [{"id": "PYSEC-0000-1", "fix_versions": ["3.1.3"], "aliases": ["CVE-0000-1"]}],
}
OFFLINE = {"name": "anyio", "skip_reason": "Dependency not found on PyPI and could not be audited"}


def test_a_clean_report_passes_and_says_how_many_were_checked(audit: ModuleType) -> None:
    verdict = audit.judge({"dependencies": [CLEAN], "fixes": []})
    assert verdict.exit_code(strict=True) == 0
    assert verdict.lines(strict=True) == [
        "pip-audit: 1 of 1 pinned packages checked",
        "no known vulnerabilities",
    ]


def test_a_known_vulnerability_fails_with_its_advisory_and_fix(audit: ModuleType) -> None:
    verdict = audit.judge({"dependencies": [CLEAN, VULNERABLE]})
    assert verdict.exit_code(strict=False) == 1
    assert verdict.vulnerable == ["jinja2 3.1.2: PYSEC-0000-1 (CVE-0000-1); fixed in 3.1.3"]


def test_packages_not_checked_warn_in_check_and_fail_when_strict(audit: ModuleType) -> None:
    verdict = audit.judge({"dependencies": [CLEAN, OFFLINE]})
    assert verdict.exit_code(strict=False) == 0
    assert verdict.exit_code(strict=True) == 1
    lines = verdict.lines(strict=False)
    assert lines[0] == "pip-audit: 1 of 2 pinned packages checked"
    assert lines[1] == "WARNING, NOT AUDITED: 1 packages could not be checked"
    assert "no known vulnerabilities" not in lines  # an offline run never reads as a pass


@pytest.mark.parametrize(
    "report",
    [
        None,
        [],
        {"dependencies": "all"},
        {"dependencies": [{"version": "1"}]},
        {"dependencies": [3]},
    ],
)
def test_a_report_of_another_shape_is_refused(audit: ModuleType, report: object) -> None:
    with pytest.raises(ValueError, match="expected"):
        audit.judge(report)


def test_a_missing_pins_file_is_refused_before_anything_runs(
    audit: ModuleType, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit.main(["--constraints", str(tmp_path / "nope.txt")]) == 2
    assert "expected the pins file" in capsys.readouterr().out
