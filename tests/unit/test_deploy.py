"""Deploy planning against an account's limits (a fake facade: pure decisions, no AWS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hfaction import __version__
from hfaction.aws.deploy import (
    DeployOptions,
    DeployPlan,
    change_set_request,
    plan_deploy,
    template_parameter_names,
)
from hfaction.aws.facade import StackInfo
from hfaction.errors import ConcurrencyQuotaTooLow, InvalidOption, StackNotFound


class FakeFacade:
    region = "eu-west-1"

    def __init__(self, limit: int, unreserved: int, stack: StackInfo | None = None,
                 account: str | None = None, buckets: tuple[str, ...] = ()) -> None:
        self.limit, self.unreserved, self._stack = limit, unreserved, stack
        self.account, self.buckets = account, buckets

    def account_id(self) -> str | None:
        return self.account

    def bucket_exists(self, name: str) -> bool:
        return name in self.buckets

    def account_concurrency(self) -> tuple[int, int]:
        return self.limit, self.unreserved

    def stack(self, name: str) -> StackInfo:
        if self._stack is None:
            raise StackNotFound(f"stack {name!r} does not exist")
        return self._stack


def plan_for(facade: Any, **options: Any) -> DeployPlan:
    return plan_deploy(DeployOptions(**options), facade)


def test_a_roomy_account_reserves_concurrency_plus_two() -> None:
    plan = plan_for(FakeFacade(1000, 1000), concurrency=16, image_uri="repo:tag")
    assert plan.parameters["Concurrency"] == "16"
    assert plan.parameters["ReserveConcurrency"] == "true"
    assert plan.parameters["HfactionVersion"] == __version__
    assert set(plan.tags) == {"hfaction-version", "hfaction-digest"}
    assert plan.tags["hfaction-version"] == __version__
    assert not plan.build_image and plan.parameters["ImageUri"] == "repo:tag"
    assert plan.notes == []


def test_a_new_account_with_ten_executions_renders_unreserved_and_says_so() -> None:
    plan = plan_for(FakeFacade(10, 10), concurrency=8)
    assert plan.parameters["ReserveConcurrency"] == "false"
    assert plan.parameters["Concurrency"] == "8"
    assert len(plan.notes) == 1 and "10 concurrent executions" in plan.notes[0]
    smaller = plan_for(FakeFacade(6, 6), concurrency=8)
    assert smaller.parameters["Concurrency"] == "4"  # room for a plan and an assemble


def test_an_account_of_two_executions_is_refused() -> None:
    with pytest.raises(ConcurrencyQuotaTooLow) as caught:
        plan_for(FakeFacade(2, 2))
    assert caught.value.exit_code == 2 and "Service Quotas" in str(caught.value)


def test_updating_a_stack_counts_its_own_reservation_as_available() -> None:
    # 110 unreserved now, and the stack holds 8 + 2: re-deploying at 16 needs 18 <= 110+10-100.
    existing = StackInfo("video", "b", "arn:sm", "arn:fn",
                         parameters={"Concurrency": "8", "ReserveConcurrency": "true"})
    assert plan_for(FakeFacade(1000, 110, existing), stack_name="video",
                    concurrency=18).parameters["ReserveConcurrency"] == "true"
    assert plan_for(FakeFacade(1000, 110), stack_name="video",
                    concurrency=18).parameters["ReserveConcurrency"] == "false"


@pytest.mark.parametrize("options", [
    {"stack_name": "Video"}, {"stack_name": "a" * 36}, {"stack_name": "video-"},
    {"architecture": "sparc"}, {"memory": 64}, {"memory": 20000}, {"concurrency": 0},
])
def test_bad_deploy_options(options: dict[str, Any]) -> None:
    with pytest.raises(InvalidOption):
        plan_for(FakeFacade(1000, 1000), **options)


def request_for(plan: DeployPlan, deployed: dict[str, str] | None = None) -> dict[str, Any]:
    return change_set_request(plan, "{}", deployed, template_parameter_names(),
                              change_set_name="hfaction-deploy1")


def parameters_of(request: dict[str, Any]) -> dict[str, Any]:
    return {p["ParameterKey"]: p.get("ParameterValue", "(previous)" if p.get(
        "UsePreviousValue") else None) for p in request["Parameters"]}


def test_the_change_set_request_is_data() -> None:
    plan = plan_for(FakeFacade(1000, 1000), stack_name="video", region="eu-west-1",
                    image_uri="repo:tag")
    request = request_for(plan)
    assert request["StackName"] == "video" and request["ChangeSetType"] == "CREATE"
    assert request["ChangeSetName"].startswith("hfaction-deploy")
    assert request["TemplateBody"] == "{}"
    assert set(request["Capabilities"]) == {"CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"}
    assert {tag["Key"] for tag in request["Tags"]} == {"hfaction-version", "hfaction-digest"}
    parameters = parameters_of(request)
    assert parameters["ImageUri"] == "repo:tag" and parameters["ReserveConcurrency"] == "true"
    # A new stack: what the plan does not set takes the template's default.
    assert "PermissionsBoundaryArn" not in parameters and "WebhookSecret" not in parameters
    # An existing stack: the rest keeps its value.
    update = request_for(plan, {"PermissionsBoundaryArn": "arn:b", "WebhookSecret": "****"})
    assert update["ChangeSetType"] == "UPDATE"
    assert parameters_of(update)["PermissionsBoundaryArn"] == "(previous)"
    assert parameters_of(update)["WebhookSecret"] == "(previous)"
    assert set(parameters_of(update)) <= set(template_parameter_names())
    built = plan_for(FakeFacade(1000, 1000))
    assert built.build_image and "ImageUri" not in built.parameters


@pytest.mark.parametrize(("uri", "repository"), [
    ("123.dkr.ecr.us-east-1.amazonaws.com/hfaction:0.1.0",
     "123.dkr.ecr.us-east-1.amazonaws.com/hfaction"),
    ("123.dkr.ecr.us-east-1.amazonaws.com/team/hfaction@sha256:abc",
     "123.dkr.ecr.us-east-1.amazonaws.com/team/hfaction"),
    ("localhost:5000/hfaction", "localhost:5000/hfaction"),
])
def test_image_repository_drops_tag_and_digest(uri: str, repository: str) -> None:
    from hfaction.aws.deploy import image_repository

    assert image_repository(uri) == repository


class FakeEcr:
    def __init__(self, pushed: dict[tuple[str, str], str]) -> None:
        self.pushed = pushed
        self.created: list[str] = []

    def image_uri_if_pushed(self, repository: str, tag: str) -> str | None:
        return self.pushed.get((repository, tag))

    def ensure_repository(self, name: str) -> str:
        self.created.append(name)
        return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{name}"

    def ecr_login(self) -> tuple[str, str]:
        return "123456789012.dkr.ecr.us-east-1.amazonaws.com", "s3cr3t-token"


def test_an_image_already_pushed_for_this_recipe_is_reused(tmp_path: Path) -> None:
    from hfaction.aws.image import ensure_image

    calls: list[list[str]] = []
    facade = FakeEcr({("video-render", "0.1.0-abc-x86_64"): "repo/video-render:0.1.0-abc-x86_64"})
    image, built = ensure_image(facade, "video", "x86_64", recipe="0.1.0-abc",
                                dockerfile=tmp_path / "Dockerfile", app=tmp_path / "app.py",
                                repo_root=tmp_path, run=lambda args, **_: calls.append(args),
                                engine="docker")
    assert (image, built) == ("repo/video-render:0.1.0-abc-x86_64", False)
    assert calls == [] and facade.created == []


def test_a_new_recipe_is_built_and_pushed_with_the_password_on_stdin(tmp_path: Path) -> None:
    from hfaction.aws.image import ensure_image

    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    (tmp_path / "app.py").write_text("")
    (tmp_path / "pyproject.toml").write_text("")  # a checkout: the wheel is built from it
    calls: list[tuple[list[str], dict[str, Any]]] = []

    def run(args: list[str], **options: Any) -> None:
        calls.append((args, options))
        if args[2:4] == ["pip", "wheel"]:
            Path(args[args.index("--wheel-dir") + 1], "hfaction-0.1.0-py3-none-any.whl"
                 ).write_text("")

    facade = FakeEcr({})
    image, built = ensure_image(facade, "video", "arm64", recipe="0.1.0-abc",
                                dockerfile=tmp_path / "Dockerfile", app=tmp_path / "app.py",
                                repo_root=tmp_path, run=run, engine="podman")
    uri = "123456789012.dkr.ecr.us-east-1.amazonaws.com/video-render:0.1.0-abc-arm64"
    assert (image, built) == (uri, True)
    assert facade.created == ["video-render"]
    commands = [args for args, _ in calls]
    assert commands[0][-1] == str(tmp_path)  # hfaction's wheel from this checkout
    assert "manylinux_2_28_aarch64" in commands[1] and "awslambdaric" in commands[1]
    assert commands[2][:4] == ["podman", "build", "--platform", "linux/arm64"]
    assert commands[2][commands[2].index("--tag") + 1] == uri
    assert commands[3][:2] == ["podman", "login"] and "s3cr3t-token" not in commands[3]
    assert calls[3][1]["input_bytes"] == b"s3cr3t-token"
    assert commands[4] == ["podman", "push", uri]


def _deployed(plan_: DeployPlan, **changes: Any) -> StackInfo:
    from hfaction.aws.deploy import recipe_digest
    from hfaction.aws.image import image_tag

    parameters = dict(plan_.parameters)
    parameters["ImageUri"] = ("123456789012.dkr.ecr.us-east-1.amazonaws.com/video-render:"
                              + image_tag(recipe_digest(), "x86_64"))
    fields: dict[str, Any] = {"name": "video", "bucket": "b", "state_machine_arn": "arn:sm",
                              "function_arn": "arn:fn", "version": __version__,
                              "status": "UPDATE_COMPLETE", "parameters": parameters,
                              "tags": dict(plan_.tags)}
    parameters.update(changes.pop("parameters", {}))
    fields.update(changes)
    return StackInfo(**fields)


def test_only_if_outdated_skips_a_stack_deployed_by_this_version_and_recipe() -> None:
    from hfaction.aws.deploy import current_stack

    plan_ = plan_for(FakeFacade(1000, 900), stack_name="video")
    stack = _deployed(plan_)
    assert current_stack(plan_, FakeFacade(1000, 900, stack)) == stack


@pytest.mark.parametrize("changes", [
    {"version": "0.0.1"},
    {"status": "UPDATE_ROLLBACK_FAILED"},
    {"parameters": {"Concurrency": "3"}},
    {"parameters": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/video-render:"
                                "old-x86_64"}},
])
def test_only_if_outdated_deploys_when_anything_differs(changes: dict[str, Any]) -> None:
    from hfaction.aws.deploy import current_stack

    plan_ = plan_for(FakeFacade(1000, 900), stack_name="video")
    assert current_stack(plan_, FakeFacade(1000, 900, _deployed(plan_, **changes))) is None


def test_only_if_outdated_deploys_a_missing_stack() -> None:
    from hfaction.aws.deploy import current_stack

    plan_ = plan_for(FakeFacade(1000, 900), stack_name="video")
    assert current_stack(plan_, FakeFacade(1000, 900)) is None


def test_only_if_outdated_with_an_explicit_image_compares_that_image() -> None:
    from hfaction.aws.deploy import current_stack

    image = "123456789012.dkr.ecr.us-east-1.amazonaws.com/video-render:mine"
    plan_ = plan_for(FakeFacade(1000, 900), stack_name="video", image_uri=image)
    same = _deployed(plan_, parameters={"ImageUri": image})
    assert current_stack(plan_, FakeFacade(1000, 900, same)) is not None
    other = _deployed(plan_, parameters={"ImageUri": image + "2"})
    assert current_stack(plan_, FakeFacade(1000, 900, other)) is None


# --- issue 13: a stale stack is one whose template, state machine or handler changed ---------


@pytest.mark.parametrize("changed", ["template.yaml", "statemachine/render.asl.json",
                                     "handler/Dockerfile", "handler/app.py", "handler.py"])
def test_only_if_outdated_deploys_when_the_template_asl_or_handler_changed(
        changed: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The same version and parameters, but a stack deployed from another template, state
    machine or handler code is outdated: the digest tag (and, for the code, the image tag
    made from it) differs."""
    from hfaction.aws import deploy

    plan_ = plan_for(FakeFacade(1000, 900), stack_name="video")
    stack = _deployed(plan_)
    assert deploy.current_stack(plan_, FakeFacade(1000, 900, stack)) == stack

    if changed == "handler.py":  # hfaction's own code, which the image runs
        real = deploy.code_digest()
        monkeypatch.setattr(deploy, "code_digest", lambda: "0" * 64)
        assert deploy.code_digest() != real
    else:
        original = deploy.resource_path(changed)
        edited = tmp_path / changed
        edited.parent.mkdir(parents=True, exist_ok=True)
        edited.write_bytes(original.read_bytes() + b"\n")
        real_path = deploy.resource_path
        monkeypatch.setattr(deploy, "resource_path",
                            lambda relative: edited if relative == changed
                            else real_path(relative))
    replan = plan_for(FakeFacade(1000, 900), stack_name="video")
    assert replan.tags["hfaction-digest"] != plan_.tags["hfaction-digest"]
    assert deploy.current_stack(replan, FakeFacade(1000, 900, stack)) is None


def test_the_image_code_digest_covers_the_handler_and_the_render_core() -> None:
    from hfaction.aws import deploy

    digest = deploy.code_digest()
    assert len(digest) == 64 and digest == deploy.code_digest()
    assert deploy.recipe_digest().startswith(f"{__version__}-")


# --- issue 13: a retained bucket is adopted by a new stack of the same name -----------------


def test_a_new_stack_adopts_the_bucket_a_deleted_stack_of_its_name_kept() -> None:
    kept = "video-111122223333-eu-west-1"
    plan_ = plan_for(FakeFacade(1000, 1000, account="111122223333", buckets=(kept,)),
                     stack_name="video", image_uri="repo:tag")
    assert plan_.parameters["AdoptBucket"] == "true"
    assert len(plan_.notes) == 1 and f"adopting the bucket {kept}" in plan_.notes[0]
    fresh = plan_for(FakeFacade(1000, 1000, account="111122223333"), stack_name="video",
                     image_uri="repo:tag")
    assert fresh.parameters["AdoptBucket"] == "false" and fresh.notes == []
    # An existing stack keeps what it had: its own bucket, or the adopted one.
    own = StackInfo("video", kept, "arn:sm", "arn:fn", parameters={"AdoptBucket": "false"})
    adopted = StackInfo("video", kept, "arn:sm", "arn:fn", parameters={"AdoptBucket": "true"})
    for stack, expected in ((own, "false"), (adopted, "true")):
        plan_ = plan_for(FakeFacade(1000, 1000, stack, account="111122223333",
                                    buckets=(kept,)), stack_name="video", image_uri="r:t")
        assert plan_.parameters["AdoptBucket"] == expected and plan_.notes == []


# --- issue 13: the permissions boundary of the stack's roles ---------------------------------

BOUNDARY = "arn:aws:iam::123456789012:policy/video-boundary"


def test_the_permissions_boundary_is_passed_as_the_template_parameter() -> None:
    from hfaction.aws.deploy import current_stack

    plan = plan_for(FakeFacade(1000, 1000), stack_name="video", image_uri="repo:tag",
                    permissions_boundary=BOUNDARY)
    assert plan.parameters["PermissionsBoundaryArn"] == BOUNDARY
    assert parameters_of(request_for(plan))["PermissionsBoundaryArn"] == BOUNDARY
    # Not given: not sent, so the stack keeps its own (UsePreviousValue); a new stack's
    # default is none.
    assert "PermissionsBoundaryArn" not in plan_for(FakeFacade(1000, 1000)).parameters
    # "" removes it.
    removed = plan_for(FakeFacade(1000, 1000), image_uri="repo:tag", permissions_boundary="")
    assert parameters_of(request_for(removed, {"PermissionsBoundaryArn": BOUNDARY}))[
        "PermissionsBoundaryArn"] == ""
    # --only-if-outdated: another boundary is a change.
    built = plan_for(FakeFacade(1000, 900), stack_name="video", permissions_boundary=BOUNDARY)
    deployed = _deployed(built, parameters={"PermissionsBoundaryArn": ""})
    assert current_stack(built, FakeFacade(1000, 900, deployed)) is None
    assert current_stack(built, FakeFacade(1000, 900, _deployed(built))) is not None


@pytest.mark.parametrize("boundary", [
    "video-boundary", "arn:aws:iam::123456789012:role/video-boundary",
    "arn:aws:iam::*:policy/video-boundary", "arn:aws:iam::123456789012:policy/a b",
])
def test_a_permissions_boundary_that_is_no_policy_arn_is_refused(boundary: str) -> None:
    with pytest.raises(InvalidOption, match="--permissions-boundary"):
        plan_for(FakeFacade(1000, 1000), permissions_boundary=boundary)
