"""Size-driven wildcard grouping: a statement's actions written as ``svc:Prefix*`` where
parliament's action database shows the wildcard safe, so that the policy fits one
managed policy (:data:`MANAGED_POLICY_LIMIT`, :func:`policy_size`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from functools import cache
from typing import Any

READ_VERBS = ("Get", "List", "Describe")
# A managed policy holds 6144 characters (whitespace aside), and the schemas list dozens of
# calls per resource type (most of S3's bucket configuration API): listed one by one the
# policy does not fit. So groups of actions are written as ``svc:Prefix*`` when, in
# parliament's IAM action database, every action the wildcard matches takes the
# statement's resources (a wildcard on the bucket's ARN cannot reach objects; parliament
# then finds no RESOURCE_MISMATCH) and is either needed or a read (Get, List, Describe) of
# those resources. Statements on "*" are never compressed.
MANAGED_POLICY_LIMIT = 6144


def _camel_prefixes(name: str) -> list[str]:
    """``PutBucketPolicy`` -> ``["Put", "PutBucket"]`` (word boundaries, shortest first)."""
    bounds = [match.start() for match in re.finditer(r"[A-Z][a-z0-9]*", name)][1:]
    return [name[:bound] for bound in bounds]


def compress_actions(actions: Sequence[str], resources: Sequence[str],
                     at_least: int = 2) -> list[str]:
    """The statement's actions with groups of them written as ``svc:Prefix*`` (see
    :data:`MANAGED_POLICY_LIMIT`); at least ``at_least`` needed actions per wildcard."""
    if "*" in resources:
        return sorted(set(actions), key=str.lower)
    by_service: dict[str, set[str]] = {}
    for action in actions:
        service, _, name = action.partition(":")
        by_service.setdefault(service, set()).add(name)
    result: list[str] = []
    for service, names in by_service.items():
        result += [f"{service}:{name}" for name in
                   _compress_service(service, names, tuple(resources), at_least)]
    return sorted(result, key=str.lower)


def _compress_service(service: str, names: set[str], resources: tuple[str, ...],
                      at_least: int) -> list[str]:
    """One service's action names, greedily grouped under the widest safe prefixes."""
    from parliament import UnknownPrefixException, expand_action

    try:
        universe = [str(item["action"]) for item in expand_action(f"{service}:*")]
    except UnknownPrefixException:
        return sorted(names)
    listed = {name.lower() for name in names}

    def may_match(prefix: str) -> bool:
        matched = [name for name in universe if name.lower().startswith(prefix.lower())]
        return bool(matched) and all(
            (name.lower() in listed or name.startswith(READ_VERBS))
            and _takes(service, name, resources) for name in matched)

    remaining = set(names)
    chosen: list[str] = []
    while True:
        best: tuple[str, set[str]] | None = None
        for name in sorted(remaining):
            for prefix in _camel_prefixes(name):
                covered = {other for other in remaining
                           if other.lower().startswith(prefix.lower())}
                if len(covered) < at_least:
                    break  # longer prefixes cover fewer
                if may_match(prefix):
                    if best is None or len(covered) > len(best[1]):
                        best = (prefix, covered)
                    break
        if best is None:
            return chosen + sorted(remaining)
        chosen.append(f"{best[0]}*")
        remaining -= best[1]


@cache
def _takes(service: str, action: str, resources: tuple[str, ...]) -> bool:
    """Does every resource type the action requires (parliament's database) match one of
    the resources? False for actions that take only "*"."""
    from parliament import is_arn_strictly_valid
    from parliament.statement import get_arn_format, get_privilege_info

    info = get_privilege_info(service, action)
    types = [str(item["resource_type"]) for item in info["resource_types"]]
    if not [type_ for type_ in types if type_]:
        return False
    for type_ in types:
        if "*" not in type_:  # optional resource type
            continue
        arn_format = get_arn_format(type_, info["service_resources"])
        if not any(is_arn_strictly_valid(type_, arn_format, resource)
                   for resource in resources):
            return False
    return True


def policy_size(document: dict[str, Any]) -> int:
    """Characters IAM counts against a policy's size limit (whitespace excluded)."""
    return len(re.sub(r"\s", "", json.dumps(document, separators=(",", ":"))))
