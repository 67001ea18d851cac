"""Deploy planning against an account's limits (a fake facade: pure decisions, no AWS)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from hfaction import __version__
from hfaction.aws.deploy import DeployOptions, DeployPlan, plan_deploy, sam_deploy_args
from hfaction.aws.facade import StackInfo
from hfaction.errors import ConcurrencyQuotaTooLow, InvalidOption, StackNotFound


class FakeFacade:
    def __init__(self, limit: int, unreserved: int, stack: StackInfo | None = None) -> None:
        self.limit, self.unreserved, self._stack = limit, unreserved, stack

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
    assert plan.tags == {"hfaction-version": __version__}
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


def test_sam_deploy_arguments_are_data() -> None:
    plan = plan_for(FakeFacade(1000, 1000), stack_name="video", region="eu-west-1",
                    image_uri="repo:tag")
    args = sam_deploy_args("sam", plan, Path("/t/template.yaml"))
    assert args[:2] == ["sam", "deploy"]
    assert "--no-fail-on-empty-changeset" in args  # re-running an unchanged stack is a no-op
    assert args[args.index("--stack-name") + 1] == "video"
    assert args[args.index("--region") + 1] == "eu-west-1"
    assert "ImageUri=repo:tag" in args and "ReserveConcurrency=true" in args
    assert args[args.index("--image-repository") + 1] == "repo"
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
                              "status": "UPDATE_COMPLETE", "parameters": parameters}
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
