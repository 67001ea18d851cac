"""Issue 13: without ``image_uri`` the construct builds the render image itself, as a
Docker image asset of the packaged recipe that ``cdk deploy`` builds and pushes.

Synthesis needs no Docker: it stages the build context (handler/Dockerfile, app.py and
the wheels/ the Dockerfile installs from, hfaction.cdk.image) and copies it into the cloud
assembly. pip is the one thing replaced here (it would download the image's dependency
wheels from the package index): a stand-in writes hfaction's wheel where ``pip wheel``
would and records both pip commands.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.integration.aws.sfn_harness import REPO
from tests.integration.cdk.compare import compare, reference
from tests.integration.cdk.conftest import IMAGE_URI, Synthesized


class FakePip:
    def __init__(self) -> None:
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **_: Any) -> None:
        argv = [str(part) for part in command]
        self.commands.append(argv)
        if argv[1:4] == ["-m", "pip", "wheel"]:
            wheels = Path(argv[argv.index("--wheel-dir") + 1])
            (wheels / "hfaction-0.1.0-py3-none-any.whl").write_bytes(b"a wheel")


def synth(outdir: Path) -> tuple[dict[str, Any], Path, Any]:
    import aws_cdk as cdk

    from hfaction.cdk import HfactionRenderStack

    app = cdk.App(outdir=str(outdir), analytics_reporting=False)
    stack = cdk.Stack(app, "hfcdkimage")
    render = HfactionRenderStack(stack, "Render", project_name="hfcdkimage",
                                 architecture="arm64")
    artifact = app.synth().get_stack_by_name("hfcdkimage")
    return artifact.template, outdir, render


def test_without_a_uri_the_construct_builds_a_docker_asset_of_the_packaged_recipe(
        synthesized: Synthesized, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `synthesized` first: it skips without aws-cdk-lib or Node.js, and has started jsii.
    import hfaction.proc

    pip = FakePip()
    monkeypatch.setattr(hfaction.proc, "run", pip)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    template, outdir, render = synth(tmp_path / "cdk.out")

    # The function's image is the asset, in the bootstrap's container asset repository.
    code = template["Resources"]["RenderFunction"]["Properties"]["Code"]
    uri = code["ImageUri"]["Fn::Sub"]
    assert "cdk-hnb659fds-container-assets-${AWS::AccountId}-${AWS::Region}:" in uri
    asset_hash = uri.rsplit(":", 1)[1]
    manifest = json.loads((outdir / "hfcdkimage.assets.json").read_text())
    image = manifest["dockerImages"][asset_hash]
    assert image["source"]["directory"] == f"asset.{asset_hash}"
    assert image["source"]["platform"] == "linux/arm64"  # the function's architecture
    context = outdir / image["source"]["directory"]
    assert (context / "Dockerfile").read_bytes() == (REPO / "handler/Dockerfile").read_bytes()
    assert (context / "app.py").read_bytes() == (REPO / "handler/app.py").read_bytes()
    assert [p.name for p in (context / "wheels").iterdir()] == ["hfaction-0.1.0-py3-none-any.whl"]
    # The wheels for the image's Python and architecture, as `hfaction lambda deploy` gets them.
    assert [command[3] for command in pip.commands] == ["wheel", "download"]
    assert "manylinux2014_aarch64" in pip.commands[1]
    assert render.image_asset is not None
    # Everything else is the SAM template's stack with that image.
    resources = {name: r for name, r in template["Resources"].items()
                 if name.startswith(("Render", "Preview", "Batch", "Notify"))
                 and r["Type"] != "AWS::CDK::Metadata"}
    code["ImageUri"] = IMAGE_URI
    found = compare(reference({"ImageUri": IMAGE_URI, "ProjectName": "hfcdkimage",
                               "Architecture": "arm64"}),
                    {"Resources": resources, "Outputs": template["Outputs"]})
    assert not found, "\n".join(found)

    # A second synthesis reuses the staged context: no pip, the same asset.
    again, _, _ = synth(tmp_path / "cdk.out2")
    assert again["Resources"]["RenderFunction"]["Properties"]["Code"]["ImageUri"][
        "Fn::Sub"] == uri
    assert len(pip.commands) == 2
