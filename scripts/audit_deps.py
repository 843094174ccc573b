"""Known vulnerabilities in openbell's pinned dependencies: pip-audit over ``constraints.txt``.

pip-audit asks PyPI's JSON API (or OSV) about every pin. When it cannot reach that service it
reports each package as skipped and still says "No known vulnerabilities found", which would
read as a pass. This script runs it with JSON output and judges the answer itself:

* a known vulnerability in any pin fails (exit 1), naming the package, the advisory and the
  versions that fix it;
* a pin that could not be checked is said plainly ("NOT AUDITED"). ``make check`` runs without
  ``--strict``, so an offline machine still builds, with that warning in its output;
  ``make audit`` runs with ``--strict``, where a pin not checked fails too.

    .venv/bin/python scripts/audit_deps.py [--strict] [--constraints constraints.txt]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RUN_LIMIT_S = 180  # the whole pip-audit run; each request has its own 15 s socket timeout


@dataclass
class Verdict:
    checked: list[str] = field(default_factory=list)
    vulnerable: list[str] = field(default_factory=list)
    not_checked: list[str] = field(default_factory=list)

    def exit_code(self, *, strict: bool) -> int:
        if self.vulnerable or (strict and self.not_checked):
            return 1
        return 0

    def lines(self, *, strict: bool) -> list[str]:
        total = len(self.checked) + len(self.not_checked)
        out = [f"pip-audit: {len(self.checked)} of {total} pinned packages checked"]
        out += [f"VULNERABLE: {line}" for line in self.vulnerable]
        if self.not_checked:
            label = "FAILED, NOT AUDITED" if strict else "WARNING, NOT AUDITED"
            out.append(f"{label}: {len(self.not_checked)} packages could not be checked")
            out += [f"  {line}" for line in self.not_checked[:5]]
            if len(self.not_checked) > 5:
                out.append(f"  … and {len(self.not_checked) - 5} more")
        if not self.vulnerable and not self.not_checked:
            out.append("no known vulnerabilities")
        return out


def judge(report: object) -> Verdict:
    """Sort pip-audit's JSON report into checked, vulnerable and not-checked pins. A report of
    another shape raises ValueError saying what was expected and what was found."""
    if not isinstance(report, dict) or not isinstance(report.get("dependencies"), list):
        raise ValueError(
            "expected pip-audit's JSON report (an object with a 'dependencies' list), "
            f"found {type(report).__name__}"
        )
    verdict = Verdict()
    for entry in report["dependencies"]:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise ValueError(f"expected a dependency with a 'name', found {entry!r:.120}")
        name = f"{entry['name']} {entry.get('version', '?')}"
        if "skip_reason" in entry:
            verdict.not_checked.append(f"{entry['name']}: {entry['skip_reason']}")
            continue
        verdict.checked.append(name)
        for vuln in entry.get("vulns") or []:
            verdict.vulnerable.append(_describe(name, vuln))
    return verdict


def _describe(name: str, vuln: Any) -> str:
    if not isinstance(vuln, dict):
        return f"{name}: an advisory pip-audit could not describe ({vuln!r:.80})"
    fixes = ", ".join(str(v) for v in vuln.get("fix_versions") or []) or "no fixed version yet"
    aliases = ", ".join(str(a) for a in vuln.get("aliases") or [])
    advisory = f"{vuln.get('id', '?')}" + (f" ({aliases})" if aliases else "")
    return f"{name}: {advisory}; fixed in {fixes}"


def run_pip_audit(constraints: Path) -> Verdict:
    """pip-audit over every pin of ``constraints``, without resolving or installing anything.
    When pip-audit gives no usable report, every pin counts as not checked, with the reason."""
    pins = [
        line.strip()
        for line in constraints.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    with tempfile.TemporaryDirectory(prefix="openbell-audit-") as work:
        requirements = Path(work) / "requirements.txt"
        requirements.write_text("\n".join(pins) + "\n", encoding="utf-8")
        report_path = Path(work) / "report.json"
        command = [
            sys.executable,
            "-m",
            "pip_audit",
            "--no-deps",
            "--disable-pip",
            "--progress-spinner",
            "off",
            "--format",
            "json",
            "--output",
            str(report_path),
            "-r",
            str(requirements),
        ]
        try:
            done = subprocess.run(  # noqa: S603 (our own interpreter, fixed arguments)
                command, capture_output=True, text=True, timeout=RUN_LIMIT_S, check=False
            )
        except subprocess.TimeoutExpired:
            return _none_checked(pins, f"pip-audit did not finish in {RUN_LIMIT_S} s")
        try:
            return judge(json.loads(report_path.read_text(encoding="utf-8")))
        except (OSError, ValueError) as error:
            said = (done.stderr.strip().splitlines() or ["no output"])[-1]
            return _none_checked(
                pins, f"pip-audit exited {done.returncode} without a report ({error}): {said}"
            )


def _none_checked(pins: list[str], reason: str) -> Verdict:
    return Verdict(not_checked=[f"{pin}: {reason}" for pin in pins])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--strict", action="store_true", help="a pin not checked fails too")
    parser.add_argument("--constraints", type=Path, default=ROOT / "constraints.txt")
    args = parser.parse_args(argv)
    if not args.constraints.is_file():
        print(f"audit: expected the pins file at {args.constraints}, found nothing there")
        return 2
    verdict = run_pip_audit(args.constraints)
    for line in verdict.lines(strict=args.strict):
        print(line)
    return verdict.exit_code(strict=args.strict)


if __name__ == "__main__":
    sys.exit(main())
