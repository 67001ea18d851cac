"""Evaluating a policy as IAM would: its statements parsed and checked for shape, one
verdict per required action (an explicit Deny wins, else an Allow, else the implicit
deny), and what its Allows grant beyond what hfaction needs.

Conditions are evaluated against a request context when one is given (the condition keys
the request carries, see :func:`condition_holds`); a condition on a key the context does
not know is reported, not assumed to hold.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from hfaction.errors import PolicyFileInvalid
from hfaction.policies.iam import (
    _instances,
    _matches,
    action_matches,
    resource_covers,
    resource_overlaps,
)
from hfaction.policies.required import (
    BOUNDARY_REMOVING_ACTIONS,
    ESCALATING_ACTIONS,
    Need,
    StackScope,
    _printed,
)

# A request context: condition key -> its value in the request, None for a key the request
# does not carry. Keys not in it are unknown: conditions on them are not evaluated.
Context = Mapping[str, str | None]


@dataclass(frozen=True)
class Statement:
    index: int  # 1-based, as people count
    sid: str
    effect: str
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: dict[str, Any] | None

    @property
    def where(self) -> str:
        return f"statement {self.index}" + (f" ({self.sid})" if self.sid else "")

    def applies_to_action(self, action: str) -> bool:
        matched = any(action_matches(pattern, action) for pattern in self.actions)
        return matched != self.not_action

    def reach(self, needed: str) -> str:
        """'all', 'part' or 'none' of the needed resources."""
        if self.not_resource:
            if any(resource_covers(pattern, needed) for pattern in self.resources):
                return "none"
            if any(resource_overlaps(pattern, needed) for pattern in self.resources):
                return "part"
            return "all"
        if any(resource_covers(pattern, needed) for pattern in self.resources):
            return "all"
        if any(resource_overlaps(pattern, needed) for pattern in self.resources):
            return "part"
        return "none"


def _equals(expected: str, value: str) -> bool:
    # An unknown account or region in the value stands for whatever the policy names.
    return any(instance == expected for instance in _instances(value, expected))


def _like(expected: str, value: str) -> bool:
    return any(_matches(expected, instance) for instance in _instances(value, expected))


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": _equals, "StringLike": _like, "ArnEquals": _like, "ArnLike": _like,
    "StringEqualsIgnoreCase": lambda expected, value: _equals(expected.lower(), value.lower()),
    "Bool": lambda expected, value: expected.lower() == value.lower(),
}
_NEGATED = {"StringNotEquals": "StringEquals", "StringNotLike": "StringLike",
            "ArnNotEquals": "ArnEquals", "ArnNotLike": "ArnLike",
            "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase"}


def condition_holds(condition: dict[str, Any] | None, context: Context | None) -> bool | None:
    """Whether a statement's Condition holds for a request (IAM's rules: every operator
    and every key must hold, any of a key's values matches; a key the request lacks fails
    a positive operator and passes a negated one or ``...IfExists``). None when it tests
    a key the context does not know, or an operator this does not evaluate."""
    if not condition:
        return True
    known = {key.lower(): value for key, value in (context or {}).items()}
    results: list[bool] = []
    for operator, block in condition.items():
        name = operator.removesuffix("IfExists")
        negated = name in _NEGATED
        positive = _NEGATED.get(name, name)
        if ":" in operator or not isinstance(block, dict) or \
                (positive not in _OPERATORS and name != "Null"):
            return None  # ForAnyValue:/ForAllValues:, numeric, date, IP: not evaluated
        for key, expected in block.items():
            if str(key).lower() not in known:
                return None
            value = known[str(key).lower()]
            values = [str(item).lower() if isinstance(item, bool) else str(item)
                      for item in (expected if isinstance(expected, list) else [expected])]
            if name == "Null":
                results.append((value is None) == (values[0].lower() == "true"))
            elif value is None:
                results.append(negated or operator.endswith("IfExists"))
            else:
                matched = any(_OPERATORS[positive](item, value) for item in values)
                results.append(matched != negated)
    return all(results)


def _strings(value: Any, what: str, where: str, source: str) -> tuple[str, ...]:
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not values or \
            not all(isinstance(item, str) for item in values):
        raise PolicyFileInvalid(f"{source}: {where}: {what} must be a string or a non-empty "
                                "list of strings")
    return tuple(values)


def parse_statements(document: Any, source: str) -> list[Statement]:
    """The statements of an identity policy, checked for the shape IAM accepts."""
    if not isinstance(document, dict) or "Statement" not in document:
        raise PolicyFileInvalid(f"{source}: not an IAM policy: no top-level \"Statement\"",
                                hint="print one with 'hfaction policies user'")
    raw = document["Statement"]
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise PolicyFileInvalid(f"{source}: \"Statement\" must be an object or a non-empty "
                                "list")
    statements = []
    for index, item in enumerate(raw, 1):
        where = f"statement {index}"
        if not isinstance(item, dict):
            raise PolicyFileInvalid(f"{source}: {where} is not an object")
        sid = item.get("Sid", "")
        where += f" ({sid})" if isinstance(sid, str) and sid else ""
        effect = item.get("Effect")
        if effect not in ("Allow", "Deny"):
            raise PolicyFileInvalid(f"{source}: {where}: Effect must be \"Allow\" or \"Deny\"")
        if "Principal" in item or "NotPrincipal" in item:
            raise PolicyFileInvalid(f"{source}: {where} has a Principal: this is a trust or "
                                    "resource policy, not the identity policy",
                                    hint="check the role's permissions policy")
        if ("Action" in item) == ("NotAction" in item):
            raise PolicyFileInvalid(f"{source}: {where} needs exactly one of Action and "
                                    "NotAction")
        if ("Resource" in item) == ("NotResource" in item):
            raise PolicyFileInvalid(f"{source}: {where} needs exactly one of Resource and "
                                    "NotResource")
        action_key = "Action" if "Action" in item else "NotAction"
        resource_key = "Resource" if "Resource" in item else "NotResource"
        condition = item.get("Condition")
        if condition is not None and not isinstance(condition, dict):
            raise PolicyFileInvalid(f"{source}: {where}: Condition must be an object")
        statements.append(Statement(
            index=index, sid=sid if isinstance(sid, str) else "", effect=str(effect),
            actions=_strings(item[action_key], action_key, where, source),
            not_action=action_key == "NotAction",
            resources=_strings(item[resource_key], resource_key, where, source),
            not_resource=resource_key == "NotResource",
            condition=condition or None))
    return statements


@dataclass
class Verdict:
    """Whether one required action is allowed on the resources it needs."""

    action: str
    resources: list[str]
    group: str
    why: str
    status: str  # allowed | conditional | missing | denied
    allowed_by: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "resources": self.resources, "group": self.group,
                "why": self.why, "status": self.status, "allowed_by": self.allowed_by,
                "notes": self.notes}


_RANK = {"allowed": 0, "conditional": 1, "missing": 2, "denied": 3}


def decide(statements: Sequence[Statement], action: str, needed: str, *,
           any_part: bool = False, context: Context | None = None) -> Verdict:
    """IAM's decision for one action on one needed resource pattern: an explicit Deny wins,
    else an Allow, else the implicit deny. Conditions are evaluated on ``context`` (the
    request's condition keys, :func:`condition_holds`); one that cannot be (no context, or
    a key it lacks) makes an Allow "conditional", and a Deny reported, not applied.
    A Deny on part of the resources is reported, or (``any_part``: resources hfaction
    uses, see :meth:`StackScope.in_use`) denies the action."""
    verdict = Verdict(action, [needed], "", "", "missing")
    allows: list[Statement] = []
    unconditional: list[Statement] = []
    partial_allows: list[Statement] = []
    for statement in statements:
        if not statement.applies_to_action(action):
            continue
        reach = statement.reach(needed)
        if reach == "none":
            continue
        holds = condition_holds(statement.condition, context)
        if holds is False:
            continue  # its condition excludes this request
        if statement.effect == "Deny":
            if holds is None:
                verdict.notes.append(f"{statement.where} denies it under a Condition "
                                     "(not evaluated)")
            elif reach == "part" and not any_part:
                verdict.notes.append(f"{statement.where} denies it on part of "
                                     f"{_printed(needed)}")
            else:
                verdict.status = "denied"
                verdict.allowed_by = []
                verdict.notes.append(f"explicitly denied on {_printed(needed)} by "
                                     f"{statement.where}")
                return verdict
        elif reach == "all":
            allows.append(statement)
            if holds:
                unconditional.append(statement)
        else:
            partial_allows.append(statement)
    if unconditional:
        verdict.status = "allowed"
        verdict.allowed_by = [statement.where for statement in unconditional]
    elif allows:
        verdict.status = "conditional"
        verdict.allowed_by = [statement.where for statement in allows]
        verdict.notes.append("allowed only under a Condition (not evaluated)")
    else:
        verdict.notes += [f"{statement.where} allows it on part of {_printed(needed)} only"
                          for statement in partial_allows]
    return verdict


def evaluate(statements: Sequence[Statement], needs: Sequence[Need],
             scope: StackScope) -> list[Verdict]:
    """One verdict per required action (merged over its needs), the worst over its
    resources."""
    merged: dict[str, Need] = {}
    resources: dict[str, list[str]] = {}
    in_use: dict[str, list[str]] = {}
    for need in needs:
        merged.setdefault(need.action, need)
        if need.boundary:  # any of its needs names the boundary: CloudFormation's does
            merged[need.action] = need
        for arn in need.resources(scope):
            if arn not in resources.setdefault(need.action, []):
                resources[need.action].append(arn)
        for arn in need.in_use(scope):
            if arn not in in_use.setdefault(need.action, []):
                in_use[need.action].append(arn)
    verdicts = []
    for action, need in merged.items():
        context = need.context(scope)
        parts = [decide(statements, action, arn, context=context)
                 for arn in resources[action]]
        # A Deny on any part of what hfaction uses fails, whatever the Allows say.
        parts += [part for part in (decide(statements, action, arn, any_part=True,
                                           context=context)
                                    for arn in in_use.get(action, ()))
                  if part.status == "denied"]
        worst = max(parts, key=lambda part: _RANK[part.status])
        verdict = Verdict(action, [_printed(arn) for arn in resources[action]], need.group,
                          need.why, worst.status)
        verdict.allowed_by = sorted({where for part in parts for where in part.allowed_by})
        verdict.notes = sorted({note for part in parts for note in part.notes})
        if worst.status == "denied":  # the reason it fails; the rest would bury it
            verdict.notes = [note for note in verdict.notes
                             if note.startswith("explicitly denied")]
        if worst.status in ("missing", "conditional"):
            uncovered = [_printed(part.resources[0]) for part in parts
                         if part.status == worst.status]
            if len(uncovered) < len(parts):
                verdict.notes.append(f"not on {', '.join(uncovered)}")
        verdicts.append(verdict)
    return verdicts


def _condition_keys(condition: dict[str, Any] | None) -> set[str]:
    """The condition keys a Condition block tests, lowercased (IAM's keys are)."""
    keys: set[str] = set()
    for block in (condition or {}).values():
        if isinstance(block, dict):
            keys.update(str(key).lower() for key in block)
    return keys


def _only_wildcards(text: str) -> bool:
    return not text or set(text) <= {"*", "?"}


def _broad_arn(pattern: str) -> list[str]:
    """What an ARN pattern reaches beyond one account or one named resource: a wildcard
    account field (every account's resources), or a resource field whose name is only
    wildcards (``arn:aws:s3:::*``, ``role/*``, ``function:*``: every resource of its type)."""
    parts = pattern.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn":
        return []
    service, account, resource = parts[2], parts[4], parts[5]
    problems = []
    if account and _only_wildcards(account):
        problems.append(f"resource {pattern} names every account ({account!r}); put the "
                        "account id in (hfaction policies user --account ID)")
    if service == "s3":
        name = resource.split("/", 1)[0]  # the bucket
        what = "bucket"
    else:
        typed = re.match(r"^[A-Za-z][A-Za-z0-9-]*[/:](.*)$", resource)
        name = typed.group(1) if typed else resource
        what = resource[:len(resource) - len(name) - 1] if typed else "resource"
        if not _only_wildcards(name):  # its first segment: "/aws/lambda/x:*" -> "aws"
            name = re.split(r"[/:]", name.lstrip("/"), maxsplit=1)[0]
    if _only_wildcards(name):
        problems.append(f"resource {pattern} matches every {what} of {service}; name the "
                        "stack's own as 'hfaction policies user' prints")
    return problems


def over_broad(statements: Sequence[Statement], needs: Sequence[Need],
               scope: StackScope) -> list[str]:
    """What the policy's Allow statements grant beyond what hfaction needs."""
    findings: list[str] = []
    unscoped_actions = {need.action for need in needs if "any" in need.kinds}
    scoped = {need.action for need in needs} - unscoped_actions
    needed_actions = {need.action for need in needs}
    arns = [arn for need in needs for arn in need.resources(scope)]
    for statement in statements:
        if statement.effect != "Allow":
            continue
        where = statement.where
        if statement.not_action:
            findings.append(f"{where}: Allow with NotAction grants every action it does not "
                            "list; list the actions instead")
        for pattern in statement.actions if not statement.not_action else ():
            if pattern == "*":
                findings.append(f"{where}: Action \"*\" grants every action of every service")
            elif pattern.endswith(":*"):
                findings.append(f"{where}: Action \"{pattern}\" grants every "
                                f"{pattern[:-2]} action; list the ones needed")
            elif not any(action_matches(pattern, action) for action in needed_actions):
                findings.append(f"{where}: {pattern} is not needed by hfaction")
        granted = [action for action in sorted(needed_actions)
                   if statement.applies_to_action(action)]
        unscoped = statement.not_resource or "*" in statement.resources
        passes_roles = statement.applies_to_action("iam:PassRole")
        reaches_roles = statement.not_resource or any(
            resource_overlaps(pattern, scope.resource("roles")[0])
            for pattern in statement.resources)
        escalating = [action for action in ESCALATING_ACTIONS
                      if statement.applies_to_action(action)]
        if escalating and reaches_roles and \
                "iam:permissionsboundary" not in _condition_keys(statement.condition):
            findings.append(f"{where}: {', '.join(escalating)} without an "
                            "iam:PermissionsBoundary condition lets its holder make a role "
                            "that may do anything (privilege escalation); add Condition "
                            "ArnEquals iam:PermissionsBoundary "
                            f"{_printed(scope.boundary_arn())} as 'hfaction policies user' "
                            "prints, and create that policy with 'hfaction policies "
                            "boundary'")
        lifting = [action for action in BOUNDARY_REMOVING_ACTIONS
                   if statement.applies_to_action(action)]
        if lifting and reaches_roles:
            findings.append(f"{where}: {', '.join(lifting)} lets its holder lift the "
                            "permissions boundary off the stack's roles; do not allow it")
        if passes_roles and "iam:passedtoservice" not in _condition_keys(statement.condition):
            findings.append(f"{where}: iam:PassRole without an iam:PassedToService condition "
                            "lets its holder hand the roles to any service; add Condition "
                            "StringEquals iam:PassedToService [lambda.amazonaws.com, "
                            "states.amazonaws.com] as 'hfaction policies user' prints")
        if not statement.not_resource:
            findings.extend(f"{where}: {problem}" for pattern in statement.resources
                            if pattern != "*" for problem in _broad_arn(pattern))
        if unscoped:
            could_scope = [action for action in granted if action in scoped]
            if could_scope:
                shown = ", ".join(could_scope[:4]) + (" ..." if len(could_scope) > 4 else "")
                findings.append(f"{where}: Resource \"*\" (or NotResource) for actions that "
                                f"take the stack's own ARNs ({shown}); scope them as "
                                "'hfaction policies user' prints")
            if any(action_matches(pattern, "iam:PassRole") for pattern in statement.actions) \
                    != statement.not_action:
                findings.append(f"{where}: iam:PassRole on every role lets its holder hand "
                                "any role to a service (privilege escalation); scope it to "
                                f"{_printed(scope.resource('roles')[0])}")
        else:
            for pattern in statement.resources:
                if not any(resource_overlaps(pattern, arn) for arn in arns):
                    findings.append(f"{where}: resource {pattern} is none of the stack's "
                                    f"(stack {scope.stack_name})")
    return findings
