"""The render stack's CloudFormation for the CDK construct, derived from template.yaml.

Pure data, no ``aws_cdk``: the SAM template that ``hfaction lambda deploy`` ships
(``hfaction.aws.deploy.deploy_template``: template.yaml with the state machine's ASL
inlined) goes through aws-sam-translator, the library behind CloudFormation's own SAM
transform, so the construct gets exactly the resources, roles and policies a SAM deploy
gets. Then the template's parameters are filled in with the construct's props as
CloudFormation would (conditions, ``Fn::Sub``, the ``Fn::Select`` lookup), and the state
machine's ``DefinitionSubstitutions`` are applied as an ``Fn::Join`` (moto ignores
substitutions; the result is what CloudFormation runs either way).

What stays a reference: resources (``Ref``/``Fn::GetAtt``), pseudo parameters, and
the parameters named in ``keep`` (the construct passes ImageUri to ``CfnInclude``
instead, so a CDK token such as an ECR repository's URI works there).
"""

from __future__ import annotations

import copy
import json
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from hfaction.errors import InvalidOption

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
PLACEHOLDER = re.compile(r"\$\{([A-Za-z0-9_:.]+)\}")
_NO_VALUE = object()

ParameterValue = str | int


def sam_template() -> dict[str, Any]:
    """template.yaml as ``sam deploy`` receives it from hfaction: the ASL inlined."""
    from hfaction.aws.deploy import deploy_template

    with tempfile.TemporaryDirectory(prefix="hfaction-cdk-") as scratch:
        data = yaml.safe_load(deploy_template(Path(scratch)).read_text())
    assert isinstance(data, dict)
    return data


def translate(template: Mapping[str, Any], region: str = "us-east-1") -> dict[str, Any]:
    """The SAM transform, as CloudFormation applies it (aws-sam-translator, offline).

    The region only picks the partition of the ARNs the translator writes literally;
    :func:`partition_neutral` makes those follow the stack's own partition.
    """
    import boto3
    from samtranslator.metrics.metrics import Metrics  # type: ignore[import-untyped]
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    metrics = Metrics()  # kept in memory (no publisher); published so it does not warn
    translator = Translator(None, Parser(), metrics=metrics,
                            boto_session=boto3.session.Session(region_name=region))
    translated = translator.translate(copy.deepcopy(dict(template)), parameter_values={},
                                      get_managed_policy_map=dict)
    metrics.publish()
    return dict(translated)


def parameter_specs(template: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    specs = template.get("Parameters") or {}
    return {name: dict(spec) for name, spec in specs.items()}


def prop_name(parameter: str) -> str:
    """``IntermediateRetentionDays`` -> ``intermediate_retention_days``."""
    return re.sub(r"(?<!^)(?=[A-Z])", "_", parameter).lower()


def parameter_values(template: Mapping[str, Any],
                     given: Mapping[str, ParameterValue | bool | None]) -> dict[str, Any]:
    """Every parameter's value: the prop if given, else the template's default; checked
    against the template's own constraints. ``given`` is keyed by parameter name."""
    values: dict[str, Any] = {}
    for name, spec in parameter_specs(template).items():
        value = given.get(name)
        if value is None:
            if "Default" not in spec:
                raise InvalidOption(f"HfactionRenderStack needs {prop_name(name)}= "
                                    f"({spec.get('Description', name)})")
            value = spec["Default"]
        values[name] = _checked(name, spec, value)
    unknown = sorted(set(given) - set(values))
    if unknown:
        raise InvalidOption(f"HfactionRenderStack has no prop for {unknown[0]}")
    return values


def _checked(name: str, spec: Mapping[str, Any], value: Any) -> ParameterValue:
    where = f"HfactionRenderStack {prop_name(name)}={value!r}"
    if isinstance(value, bool):  # ReserveConcurrency is a "true"/"false" string parameter
        value = "true" if value else "false"
    if spec.get("Type") == "Number":
        if isinstance(value, str) and re.fullmatch(r"-?[0-9]+", value):
            value = int(value)
        if not isinstance(value, int):
            raise InvalidOption(f"{where}: must be a whole number")
        low, high = spec.get("MinValue"), spec.get("MaxValue")
        if (low is not None and value < low) or (high is not None and value > high):
            raise InvalidOption(f"{where}: must be between {low} and {high}")
    else:
        value = str(value)
        pattern = spec.get("AllowedPattern")
        if pattern and not re.fullmatch(pattern, value):
            raise InvalidOption(f"{where}: {spec.get('ConstraintDescription') or pattern}")
        if len(value) < int(spec.get("MinLength", 0)):
            raise InvalidOption(f"{where}: must not be empty")
    allowed = spec.get("AllowedValues")
    if allowed is not None and str(value) not in {str(item) for item in allowed}:
        raise InvalidOption(f"{where}: must be one of {', '.join(map(str, allowed))}")
    checked: ParameterValue = value
    return checked


def resolve(template: Mapping[str, Any], values: Mapping[str, Any],
            keep: frozenset[str] = frozenset()) -> dict[str, Any]:
    """The template with its parameters (but ``keep``) and conditions filled in."""
    out = copy.deepcopy(dict(template))
    filled = {name: value for name, value in values.items() if name not in keep}
    conditions = {name: _evaluate(_fill(expression, filled, {}), name)
                  for name, expression in (out.pop("Conditions", None) or {}).items()}
    out["Parameters"] = {name: spec for name, spec in (out.get("Parameters") or {}).items()
                         if name in keep}
    if not out["Parameters"]:
        del out["Parameters"]
    for section in ("Resources", "Outputs"):
        out[section] = _fill(out.get(section, {}), filled, conditions)
    for section in ("Resources", "Outputs"):
        for name, item in list(out[section].items()):
            # A conditional resource or output is there or not, as CloudFormation decides it
            # (the notifier's, without a topic or a webhook).
            if "Condition" in item and not conditions[item.pop("Condition")]:
                del out[section][name]
    for output in out.get("Outputs", {}).values():  # outputs are strings
        if isinstance(output.get("Value"), int | float):
            output["Value"] = str(output["Value"])
    return out


def _fill(node: Any, values: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    if isinstance(node, list):
        items = [_fill(item, values, conditions) for item in node]
        return [item for item in items if item is not _NO_VALUE]
    if not isinstance(node, dict):
        return node
    if set(node) == {"Ref"}:
        if node["Ref"] == "AWS::NoValue":
            return _NO_VALUE
        return values.get(node["Ref"], node)
    if set(node) == {"Fn::If"}:
        condition, when_true, when_false = node["Fn::If"]
        return _fill(when_true if conditions[condition] else when_false, values, conditions)
    if set(node) == {"Fn::Sub"}:
        return _sub(node["Fn::Sub"], values, conditions)
    if set(node) == {"Fn::Split"}:
        delimiter, text = _fill(node["Fn::Split"], values, conditions)
        if isinstance(text, str):
            return text.split(delimiter)
        return {"Fn::Split": [delimiter, text]}
    if set(node) == {"Fn::Select"}:
        index, items = _fill(node["Fn::Select"], values, conditions)
        if isinstance(index, int | str) and str(index).isdigit() and isinstance(items, list):
            return _number(items[int(index)])
        return {"Fn::Select": [index, items]}
    filled = {key: _fill(value, values, conditions) for key, value in node.items()}
    return {key: value for key, value in filled.items() if value is not _NO_VALUE}


def _number(value: Any) -> Any:
    """A selected list entry: ``"10"`` becomes 10 (the lookup lists numbers as text)."""
    return int(value) if isinstance(value, str) and value.strip().isdigit() else value


def _sub(body: Any, values: Mapping[str, Any], conditions: Mapping[str, bool]) -> Any:
    text, variables = (body, {}) if isinstance(body, str) else body
    variables = _fill(variables, values, conditions)

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name in values and name not in variables:
            return str(values[name])
        return match.group(0)

    text = PLACEHOLDER.sub(replace, text)
    if not PLACEHOLDER.search(text):
        return text
    return {"Fn::Sub": [text, variables] if variables else text}


def _evaluate(expression: Any, name: str) -> bool:
    if isinstance(expression, dict) and set(expression) == {"Fn::Equals"}:
        left, right = expression["Fn::Equals"]
        if isinstance(left, dict) or isinstance(right, dict):
            raise InvalidOption(f"template.yaml: condition {name} depends on a kept parameter")
        return str(left) == str(right)
    if isinstance(expression, dict) and set(expression) == {"Fn::Not"}:
        return not _evaluate(expression["Fn::Not"][0], name)
    if isinstance(expression, dict) and set(expression) == {"Fn::And"}:
        return all(_evaluate(item, name) for item in expression["Fn::And"])
    if isinstance(expression, dict) and set(expression) == {"Fn::Or"}:
        return any(_evaluate(item, name) for item in expression["Fn::Or"])
    raise InvalidOption(f"template.yaml: condition {name} is not understood by the CDK "
                        "construct")


def definition_text(definition: Any) -> str:
    """A translated state machine definition as text: a string, the ``Definition``
    object, or the translator's ``Fn::Join`` of literal lines."""
    if isinstance(definition, str):
        return definition
    if isinstance(definition, dict) and set(definition) == {"Fn::Join"}:
        separator, parts = definition["Fn::Join"]
        if all(isinstance(part, str) for part in parts):
            return str(separator).join(parts)
    if isinstance(definition, dict):
        return json.dumps(definition)
    raise InvalidOption("template.yaml: the state machine definition is not literal text")


def apply_substitutions(template: dict[str, Any]) -> dict[str, Any]:
    """Each state machine's ``DefinitionSubstitutions`` applied: ``DefinitionString``
    becomes an ``Fn::Join`` of the literal text and the values (Ref, GetAtt, or text)."""
    for resource in template["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] != "AWS::StepFunctions::StateMachine":
            continue
        substitutions = properties.pop("DefinitionSubstitutions", None) or {}
        text = definition_text(properties.pop("Definition", None)
                               or properties.pop("DefinitionString"))
        # Compact: CloudFormation takes a template body of at most 51,200 bytes without
        # an upload bucket (which only `cdk bootstrap` would give), and the ASL is most of it.
        text = json.dumps(json.loads(text), separators=(",", ":"))
        parts: list[Any] = []
        start = 0
        for match in PLACEHOLDER.finditer(text):
            if match.group(1) not in substitutions:
                continue
            value = substitutions[match.group(1)]
            parts += [text[start:match.start()],
                      value if isinstance(value, dict) else str(value)]
            start = match.end()
        parts.append(text[start:])
        literal = [part for part in parts if part != ""]
        properties["DefinitionString"] = (
            "".join(literal) if all(isinstance(part, str) for part in literal)
            else {"Fn::Join": ["", literal]})
    return template


_LITERAL_ARN = re.compile(r"^arn:aws:")


def partition_neutral(node: Any) -> Any:
    """ARNs the translator wrote for the ``aws`` partition (managed policies) as
    ``Fn::Sub`` of ``${AWS::Partition}``, so a stack in any partition gets its own."""
    if isinstance(node, list):
        return [partition_neutral(item) for item in node]
    if isinstance(node, dict):
        if set(node) in ({"Fn::Sub"}, {"Fn::Join"}):
            return node
        return {key: partition_neutral(value) for key, value in node.items()}
    if isinstance(node, str) and _LITERAL_ARN.match(node) and "::aws:policy/" in node:
        return {"Fn::Sub": _LITERAL_ARN.sub("arn:${AWS::Partition}:", node)}
    return node


def getatt_as_list(node: Any) -> Any:
    """``Fn::GetAtt: "R.Attr"`` as ``["R", "Attr"]``: the same to CloudFormation, and the
    form CDK writes (CfnInclude keeps outputs as written; some tools read only lists)."""
    if isinstance(node, list):
        return [getatt_as_list(item) for item in node]
    if isinstance(node, dict):
        return {key: value.split(".", 1) if key == "Fn::GetAtt" and isinstance(value, str)
                else getatt_as_list(value) for key, value in node.items()}
    return node


def stack_template(given: Mapping[str, ParameterValue | bool | None],
                   keep: frozenset[str] = frozenset(),
                   source: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The whole derivation: the CloudFormation the construct includes.

    ``given`` holds the props by parameter name (None: the template's default).
    Sections that belong to the enclosing stack (format version, description) and
    ``sam build``'s metadata are left out.
    """
    template = dict(source) if source is not None else sam_template()
    values = parameter_values(template, given)
    translated = translate(template)
    resolved = resolve(translated, values, keep)
    resolved = apply_substitutions(resolved)
    resolved["Resources"] = getatt_as_list(partition_neutral(resolved["Resources"]))
    resolved["Outputs"] = getatt_as_list(resolved.get("Outputs", {}))
    for key in ("AWSTemplateFormatVersion", "Description", "Transform", "Metadata"):
        resolved.pop(key, None)
    for resource in resolved["Resources"].values():
        resource.pop("Metadata", None)
    return resolved
