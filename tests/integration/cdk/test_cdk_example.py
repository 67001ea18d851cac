"""examples/cdk-app (the README's CDK app) synthesizes the render stack it promises: with
``-c image_uri`` an image already in ECR and nothing to bootstrap, without it hfaction's
image as a Docker image asset (``cdk bootstrap`` once)."""

from __future__ import annotations

import importlib.util
import json
import runpy
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.integration.aws.sfn_harness import REPO
from tests.integration.cdk.compare import compare, reference
from tests.integration.cdk.conftest import IMAGE_URI, Synthesized
from tests.integration.cdk.test_cdk_docker_asset import FakePip

APP = REPO / "examples" / "cdk-app" / "app.py"


def example_app() -> ModuleType:
    spec = importlib.util.spec_from_file_location("hfaction_cdk_example_app", APP)
    assert spec is not None and spec.loader is not None
    example = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(example)
    return example


def render_resources(template: dict[str, Any]) -> dict[str, Any]:
    """The render stack's resources (the template's logical ids), not the example's own."""
    return {name: r for name, r in template["Resources"].items()
            if name.startswith(("Render", "Preview", "Batch", "Notify"))
            and r["Type"] not in ("AWS::CloudWatch::Alarm", "AWS::SNS::Topic",
                                  "AWS::CDK::Metadata")}


def assert_alarm_on_failed_renders(template: dict[str, Any]) -> None:
    resources = template["Resources"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    assert len(alarms) == 1
    assert alarms[0]["Properties"]["Dimensions"] == [
        {"Name": "StateMachineArn", "Value": {"Fn::GetAtt": ["RenderStateMachine", "Arn"]}}]
    topics = [name for name, r in resources.items() if r["Type"] == "AWS::SNS::Topic"]
    assert alarms[0]["Properties"]["AlarmActions"] == [{"Ref": topics[0]}]


def run_as_the_cdk_cli(monkeypatch: pytest.MonkeyPatch, outdir: Path,
                       context: dict[str, str]) -> None:
    """The app's ``__main__``, as ``cdk synth``/``cdk deploy`` runs it: the CLI hands it the
    output folder and the ``-c`` context (CDK_OUTDIR, CDK_CONTEXT_JSON; given here to the
    App directly, jsii's Node.js process having started with this process's environment)."""
    import aws_cdk as cdk

    real = cdk.App
    monkeypatch.setattr(cdk, "App", lambda: real(outdir=str(outdir), context=context,
                                                 analytics_reporting=False))
    runpy.run_path(str(APP), run_name="__main__")


def test_example_app_synthesizes_the_render_stack_and_its_alarm(
        synthesized: Synthesized, tmp_path: Path) -> None:
    # `synthesized` first: it skips without aws-cdk-lib or Node.js, and has started jsii.
    import aws_cdk as cdk

    app = cdk.App(outdir=str(tmp_path), analytics_reporting=False)
    stack = example_app().build(app, IMAGE_URI)
    assembly = app.synth()
    template = assembly.get_stack_by_name(stack.stack_name).template
    found = compare(reference({"ImageUri": IMAGE_URI, "ProjectName": "video",
                               "Concurrency": 16}),
                    {"Resources": render_resources(template), "Outputs": template["Outputs"]})
    assert not found, "\n".join(found)
    assert_alarm_on_failed_renders(template)
    # An image in ECR: no asset, and no bootstrap version check (no `cdk bootstrap`).
    assert "Rules" not in template and "BootstrapVersion" not in template.get("Parameters", {})
    manifest = json.loads((tmp_path / f"{stack.stack_name}.assets.json").read_text())
    assert not manifest.get("dockerImages")


def test_example_app_without_an_image_builds_hfactions_as_an_asset(
        synthesized: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cdk deploy`` with no ``-c image_uri``: the app runs as the CDK CLI runs it (its
    ``__main__``, the context and output folder from the environment) and the render
    image becomes a Docker image asset; the stack then checks the bootstrap's version."""
    import hfaction.proc

    pip = FakePip()  # the image's wheels would come from the package index
    monkeypatch.setattr(hfaction.proc, "run", pip)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    outdir = tmp_path / "cdk.out"
    run_as_the_cdk_cli(monkeypatch, outdir, {})

    template = json.loads((outdir / "video.template.json").read_text())
    code = template["Resources"]["RenderFunction"]["Properties"]["Code"]
    uri = code["ImageUri"]["Fn::Sub"]
    assert "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}:" in uri
    manifest = json.loads((outdir / "video.assets.json").read_text())
    image = manifest["dockerImages"][uri.rsplit(":", 1)[1]]
    assert image["source"]["platform"] == "linux/amd64"  # the template's Architecture
    assert (outdir / image["source"]["directory"] / "Dockerfile").read_bytes() == \
        (REPO / "handler" / "Dockerfile").read_bytes()
    assert "BootstrapVersion" in template["Parameters"] and template["Rules"]
    # Everything else is the SAM template's stack, with that image.
    code["ImageUri"] = IMAGE_URI
    found = compare(reference({"ImageUri": IMAGE_URI, "ProjectName": "video",
                               "Concurrency": 16}),
                    {"Resources": render_resources(template), "Outputs": template["Outputs"]})
    assert not found, "\n".join(found)
    assert_alarm_on_failed_renders(template)


def test_example_app_with_an_image_uri_in_its_context(
        synthesized: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``cdk deploy -c image_uri=...``: that image, no asset, nothing to bootstrap."""
    outdir = tmp_path / "cdk.out"
    run_as_the_cdk_cli(monkeypatch, outdir, {"image_uri": IMAGE_URI})
    template = json.loads((outdir / "video.template.json").read_text())
    assert template["Resources"]["RenderFunction"]["Properties"]["Code"] == {
        "ImageUri": IMAGE_URI}
    assert "Rules" not in template
    assert not json.loads((outdir / "video.assets.json").read_text()).get("dockerImages")
