"""``hfaction policies validate``: a user's policy file read, checked against everything
deploying and rendering need, linted, and reported.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hfaction.errors import PolicyFileInvalid
from hfaction.policies.evaluate import Verdict, evaluate, over_broad, parse_statements
from hfaction.policies.lint import LintFinding, lint_policy
from hfaction.policies.required import StackScope, check_scope, required


def load_policy_file(path: Path) -> tuple[str, Any]:
    """The file's text and JSON; a malformed file is a one-line error with its position."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise PolicyFileInvalid(f"{path}: no such file",
                                hint="write one with 'hfaction policies user > FILE'") from None
    except (OSError, UnicodeDecodeError) as error:
        raise PolicyFileInvalid(f"{path}: cannot read it: {error}") from None
    try:
        return text, json.loads(text)
    except json.JSONDecodeError as error:
        raise PolicyFileInvalid(f"{path}:{error.lineno}:{error.colno}: malformed JSON: "
                                f"{error.msg}", hint="fix the JSON; an IAM policy is one "
                                "JSON object") from None


def identity_document(document: Any) -> Any:
    """The permissions policy of a file: a policy, or 'hfaction policies role' output."""
    if isinstance(document, dict) and "permissions_policy" in document:
        return document["permissions_policy"]  # its trust policy is not linted or checked
    return document


@dataclass
class Report:
    source: str
    scope: StackScope
    verdicts: list[Verdict]
    over_broad: list[str]
    lint: list[LintFinding]
    part: str = "all"

    @property
    def missing(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if verdict.status in ("missing", "denied")]

    @property
    def conditional(self) -> list[Verdict]:
        return [verdict for verdict in self.verdicts if verdict.status == "conditional"]

    @property
    def ok(self) -> bool:
        return not self.missing

    @property
    def exit_code(self) -> int:
        return 0 if self.ok else 1

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": self.source, "ok": self.ok, "part": self.part,
            "stack_name": self.scope.stack_name,
            "region": self.scope.region, "account": self.scope.account,
            "required": len(self.verdicts),
            "missing": [verdict.to_dict() for verdict in self.missing],
            "conditional": [verdict.to_dict() for verdict in self.conditional],
            "notes": [verdict.to_dict() for verdict in self.verdicts
                      if verdict.notes and verdict.status == "allowed"],
            "over_broad": self.over_broad,
            "lint": [finding.to_dict() for finding in self.lint],
        }


def validate_document(document: Any, scope: StackScope, *, source: str = "policy",
                      lint: bool = True, part: str = "all") -> Report:
    """Check an identity policy against everything deploying and rendering need (or one
    part of it)."""
    needs = required(scope, part)
    document = identity_document(document)
    statements = parse_statements(document, source)
    return Report(source=source, scope=scope, part=part,
                  verdicts=evaluate(statements, needs, scope),
                  over_broad=over_broad(statements, needs, scope),
                  lint=lint_policy(document, [need.action for need in needs]) if lint else [])


def validate_file(path: Path, scope: StackScope, part: str = "all") -> Report:
    """``hfaction policies validate FILE``."""
    check_scope(scope)
    required(scope, part)  # a bad --part is refused before the file is read
    _, document = load_policy_file(path)
    return validate_document(document, scope, source=str(path), part=part)


def format_report(report: Report) -> str:
    """The human report."""
    scope = report.scope
    what = {"all": "deploy and render", "deploy": "deploy", "render": "render",
            "pull-request": "render pull-request previews on"}[report.part]
    lines = [f"{report.source}: {len(report.verdicts)} actions required to {what} "
             f"stack {scope.stack_name} (region {scope.region or 'any'}, account "
             f"{scope.account or 'any'})"]
    unknown = [option for option, value in (("--region", scope.region),
                                            ("--account", scope.account)) if value is None]
    if unknown:
        lines.append(f"  (no {' or '.join(unknown)}: any the policy names is accepted)")

    def section(title: str, items: list[str]) -> None:
        if items:
            lines.append(f"{title} ({len(items)}):")
            lines.extend(f"  {item}" for item in items)

    by_resources: dict[tuple[str, ...], list[Verdict]] = {}
    for verdict in report.missing:
        by_resources.setdefault(tuple(verdict.resources), []).append(verdict)
    if report.missing:
        lines.append(f"missing ({len(report.missing)}):")
        for arns, verdicts in by_resources.items():
            lines.append(f"  on {', '.join(arns)}:")
            lines.extend(f"    {v.action} [{v.group}: {v.why}]"
                         + (f" - {'; '.join(v.notes)}" if v.notes else "") for v in verdicts)
    section("conditions not evaluated", [f"{v.action}: {'; '.join(v.notes)}"
                                         for v in report.conditional])
    section("notes", [f"{v.action}: {'; '.join(v.notes)}" for v in report.verdicts
                      if v.notes and v.status == "allowed"])
    section("over-broad", report.over_broad)
    section("lint (parliament)", [f"{f.severity} {f.issue}: {f.title} {f.detail}".rstrip()
                                  for f in report.lint])
    warnings = len(report.conditional) + len(report.over_broad) + len(report.lint)
    if report.ok:
        lines.append(f"OK: every required action is allowed ({warnings} warning"
                     f"{'' if warnings == 1 else 's'})")
    else:
        lines.append(f"FAIL: {len(report.missing)} required action"
                     f"{'' if len(report.missing) == 1 else 's'} not allowed")
    return "\n".join(lines)
