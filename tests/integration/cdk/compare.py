"""The reference a CDK synthesis is compared with, and the comparison.

The reference is the repository's template.yaml (its ASL inlined) as CloudFormation runs
it: translated by aws-sam-translator with the state machine's substitutions applied
(:func:`tests.integration.aws.moto_stack.cloudformation_equivalent`, shared with the SAM
moto tests), then its parameters filled in as CloudFormation would with given values.
The filling is written here again on purpose, independently of ``hfaction.cdk.template``:
a mistake there must not be repeated on the reference side.

:func:`differences` lists every property path whose values differ, after spellings
CloudFormation treats alike are made the same (numbers as text, ``Fn::GetAtt`` string or
list, the ``aws`` partition written literally or as ``${AWS::Partition}``, the state
machine definition as any JSON text or ``Fn::Join``).
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Mapping
from typing import Any

import yaml

from tests.integration.aws.moto_stack import cloudformation_equivalent
from tests.integration.aws.sfn_harness import TEMPLATE

PLACEHOLDER = re.compile(r"\$\{([^}]+)\}")
_REMOVE = object()


def without_comments(node: Any) -> Any:
    """An ASL definition without its Comment fields (hfaction lambda deploy drops them to
    keep the template small); a payload's own fields are kept."""
    if isinstance(node, list):
        return [without_comments(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {key: value if key in ("Parameters", "Arguments", "ItemSelector", "Result",
                                  "ResultSelector", "Payload", "Output", "Assign", "Input")
            else without_comments(value) for key, value in node.items()
            if not (key == "Comment" and isinstance(value, str))}


def sam_source() -> dict[str, Any]:
    """template.yaml with each state machine's own definition inlined, as hfaction lambda
    deploy sends it to CloudFormation."""
    template = yaml.safe_load(TEMPLATE.read_text())
    assert isinstance(template, dict)
    machines = [resource["Properties"] for resource in template["Resources"].values()
                if resource["Type"] == "AWS::Serverless::StateMachine"]
    assert len(machines) == 3  # RenderStateMachine, PreviewStateMachine, BatchStateMachine
    for machine in machines:
        asl = TEMPLATE.parent / machine.pop("DefinitionUri")
        machine["Definition"] = without_comments(json.loads(asl.read_text()))
    return template


def defaults(template: Mapping[str, Any]) -> dict[str, Any]:
    return {name: spec["Default"] for name, spec in template["Parameters"].items()
            if "Default" in spec}


def reference(values: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The SAM template as CloudFormation deploys it with these parameter values."""
    source = sam_source()
    translated = cloudformation_equivalent(source, region)
    return with_parameters(translated, {**defaults(source), **values})


def with_parameters(template: Mapping[str, Any], values: Mapping[str, Any]) -> dict[str, Any]:
    """Refs to parameters, conditions, and intrinsics over literals, evaluated."""
    out = copy.deepcopy(dict(template))
    missing = set(out.get("Parameters", {})) - set(values)
    assert not missing, f"no value for parameters {sorted(missing)}"

    def fill(node: Any) -> Any:
        if isinstance(node, list):
            return [item for item in map(fill, node) if item is not _REMOVE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            (function, argument), = node.items()
            if function == "Ref":
                return _REMOVE if argument == "AWS::NoValue" else values.get(argument, node)
            if function == "Fn::Equals":
                left, right = fill(argument)
                return str(left) == str(right)
            if function == "Fn::Not":
                (value,) = fill(argument)
                return not value
            if function == "Fn::Or":
                return any(fill(argument))
            if function == "Fn::If":
                name, when_true, when_false = argument
                return fill(when_true if conditions[name] else when_false)
            if function == "Fn::Split":
                delimiter, text = fill(argument)
                return text.split(delimiter)
            if function == "Fn::Select":
                index, items = fill(argument)
                return items[int(index)]
            if function == "Fn::Sub":
                text, variables = (argument, {}) if isinstance(argument, str) else argument
                text = PLACEHOLDER.sub(
                    lambda m: str(values[m.group(1)]) if m.group(1) in values
                    and m.group(1) not in variables else m.group(0), text)
                variables = fill(variables)
                if not PLACEHOLDER.search(text):
                    return text
                return {"Fn::Sub": [text, variables] if variables else text}
        filled = {key: fill(value) for key, value in node.items()}
        return {key: value for key, value in filled.items() if value is not _REMOVE}

    conditions: dict[str, Any] = {}
    for name, expression in out.pop("Conditions", {}).items():
        conditions[name] = fill(expression)
    out.pop("Parameters", None)
    # A conditional resource exists or not, as CloudFormation decides (AdoptBucket).
    out["Resources"] = {name: {key: value for key, value in resource.items()
                               if key != "Condition"}
                        for name, resource in out["Resources"].items()
                        if conditions.get(resource.get("Condition"), True)}
    out["Resources"] = fill(out["Resources"])
    # Outputs too (the notifier's, without a topic or a webhook).
    out["Outputs"] = fill({name: {key: value for key, value in output.items()
                                  if key != "Condition"}
                           for name, output in out.get("Outputs", {}).items()
                           if conditions.get(output.get("Condition"), True)})
    return out


# --- normal form -------------------------------------------------------------------------


def _intrinsic_text(node: Any) -> str:
    return json.dumps(normal(node), sort_keys=True, separators=(",", ":"))


def definition(node: Any) -> Any:
    """A state machine definition as data; intrinsics inside become their JSON text."""
    if isinstance(node, dict) and set(node) == {"Fn::Join"}:
        separator, parts = node["Fn::Join"]
        text = str(separator).join(
            part if isinstance(part, str) else
            str(part) if isinstance(part, int | float) else
            json.dumps(_intrinsic_text(part))[1:-1]  # escaped: it sits inside a JSON string
            for part in parts)
    elif isinstance(node, str):
        text = node
    else:
        return normal(node)
    return normal(json.loads(text))


def normal(node: Any) -> Any:
    """Spellings that CloudFormation treats alike made the same."""
    if isinstance(node, list):
        return [normal(item) for item in node]
    if isinstance(node, dict):
        if set(node) == {"Fn::GetAtt"} and isinstance(node["Fn::GetAtt"], str):
            return {"Fn::GetAtt": node["Fn::GetAtt"].split(".", 1)}
        if set(node) == {"Fn::Sub"} and isinstance(node["Fn::Sub"], str) and \
                set(PLACEHOLDER.findall(node["Fn::Sub"])) == {"AWS::Partition"}:
            return node["Fn::Sub"].replace("${AWS::Partition}", "aws")
        return {key: (definition(value) if key == "DefinitionString" else normal(value))
                for key, value in node.items()}
    if isinstance(node, bool):
        return str(node).lower()
    if isinstance(node, int | float):
        return str(node)
    return node


def comparable(template: Mapping[str, Any]) -> dict[str, Any]:
    """What is compared: every resource (type, policies, properties) and every output.
    CDK's construct metadata is not part of what CloudFormation deploys."""
    resources = {}
    for name, resource in template.get("Resources", {}).items():
        resources[name] = {key: value for key, value in resource.items()
                           if key not in ("Metadata",)}
    return normal({"Resources": resources, "Outputs": dict(template.get("Outputs", {}))})


def differences(expected: Any, actual: Any, path: str = "") -> list[str]:
    """Every path at which ``actual`` differs from ``expected``, with both values."""
    def show(value: Any) -> str:
        text = json.dumps(value, sort_keys=True)
        return text if len(text) <= 160 else text[:157] + "..."

    if isinstance(expected, dict) and isinstance(actual, dict):
        found = []
        for key in expected:
            where = f"{path}.{key}" if path else key
            if key not in actual:
                found.append(f"{where}: missing (expected {show(expected[key])})")
            else:
                found += differences(expected[key], actual[key], where)
        for key in actual:
            if key not in expected:
                where = f"{path}.{key}" if path else key
                found.append(f"{where}: unexpected {show(actual[key])}")
        return found
    if isinstance(expected, list) and isinstance(actual, list):
        if len(expected) != len(actual):
            return [f"{path}: expected {len(expected)} items {show(expected)}, "
                    f"got {len(actual)} {show(actual)}"]
        found = []
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found += differences(left, right, f"{path}[{index}]")
        return found
    if expected != actual:
        return [f"{path}: expected {show(expected)}, got {show(actual)}"]
    return []


def compare(reference_template: Mapping[str, Any],
            synthesized: Mapping[str, Any]) -> list[str]:
    return differences(comparable(reference_template), comparable(synthesized))
