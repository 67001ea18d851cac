"""The CDK construct, synthesized once per test session.

Synthesis runs aws-cdk-lib for real: jsii starts the library in Node.js (``node`` on
PATH) and the first synthesis takes about 15 s, so every test here shares one App with
three stacks: the construct with the template's defaults, with every prop changed, and
with its image given as a token and user resources (alarms, grants) attached through its
L2 interfaces. Without
aws-cdk-lib (``pip install -e ".[cdk]"``) or Node.js the tests skip, naming what is
missing, except under HFACTION_REQUIRE_TOOLS=1 (CI), where they fail.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

IMAGE_URI = "123456789012.dkr.ecr.us-east-1.amazonaws.com/hfaction-render:0.1.0"
DEFAULT_STACK = "hfcdk"
CUSTOM_STACK = "hfcdkprops"
EXTRAS_STACK = "hfcdkextras"
# Every prop away from its default (as parameter values, the reference's terms).
CUSTOM_VALUES: dict[str, Any] = {
    "ProjectName": "hfcdkprops", "Concurrency": 3, "MemorySize": 4096,
    "Architecture": "arm64", "IntermediateRetentionDays": 2, "LogRetentionDays": 14,
    "HfactionVersion": "9.9.9", "ReserveConcurrency": "true",
    "ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/other-render:9.9.9",
    "PermissionsBoundaryArn": "arn:aws:iam::123456789012:policy/hfcdkprops-boundary",
}


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: synthesis needs no browser nor ffmpeg (the
    moto render test checks for them itself)."""


def require_cdk() -> None:
    missing = [what for what, present in (
        ("aws-cdk-lib (pip install -e '.[cdk]')", importlib.util.find_spec("aws_cdk")),
        ("Node.js (apt-get install nodejs)", shutil.which("node")),
    ) if not present]
    if missing:
        message = f"the CDK tests need {', '.join(missing)}"
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)


@dataclass
class Synthesized:
    templates: dict[str, dict[str, Any]]  # by stack name
    files: dict[str, Path]  # the template files cdk deploy would use
    constructs: dict[str, Any]  # the HfactionRenderStack of each stack
    resolve: dict[str, Any]  # Stack.resolve of each stack


@pytest.fixture(scope="session")
def synthesized(tmp_path_factory: pytest.TempPathFactory) -> Synthesized:
    require_cdk()
    import aws_cdk as cdk
    from aws_cdk import aws_cloudwatch as cloudwatch
    from aws_cdk import aws_ecr as ecr
    from aws_cdk import aws_iam as iam

    from hfaction.cdk import HfactionRenderStack

    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(outdir=str(outdir), analytics_reporting=False)

    def stack(name: str) -> cdk.Stack:
        # No bootstrap version rule: the stack deploys without `cdk bootstrap` (and in moto).
        return cdk.Stack(app, name, synthesizer=cdk.DefaultStackSynthesizer(
            generate_bootstrap_version_rule=False))

    stacks = {name: stack(name) for name in (DEFAULT_STACK, CUSTOM_STACK, EXTRAS_STACK)}
    constructs = {
        DEFAULT_STACK: HfactionRenderStack(stacks[DEFAULT_STACK], "Render", image_uri=IMAGE_URI),
        CUSTOM_STACK: HfactionRenderStack(
            stacks[CUSTOM_STACK], "Render", image_uri=CUSTOM_VALUES["ImageUri"],
            project_name=CUSTOM_VALUES["ProjectName"],
            concurrency=CUSTOM_VALUES["Concurrency"], memory_size=CUSTOM_VALUES["MemorySize"],
            architecture=CUSTOM_VALUES["Architecture"],
            intermediate_retention_days=CUSTOM_VALUES["IntermediateRetentionDays"],
            log_retention_days=CUSTOM_VALUES["LogRetentionDays"],
            hfaction_version=CUSTOM_VALUES["HfactionVersion"], reserve_concurrency=True,
            permissions_boundary_arn=CUSTOM_VALUES["PermissionsBoundaryArn"]),
        # The image as a token: the URI of a repository made in the same stack.
        EXTRAS_STACK: HfactionRenderStack(
            stacks[EXTRAS_STACK], "Render", project_name="hfcdkextras",
            image_uri=ecr.Repository(stacks[EXTRAS_STACK], "Images").repository_uri_for_tag(
                "0.1.0")),
    }
    # What a user attaches through the L2 interfaces, without re-deriving ARNs.
    extras = constructs[EXTRAS_STACK]
    cloudwatch.Alarm(stacks[EXTRAS_STACK], "RenderErrors", threshold=1, evaluation_periods=1,
                     metric=extras.render_function.metric_errors())
    cloudwatch.Alarm(stacks[EXTRAS_STACK], "RendersFailed", threshold=1, evaluation_periods=1,
                     metric=extras.state_machine.metric_failed())
    reader = iam.Role(stacks[EXTRAS_STACK], "Reader",
                      assumed_by=iam.ServicePrincipal("ec2.amazonaws.com"))
    extras.bucket.grant_read(reader, "renders/*")
    extras.state_machine.grant_start_execution(reader)

    assembly = app.synth()
    templates, files = {}, {}
    for name in stacks:
        artifact = assembly.get_stack_by_name(name)
        files[name] = outdir / artifact.template_file
        templates[name] = json.loads(files[name].read_text())
    return Synthesized(templates=templates, files=files, constructs=constructs,
                       resolve={name: s.resolve for name, s in stacks.items()})
