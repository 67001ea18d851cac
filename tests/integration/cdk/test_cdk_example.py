"""examples/cdk-app (the README's CDK app) synthesizes the render stack it promises."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from tests.integration.aws.sfn_harness import REPO
from tests.integration.cdk.compare import compare, reference
from tests.integration.cdk.conftest import IMAGE_URI, Synthesized

APP = REPO / "examples" / "cdk-app" / "app.py"


def test_example_app_synthesizes_the_render_stack_and_its_alarm(
        synthesized: Synthesized, tmp_path: Path) -> None:
    # `synthesized` first: it skips without aws-cdk-lib or Node.js, and has started jsii.
    import aws_cdk as cdk

    spec = importlib.util.spec_from_file_location("hfaction_cdk_example_app", APP)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    app = cdk.App(outdir=str(tmp_path), analytics_reporting=False)
    stack = example.build(app, IMAGE_URI)
    template = app.synth().get_stack_by_name(stack.stack_name).template
    resources = template["Resources"]
    render = {name: r for name, r in resources.items() if name.startswith("Render")
              and r["Type"] != "AWS::CloudWatch::Alarm" and r["Type"] != "AWS::SNS::Topic"}
    found = compare(reference({"ImageUri": IMAGE_URI, "ProjectName": "video",
                               "Concurrency": 16}),
                    {"Resources": render, "Outputs": template["Outputs"]})
    assert not found, "\n".join(found)
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 1
    assert alarms[0]["Properties"]["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": {"Fn::GetAtt": ["RenderStateMachine", "Arn"]}}]
    topics = [name for name, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    assert alarms[0]["Properties"]["AlarmActions"] == [{"Ref": topics[0]}]
