"""parliament's lint of an identity policy, less the findings that are parliament's own
gaps (actions newer than its database, ARN formats this stack never uses).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from hfaction.policies.required import SAM_TRANSFORM


@dataclass(frozen=True)
class LintFinding:
    issue: str
    severity: str
    title: str
    detail: str

    def to_dict(self) -> dict[str, str]:
        return {"issue": self.issue, "severity": self.severity, "title": self.title,
                "detail": self.detail}


def lint_policy(document: Any, known_actions: Iterable[str] = ()) -> list[LintFinding]:
    """parliament's findings on an identity policy (never a trust policy: it reports false
    positives there). ``known_actions`` exist although parliament's action database, older
    than the resource schemas that list them, does not know them: no UNKNOWN_ACTION for
    those."""
    known = {action.lower() for action in known_actions}
    import parliament
    from parliament.cli import is_finding_filtered

    policy = parliament.analyze_policy_string(json.dumps(document))
    findings = []
    for finding in policy.findings:
        parliament.enhance_finding(finding)
        if is_finding_filtered(finding):
            continue
        if finding.issue == "UNKNOWN_ACTION" and \
                str(finding.detail).rsplit(" ", 1)[-1].lower() in known:
            continue
        detail = finding.detail
        if finding.issue == "RESOURCE_MISMATCH" and isinstance(detail, list):
            # parliament's database wants Step Functions' express execution ARNs as well as
            # standard ones for DescribeExecution; a standard state machine has none. And it
            # reads ListExecutions' two resource types (a map run, or a state machine:
            # whichever ARN the call names) as both required; hfaction lists only a map
            # run's executions (mapRunArn).
            detail = [item for item in detail if not (isinstance(item, dict) and (
                ":express:" in str(item.get("required_format")) or (
                    str(item.get("action")).lower() == "states:listexecutions"
                    and ":stateMachine:" in str(item.get("required_format")))))]
            if not detail:
                continue
        location = finding.location if isinstance(finding.location, dict) else {}
        if finding.issue == "INVALID_ARN" and \
                f":aws:transform/{SAM_TRANSFORM}" in str(location.get("string", "")):
            continue  # AWS's own ARN: its account field is "aws", as documented
        findings.append(LintFinding(issue=str(finding.issue), severity=str(finding.severity),
                                    title=str(finding.title),
                                    detail=" ".join(str(detail).split())))
    return sorted(findings, key=lambda item: (item.issue, item.detail))
