"""What the Lambda image tests share: podman set up as it works here, the image built by
scripts/build-image.sh, the Runtime Interface Emulator and a moto S3 server.

Skips, naming them, when podman, runc or debootstrap cannot be installed; CI sets
HFACTION_REQUIRE_TOOLS=1 so that this fails instead.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.support.lambda_image import (
    RIE_IN_WHEEL,
    SBIN_PATH,
    Podman,
    S3Server,
    download_rie,
    moto_s3_server,
)

REPO = Path(__file__).resolve().parents[3]
BUCKET = "hfaction-image-test"
TOOLS = ("podman", "runc", "debootstrap")


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def podman(tmp_path_factory: pytest.TempPathFactory) -> Podman:
    def missing() -> list[str]:
        return [tool for tool in TOOLS if shutil.which(tool, path=SBIN_PATH) is None]

    if missing():
        subprocess.run(["bash", str(REPO / "scripts/make-base-image.sh"), "--install-tools"],
                       capture_output=True, check=False)
    if missing():
        unavailable(f"needs {', '.join(missing())}: apt-get install podman runc debootstrap")
    return Podman.configured(tmp_path_factory.mktemp("podman"))


@dataclass(frozen=True)
class BuiltImage:
    tag: str
    base_seconds: float
    build_seconds: float
    size_bytes: int
    config: dict[str, Any]
    architecture: str = "amd64"


def run_script(podman: Podman, *args: str,
               env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.monotonic()
    completed = subprocess.run(["bash", *args], env={**podman.env, **(env or {})},
                               capture_output=True, text=True, timeout=3600, check=False)
    elapsed = time.monotonic() - started
    if completed.returncode != 0:
        pytest.fail(f"{' '.join(args)} failed ({completed.returncode}):\n"
                    f"{completed.stdout[-4000:]}\n{completed.stderr[-4000:]}")
    return elapsed, completed.stdout


def build_image(podman: Podman, base: str, build_args: Sequence[str] = (),
                base_args: Sequence[str] = ()) -> BuiltImage:
    """The base (when local) by make-base-image.sh, then the image by build-image.sh."""
    base_seconds = 0.0
    if base.startswith("localhost/"):
        base_seconds, _ = run_script(podman, str(REPO / "scripts/make-base-image.sh"),
                                     *base_args, base)
    build_seconds, out = run_script(podman, str(REPO / "scripts/build-image.sh"), *build_args,
                                    env={"HFACTION_BASE_IMAGE": base})
    tags = [line.split(":", 1)[1].strip() for line in out.splitlines()
            if line.startswith("image:")]
    assert tags, f"build-image.sh printed no 'image: TAG' line:\n{out[-2000:]}"
    inspected = json.loads(podman("image", "inspect", tags[-1]).stdout)[0]
    return BuiltImage(tags[-1], base_seconds, build_seconds, int(inspected["Size"]),
                      inspected["Config"], inspected.get("Architecture", ""))


def rie_binary(member: str = RIE_IN_WHEEL) -> Path:
    """The RIE from the aws-sam-cli virtualenv (.venv-sam), else from its wheel."""
    sam_venv = sorted(REPO.glob(f".venv-sam/lib/python3*/site-packages/{member}"))
    if sam_venv:
        return sam_venv[-1]
    return download_rie(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                        / "hfaction", member)


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    try:
        import boto3  # noqa: F401
        import moto.server  # noqa: F401
    except ImportError as error:
        unavailable(f"needs {error.name}: pip install boto3 'moto[server]'")
    with moto_s3_server(BUCKET, tmp_path_factory.mktemp("moto") / "moto.log") as server:
        yield server
