"""The synthesized construct makes a working stack in moto, and a render completes on it.

The default stack's template (synthesized once, conftest.py) is created as it is with
CloudFormation's CreateStack, no SAM involved, on the patched moto server of
tests/integration/aws/moto_stack.py; its patches that matter here do what AWS does
server-side: state machines created by CloudFormation land in the executing Step
Functions backend, and every Lambda invocation runs the real
``hfaction.aws.handler.handle`` in this process (moto's Lambda only echoes without
Docker). Then ``hfaction lambda render --stack-name ... --wait`` and ``progress`` run as
subprocesses, as a user runs them: they find the bucket and the state machine from the
stack's outputs, or from ``--bucket``/``--state-machine-arn``. The render needs Chromium and
ffmpeg (skipped naming them, failed under HFACTION_REQUIRE_TOOLS=1).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.integration.aws.moto_stack import ACCOUNT, REGION, MotoStack, moto_stack
from tests.integration.cdk.conftest import DEFAULT_STACK, IMAGE_URI, Synthesized
from tests.integration.conftest import _missing_tools, decode_gray

STACK = "hfcdkmoto"  # the CloudFormation stack; physical names come from project_name
CHUNK = 20  # the motion fixture's 60 frames -> 3 chunks


def hfaction(aws: MotoStack, *argv: str) -> dict[str, Any]:
    run = subprocess.run([sys.executable, "-m", "hfaction", *argv], env=aws.env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, f"hfaction {' '.join(argv)}: {run.stderr[-3000:]}"
    result = json.loads(run.stdout)
    assert isinstance(result, dict)
    return result


def test_cdk_stack_renders_in_moto(synthesized: Synthesized, tmp_path: Path) -> None:
    missing = _missing_tools()
    if missing:
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(f"the render needs {missing} (apt-get install chromium-headless-shell "
                        "ffmpeg)")
        pytest.skip(f"the render needs {missing}")
    template = synthesized.templates[DEFAULT_STACK]
    with moto_stack(work=tmp_path / "aws") as aws:
        cloudformation = aws.client("cloudformation")
        cloudformation.create_stack(StackName=STACK, TemplateBody=json.dumps(template),
                                    Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM"])
        cloudformation.get_waiter("stack_create_complete").wait(
            StackName=STACK, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        described = cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in described["Outputs"]}
        bucket = f"hfaction-{ACCOUNT}-{REGION}"
        assert outputs["RenderBucketName"] == bucket
        assert outputs["RenderStateMachineArn"].endswith(":stateMachine:hfaction-render")
        assert outputs["Concurrency"] == "8"

        function = aws.client("lambda").get_function(FunctionName="hfaction-render")
        assert function["Configuration"]["Environment"]["Variables"]["RENDER_BUCKET"] == bucket
        assert function["Code"]["ImageUri"] == IMAGE_URI
        assert function["Concurrency"]["ReservedConcurrentExecutions"] == 10
        definition = aws.client("stepfunctions").describe_state_machine(
            stateMachineArn=outputs["RenderStateMachineArn"])["definition"]
        assert "${" not in definition
        assert f'"FunctionName":"{outputs["RenderFunctionArn"]}"' in definition
        # (moto's CloudFormation makes buckets without lifecycle rules or bucket policies:
        # those are checked in the synthesized template, test_cdk_synth.py.)

        out = tmp_path / "out.mp4"
        done = hfaction(aws, "lambda", "render", str(FIXTURES / "motion"), "--wait", "-o",
                        str(out), "--chunk-size", str(CHUNK), "--stack-name", STACK, "--json")
        assert done["status"] == "SUCCEEDED"
        assert done["chunks"] == {"total": 3, "done": 3, "in_flight": 0}
        assert done["frames"] == {"total": 60, "done": 60}
        assert done["output_uri"] == f"s3://{bucket}/renders/{done['render_id']}/out.mp4"
        assert out.stat().st_size == done["output_bytes"]
        assert decode_gray(out).shape[0] == 60
        assert sorted(aws.lambda_.actions) == \
            ["assemble", "plan", "render_chunk", "render_chunk", "render_chunk"]

        # progress finds the render through the stack's outputs, or through explicit names.
        by_stack = hfaction(aws, "lambda", "progress", done["render_id"], "--stack-name",
                            STACK, "--json")
        explicit = hfaction(aws, "lambda", "progress", done["render_id"], "--bucket", bucket,
                            "--state-machine-arn", outputs["RenderStateMachineArn"], "--json")
        for current in (by_stack, explicit):
            assert current["status"] == "SUCCEEDED"
            assert current["frames"] == {"total": 60, "done": 60}
            assert current["output_uri"] == done["output_uri"]
