"""The render function's size: Lambda's CPU share, pipelines per size, and one default."""

from __future__ import annotations

import inspect
from pathlib import Path

import pytest
import yaml

from hfaction.aws import sizing
from hfaction.aws.deploy import DeployOptions
from hfaction.cli.lambda_ import deploy as deploy_command
from hfaction.errors import InvalidOption

REPO = Path(__file__).resolve().parents[2]


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_every_default_size_is_the_one_chosen_from_the_benchmark() -> None:
    template = yaml.load((REPO / "template.yaml").read_text(), Loader=_Loader)
    parameters = template["Parameters"]
    assert parameters["MemorySize"]["Default"] == sizing.DEFAULT_MEMORY_MB
    assert parameters["Architecture"]["Default"] == sizing.DEFAULT_ARCHITECTURE
    assert DeployOptions().memory == sizing.DEFAULT_MEMORY_MB
    defaults = {name: p.default for name, p in inspect.signature(deploy_command).parameters.items()}
    assert defaults["memory"] == sizing.DEFAULT_MEMORY_MB
    assert defaults["architecture"] == sizing.DEFAULT_ARCHITECTURE


@pytest.mark.parametrize(("memory", "vcpus", "pipelines"), [
    (1024, 1024 / 1769, 1), (1769, 1.0, 1), (3538, 2.0, 1), (5307, 3.0, 2), (7076, 4.0, 3),
    (10240, 10240 / 1769, 4),
])
def test_pipelines_follow_the_vcpus_lambda_gives(memory: int, vcpus: float,
                                                 pipelines: int) -> None:
    assert sizing.vcpus(memory) == pytest.approx(vcpus)
    assert sizing.capture_pipelines(memory) == pipelines


def test_the_handler_takes_an_override_else_its_memory() -> None:
    assert sizing.pipelines_here({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "7076"}) == 3
    assert sizing.pipelines_here({"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "7076",
                                  sizing.PIPELINES_VARIABLE: "2"}) == 2
    assert sizing.pipelines_here({sizing.PIPELINES_VARIABLE: "0"}) == 1
    assert sizing.pipelines_here({}) == 1


@pytest.mark.parametrize("memory", [512, 10241])
def test_sizes_outside_lambdas_range_are_refused(memory: int) -> None:
    with pytest.raises(InvalidOption, match=f"--memory is {memory} MB"):
        sizing.check_memory(memory)


def test_only_lambdas_architectures_are_taken() -> None:
    assert sizing.check_architecture("arm64") == "arm64"
    with pytest.raises(InvalidOption, match="x86_64 or arm64"):
        sizing.check_architecture("aarch64")
