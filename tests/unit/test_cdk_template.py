"""hfaction.cdk.template: the CloudFormation the CDK construct includes, derived from
template.yaml. Pure data (aws-sam-translator, no aws-cdk-lib); the synthesis itself and
its comparison with the SAM stack are in tests/integration/cdk."""

from __future__ import annotations

import json
from typing import Any

import pytest

from hfaction.cdk.template import parameter_values, prop_name, sam_template, stack_template
from hfaction.errors import InvalidOption

IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hfaction-render:0.1.0"


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return sam_template()


@pytest.fixture(scope="module")
def default(source: dict[str, Any]) -> dict[str, Any]:
    return stack_template({"ImageUri": IMAGE}, source=source)


def test_prop_names() -> None:
    assert prop_name("IntermediateRetentionDays") == "intermediate_retention_days"
    assert prop_name("ImageUri") == "image_uri"


def test_defaults_are_the_templates(source: dict[str, Any]) -> None:
    values = parameter_values(source, {"ImageUri": IMAGE})
    for name, spec in source["Parameters"].items():
        assert values[name] == spec.get("Default", IMAGE), name


@pytest.mark.parametrize(("given", "message"), [
    ({"Concurrency": 0}, "concurrency=0: must be between 1 and 1000"),
    ({"Concurrency": "many"}, "concurrency='many': must be a whole number"),
    ({"MemorySize": 20000}, "memory_size=20000: must be between 1024 and 10240"),
    ({"ProjectName": "Bad_Name"}, "project_name='Bad_Name': lowercase letters"),
    ({"Architecture": "sparc"}, "architecture='sparc': must be one of x86_64, arm64"),
    ({"LogRetentionDays": 2}, "log_retention_days=2: must be one of 1, 3, 5"),
    ({"ImageUri": ""}, "image_uri='': must not be empty"),
    ({"ImageUri": None}, "needs image_uri="),
    ({"Unknown": 1}, "no prop for Unknown"),
])
def test_bad_props_are_refused_naming_the_prop(source: dict[str, Any], given: dict[str, Any],
                                               message: str) -> None:
    with pytest.raises(InvalidOption) as raised:
        parameter_values(source, {"ImageUri": IMAGE, **given})
    assert message in str(raised.value)
    assert raised.value.exit_code == 2


def test_parameters_and_conditions_are_filled_in(default: dict[str, Any]) -> None:
    assert "Parameters" not in default and "Conditions" not in default
    text = json.dumps(default)
    for name in ("ProjectName", "Concurrency", "MemorySize", "ImageUri", "ReserveConcurrency"):
        assert json.dumps({"Ref": name}) not in text, name
    function = default["Resources"]["RenderFunction"]
    assert function["Properties"]["Code"]["ImageUri"] == IMAGE
    assert function["Properties"]["FunctionName"] == "hfaction-render"
    assert "Metadata" not in function  # sam build's, not CloudFormation's
    bucket = default["Resources"]["RenderBucket"]["Properties"]
    assert bucket["BucketName"] == {"Fn::Sub": "hfaction-${AWS::AccountId}-${AWS::Region}"}
    assert bucket["LifecycleConfiguration"]["Rules"][0]["ExpirationInDays"] == 7
    assert default["Outputs"]["Concurrency"]["Value"] == "8"  # outputs are text


def test_kept_parameters_stay_parameters(source: dict[str, Any]) -> None:
    kept = stack_template({"ImageUri": IMAGE}, keep=frozenset({"ImageUri"}), source=source)
    assert set(kept["Parameters"]) == {"ImageUri"}
    assert kept["Resources"]["RenderFunction"]["Properties"]["Code"]["ImageUri"] == {
        "Ref": "ImageUri"}


@pytest.mark.parametrize(("concurrency", "reserve", "reserved"), [
    (1, True, 3), (8, True, 10), (1000, True, 1002), (8, False, None)])
def test_reserved_concurrency_is_concurrency_plus_two_or_nothing(
        source: dict[str, Any], concurrency: int, reserve: bool, reserved: int | None) -> None:
    template = stack_template({"ImageUri": IMAGE, "Concurrency": concurrency,
                               "ReserveConcurrency": reserve}, source=source)
    properties = template["Resources"]["RenderFunction"]["Properties"]
    assert properties.get("ReservedConcurrentExecutions") == reserved


@pytest.mark.parametrize(("machine", "prefixes"), [
    ("RenderStateMachine", "renders/,previews/"), ("PreviewStateMachine", "previews/")])
def test_state_machine_substitutions_are_applied(default: dict[str, Any], machine: str,
                                                 prefixes: str) -> None:
    properties = default["Resources"][machine]["Properties"]
    assert "DefinitionSubstitutions" not in properties and "Definition" not in properties
    separator, parts = properties["DefinitionString"]["Fn::Join"]
    literal = "".join(part for part in parts if isinstance(part, str))
    assert separator == "" and "${" not in literal
    assert "States.StringToJson('8')" in literal
    # Where its renders may write, in the Plan and Assemble payloads.
    assert literal.count(f'"output_prefixes":"{prefixes}"') == 2
    references = [part for part in parts if not isinstance(part, str)]
    assert {"Fn::GetAtt": ["RenderFunction", "Arn"]} in references
    assert {"Ref": "RenderBucket"} in references


def test_managed_policy_arns_follow_the_stacks_partition(default: dict[str, Any]) -> None:
    arns = default["Resources"]["RenderFunctionRole"]["Properties"]["ManagedPolicyArns"]
    assert arns == [{"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/service-role/"
                                "AWSLambdaBasicExecutionRole"}]
    roles = [r for r in default["Resources"].values() if r["Type"] == "AWS::IAM::Role"]
    assert len(roles) == 4 and '"arn:aws:' not in json.dumps(roles)  # function, 3 machines
