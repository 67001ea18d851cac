"""The synthesized construct is the SAM template's stack, property for property.

Each synthesized stack is compared with template.yaml translated by aws-sam-translator
(CloudFormation's own SAM transform) and filled in with the same parameter values
(tests/integration/cdk/compare.py): the same resources of the same types with the same
deletion and replacement policies and properties (lifecycle rules, reserved concurrency,
memory, ephemeral storage, timeout, log retention, IAM policies, the ASL after
substitution), and the same outputs. A difference fails with its property path; the
comparison is shown to fail, with the right path, on deliberately altered copies.
"""

from __future__ import annotations

import copy
import inspect
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.integration.cdk.compare import comparable, compare, reference
from tests.integration.cdk.conftest import (
    CUSTOM_STACK,
    CUSTOM_VALUES,
    DEFAULT_STACK,
    EXTRAS_STACK,
    IMAGE_URI,
    Synthesized,
)

# CloudFormation's limit on a template sent in the request: above it `cdk deploy` needs
# the bootstrap bucket to upload it, which this stack otherwise does without.
TEMPLATE_BODY_LIMIT = 51_200


def lookup(node: Any, path: str) -> Any:
    """``a.b[0].c``; a dot inside a key is written ``\\.`` ("max_concurrency\\.$")."""
    parts = path.replace("\\.", "\0").replace("[", ".[").split(".")
    for part in (part.replace("\0", ".") for part in parts if part):
        node = node[int(part[1:-1])] if part.startswith("[") else node[part]
    return node


def test_defaults_synthesize_the_sam_template(synthesized: Synthesized) -> None:
    expected = reference({"ImageUri": IMAGE_URI})
    found = compare(expected, synthesized.templates[DEFAULT_STACK])
    assert not found, "the CDK stack differs from template.yaml:\n" + "\n".join(found)


def test_every_prop_changed_synthesizes_the_sam_template_with_those_values(
        synthesized: Synthesized) -> None:
    expected = reference(CUSTOM_VALUES)
    found = compare(expected, synthesized.templates[CUSTOM_STACK])
    assert not found, "the CDK stack differs from template.yaml:\n" + "\n".join(found)


# The properties the issue names, as they must read in both (normal form: text).
KEY_PROPERTIES = {
    DEFAULT_STACK: {
        "Resources.RenderBucket.DeletionPolicy": "Retain",
        "Resources.RenderBucket.UpdateReplacePolicy": "Retain",
        "Resources.RenderBucket.Properties.LifecycleConfiguration.Rules[0].Prefix": "work/",
        "Resources.RenderBucket.Properties.LifecycleConfiguration.Rules[0].ExpirationInDays":
            "7",
        "Resources.RenderFunction.Properties.ReservedConcurrentExecutions": "10",
        "Resources.RenderFunction.Properties.MemorySize": "1769",
        "Resources.RenderFunction.Properties.EphemeralStorage.Size": "10240",
        "Resources.RenderFunction.Properties.Timeout": "900",
        "Resources.RenderFunctionLogGroup.Properties.RetentionInDays": "30",
        "Resources.RenderStateMachine.Properties.DefinitionString.States.Plan.Retry[0]"
        ".MaxAttempts": "12",
        "Resources.RenderStateMachine.Properties.DefinitionString.States.Prepare.Parameters"
        ".max_concurrency\\.$": "States.StringToJson('8')",
        "Resources.RenderStateMachine.Properties.DefinitionString.States.Plan.Parameters"
        ".FunctionName": '{"Fn::GetAtt":["RenderFunction","Arn"]}',
        "Resources.RenderFunctionRole.Properties.Policies[0].PolicyDocument.Statement[2]"
        ".Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
        "Outputs.RenderBucketName.Value": {"Ref": "RenderBucket"},
        "Outputs.RenderStateMachineArn.Value": {"Ref": "RenderStateMachine"},
        "Outputs.Concurrency.Value": "8",
    },
    CUSTOM_STACK: {
        "Resources.RenderFunction.Properties.ReservedConcurrentExecutions": "5",
        "Resources.RenderFunction.Properties.MemorySize": "4096",
        "Resources.RenderFunction.Properties.Architectures": ["arm64"],
        "Resources.RenderFunction.Properties.FunctionName": "hfcdkprops-render",
        "Resources.RenderBucket.Properties.LifecycleConfiguration.Rules[0].ExpirationInDays":
            "2",
        "Resources.RenderStateMachine.Properties.DefinitionString.States.Prepare.Parameters"
        ".max_concurrency\\.$": "States.StringToJson('3')",
        "Outputs.HfactionVersion.Value": "9.9.9",
        "Resources.RenderFunctionRole.Properties.PermissionsBoundary":
            "arn:aws:iam::123456789012:policy/hfcdkprops-boundary",
        "Resources.RenderStateMachineRole.Properties.PermissionsBoundary":
            "arn:aws:iam::123456789012:policy/hfcdkprops-boundary",
    },
}


@pytest.mark.parametrize("stack", [DEFAULT_STACK, CUSTOM_STACK])
def test_key_properties_are_what_the_template_says(synthesized: Synthesized,
                                                   stack: str) -> None:
    # Not only equal on both sides: present, with the values the template's defaults
    # (or the props) give, so the comparison above is not vacuously true.
    values = {"ImageUri": IMAGE_URI} if stack == DEFAULT_STACK else CUSTOM_VALUES
    expected, actual = comparable(reference(values)), comparable(
        synthesized.templates[stack])
    for path, value in KEY_PROPERTIES[stack].items():
        assert lookup(expected, path) == value, f"template.yaml: {path}"
        assert lookup(actual, path) == value, f"CDK: {path}"


Alteration = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Alteration:
    def alter(template: dict[str, Any]) -> None:
        parent, last = path.rsplit(".", 1)
        lookup(template, parent)[last] = value
    return alter


def _edit_definition(old: str, new: str) -> Alteration:
    def alter(template: dict[str, Any]) -> None:
        parts = template["Resources"]["RenderStateMachine"]["Properties"][
            "DefinitionString"]["Fn::Join"][1]
        index = next(i for i, part in enumerate(parts) if isinstance(part, str) and old in part)
        parts[index] = parts[index].replace(old, new, 1)
    return alter


def _drop(path: str) -> Alteration:
    def alter(template: dict[str, Any]) -> None:
        parent, last = path.rsplit(".", 1)
        del lookup(template, parent)[last]
    return alter


ALTERATIONS: dict[str, tuple[Alteration, str]] = {
    "memory": (_set("Resources.RenderFunction.Properties.MemorySize", 3008),
               "Resources.RenderFunction.Properties.MemorySize"),
    "deletion policy": (_set("Resources.RenderBucket.DeletionPolicy", "Delete"),
                        "Resources.RenderBucket.DeletionPolicy"),
    "lifecycle": (_set("Resources.RenderBucket.Properties.LifecycleConfiguration.Rules[0]"
                       ".ExpirationInDays", 30),
                  "Resources.RenderBucket.Properties.LifecycleConfiguration.Rules[0]"
                  ".ExpirationInDays"),
    "reserved concurrency": (
        _set("Resources.RenderFunction.Properties.ReservedConcurrentExecutions", 12),
        "Resources.RenderFunction.Properties.ReservedConcurrentExecutions"),
    "ephemeral storage": (_set("Resources.RenderFunction.Properties.EphemeralStorage",
                               {"Size": 512}),
                          "Resources.RenderFunction.Properties.EphemeralStorage.Size"),
    "retry in the ASL": (_edit_definition('"MaxAttempts":12', '"MaxAttempts":2'),
                         "Resources.RenderStateMachine.Properties.DefinitionString.States"
                         ".Assemble.Retry[0].MaxAttempts"),
    "IAM action": (_set("Resources.RenderFunctionRole.Properties.Policies[0].PolicyDocument"
                        ".Statement[2].Action", ["s3:PutObject"]),
                   "Resources.RenderFunctionRole.Properties.Policies[0].PolicyDocument"
                   ".Statement[2].Action"),
    "resource type": (_set("Resources.RenderFunctionLogGroup.Type", "AWS::Logs::LogStream"),
                      "Resources.RenderFunctionLogGroup.Type"),
    "missing output": (_drop("Outputs.RenderStateMachineArn"),
                       "Outputs.RenderStateMachineArn"),
    "extra resource": (_set("Resources.Extra", {"Type": "AWS::SNS::Topic"}),
                       "Resources.Extra"),
    "bucket policy statement": (
        _set("Resources.RenderBucketPolicy.Properties.PolicyDocument.Statement[0].Effect",
             "Allow"),
        "Resources.RenderBucketPolicy.Properties.PolicyDocument.Statement[0].Effect"),
}


@pytest.mark.parametrize("name", list(ALTERATIONS))
def test_a_difference_fails_naming_its_property_path(synthesized: Synthesized,
                                                     name: str) -> None:
    alter, path = ALTERATIONS[name]
    altered = copy.deepcopy(synthesized.templates[DEFAULT_STACK])
    alter(altered)
    found = compare(reference({"ImageUri": IMAGE_URI}), altered)
    assert [line.split(": ", 1)[0] for line in found] == [path], found


def test_props_are_the_template_parameters_with_its_defaults(synthesized: Synthesized) -> None:
    from hfaction.cdk import HfactionRenderStack
    from hfaction.cdk.template import prop_name
    from tests.integration.cdk.compare import sam_source

    parameters = sam_source()["Parameters"]
    signature = inspect.signature(HfactionRenderStack.__init__)
    props = {name: p for name, p in signature.parameters.items()
             if p.kind is inspect.Parameter.KEYWORD_ONLY}
    assert set(props) == {prop_name(name) for name in parameters}
    for name, spec in parameters.items():
        # None stands for the template's default; a parameter without one is required,
        # but for the image: without one, the construct builds it (a Docker image asset).
        default = props[prop_name(name)].default
        required = "Default" not in spec and name != "ImageUri"
        assert default is (inspect.Parameter.empty if required else None), name
    # The outputs hfaction reads to find the stack's bucket and state machine.
    assert set(synthesized.templates[DEFAULT_STACK]["Outputs"]) == set(
        sam_source()["Outputs"])


def test_l2_interfaces_reference_the_included_resources(synthesized: Synthesized) -> None:
    render = synthesized.constructs[DEFAULT_STACK]
    resolve = synthesized.resolve[DEFAULT_STACK]
    assert resolve(render.bucket.bucket_name) == {"Ref": "RenderBucket"}
    assert resolve(render.bucket.bucket_arn) == {"Fn::GetAtt": ["RenderBucket", "Arn"]}
    assert resolve(render.render_function.function_arn) == {
        "Fn::GetAtt": ["RenderFunction", "Arn"]}
    assert resolve(render.render_function.role.role_arn) == {
        "Fn::GetAtt": ["RenderFunctionRole", "Arn"]}
    assert resolve(render.state_machine.state_machine_arn) == {
        "Fn::GetAtt": ["RenderStateMachine", "Arn"]}


def test_user_resources_attach_through_the_l2_interfaces(synthesized: Synthesized) -> None:
    template = synthesized.templates[EXTRAS_STACK]
    resources = template["Resources"]
    alarms = [r["Properties"] for r in resources.values()
              if r["Type"] == "AWS::CloudWatch::Alarm"]
    dimensions = {d["Name"]: d["Value"] for alarm in alarms for d in alarm["Dimensions"]}
    # The function's name, as CDK takes it from the included function's ARN.
    assert dimensions["FunctionName"] == {"Fn::Select": [6, {"Fn::Split": [
        ":", {"Fn::GetAtt": ["RenderFunction", "Arn"]}]}]}
    assert dimensions["StateMachineArn"] == {"Fn::GetAtt": ["RenderStateMachine", "Arn"]}
    granted = [statement for r in resources.values() if r["Type"] == "AWS::IAM::Policy"
               for statement in r["Properties"]["PolicyDocument"]["Statement"]]
    text = json.dumps(granted)
    assert '"states:StartExecution"' in text and "RenderStateMachine" in text
    assert '"s3:GetObject*"' in text and "/renders/*" in text
    # The image given as a token (an ECR repository's URI) reaches the function.
    render_only = copy.deepcopy({name: r for name, r in resources.items()
                                 if name in synthesized.templates[DEFAULT_STACK]["Resources"]})
    code = render_only["RenderFunction"]["Properties"]["Code"]
    repository = next(name for name, r in resources.items()
                      if r["Type"] == "AWS::ECR::Repository")
    assert {"Ref": repository} in code["ImageUri"]["Fn::Join"][1], code
    code["ImageUri"] = IMAGE_URI
    # Otherwise the included stack is untouched by what was attached to it.
    assert not compare(reference({"ImageUri": IMAGE_URI, "ProjectName": "hfcdkextras"}),
                       {"Resources": render_only, "Outputs": template["Outputs"]})


@pytest.mark.parametrize("stack", [DEFAULT_STACK, CUSTOM_STACK, EXTRAS_STACK])
def test_deploys_without_bootstrap(synthesized: Synthesized, stack: str) -> None:
    template = synthesized.templates[stack]
    # No bootstrap version check, no assets, no custom resources, no CDK metadata.
    assert "Rules" not in template and "Parameters" not in template
    types = {resource["Type"] for resource in template["Resources"].values()}
    assert not {t for t in types if t.startswith(("Custom::", "AWS::CloudFormation::",
                                                  "AWS::CDK::"))}, types
    assert synthesized.files[stack].stat().st_size <= TEMPLATE_BODY_LIMIT


def test_bad_props_and_a_second_construct_in_a_stack_are_refused(
        synthesized: Synthesized) -> None:
    import aws_cdk as cdk

    from hfaction.cdk import HfactionRenderStack
    from hfaction.errors import InvalidOption

    app = cdk.App(analytics_reporting=False)
    stack = cdk.Stack(app, "hfcdkrefused")
    with pytest.raises(InvalidOption, match="concurrency=0: must be between 1 and 1000"):
        HfactionRenderStack(stack, "Zero", image_uri=IMAGE_URI, concurrency=0)
    HfactionRenderStack(stack, "First", image_uri=IMAGE_URI)
    # Its logical ids and output names are the template's: a second one would collide.
    with pytest.raises(InvalidOption, match="already has an HfactionRenderStack"):
        HfactionRenderStack(stack, "Second", image_uri=IMAGE_URI, project_name="second")
