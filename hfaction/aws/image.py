"""The render image: reuse the one already pushed for this recipe, else build and push it.

An image is identified by hfaction's version, the Dockerfile's content and the
architecture (``recipe_digest``), so a second deploy of the same hfaction pushes nothing.
Building needs a local container engine (docker or podman) and stages a context of
wheels (hfaction's own, from this checkout or from PyPI, and every dependency for the
Lambda's CPython and platform), because the image installs offline from that folder.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hfaction import __version__, proc
from hfaction.errors import ContainerEngineNotFound, ImageBuildFailed

Runner = Callable[..., Any]

# The image's Python (Debian bookworm) and the manylinux levels its glibc 2.36 runs;
# pip does not expand manylinux_2_X levels by itself.
IMAGE_PYTHON = "3.11"
_MACHINES = {"x86_64": "x86_64", "arm64": "aarch64"}
EXTRA_PACKAGES = ("awslambdaric", "boto3")


def repository_name(stack_name: str) -> str:
    return f"{stack_name}-render"


def image_tag(recipe: str, architecture: str) -> str:
    return f"{recipe}-{architecture}"


def container_engine() -> str:
    explicit = os.environ.get("HFACTION_CONTAINER_ENGINE")
    for candidate in ([explicit] if explicit else ["docker", "podman"]):
        found = shutil.which(candidate)
        if found:
            return found
    raise ContainerEngineNotFound(
        "building the render image needs docker or podman, and neither is installed",
        hint="install one, or pass --image-uri with an image already in ECR",
    )


def platform_args(architecture: str) -> list[str]:
    machine = _MACHINES[architecture]
    args = ["--platform", f"manylinux2014_{machine}"]
    for minor in range(17, 37):
        args += ["--platform", f"manylinux_2_{minor}_{machine}"]
    return args


def hfaction_source(repo_root: Path) -> str:
    """This checkout when running from one, else the released hfaction of this version."""
    return str(repo_root) if (repo_root / "pyproject.toml").is_file() else \
        f"hfaction=={__version__}"


def wheel_args(source: str, wheels: Path) -> list[str]:
    return [sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check",
            "--no-deps", "--wheel-dir", str(wheels), source]


def download_args(hfaction_wheel: Path, wheels: Path, architecture: str) -> list[str]:
    return [sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
            "--dest", str(wheels), "--only-binary=:all:", "--implementation", "cp",
            "--python-version", IMAGE_PYTHON, *platform_args(architecture),
            str(hfaction_wheel), *EXTRA_PACKAGES]


def build_args(engine: str, context: Path, image: str, architecture: str) -> list[str]:
    platform = "linux/amd64" if architecture == "x86_64" else "linux/arm64"
    return [engine, "build", "--platform", platform, "--tag", image, str(context)]


def login_args(engine: str, registry: str) -> list[str]:
    # The password goes through stdin: never on a command line others can read.
    return [engine, "login", "--username", "AWS", "--password-stdin", registry]


def push_args(engine: str, image: str) -> list[str]:
    return [engine, "push", image]


def stage_context(destination: Path, dockerfile: Path, app: Path, repo_root: Path,
                  architecture: str, run: Runner = proc.run) -> Path:
    destination.mkdir(parents=True, exist_ok=True)
    shutil.copy2(dockerfile, destination / "Dockerfile")
    shutil.copy2(app, destination / "app.py")
    wheels = destination / "wheels"
    wheels.mkdir(exist_ok=True)
    run(wheel_args(hfaction_source(repo_root), wheels), what="building hfaction's wheel",
        error=ImageBuildFailed)
    built = sorted(wheels.glob("hfaction-*.whl"))
    if not built:
        raise ImageBuildFailed("no hfaction wheel was built", command=[], stderr_tail="")
    run(download_args(built[-1], wheels, architecture),
        what="downloading the image's dependency wheels", error=ImageBuildFailed)
    return destination


def ensure_image(facade: Any, stack_name: str, architecture: str, *, recipe: str,
                 dockerfile: Path, app: Path, repo_root: Path, run: Runner = proc.run,
                 engine: str | None = None) -> tuple[str, bool]:
    """The image URI for this recipe, and whether it had to be built and pushed."""
    repository = repository_name(stack_name)
    tag = image_tag(recipe, architecture)
    existing = facade.image_uri_if_pushed(repository, tag)
    if existing:
        return str(existing), False
    engine = engine or container_engine()
    repository_uri = facade.ensure_repository(repository)
    image = f"{repository_uri}:{tag}"
    with tempfile.TemporaryDirectory(prefix="hfaction-image-") as scratch:
        context = stage_context(Path(scratch) / "context", dockerfile, app, repo_root,
                                architecture, run)
        run(build_args(engine, context, image, architecture), what="building the image",
            error=ImageBuildFailed)
    registry, password = facade.ecr_login()
    run(login_args(engine, registry), what="logging in to ECR", error=ImageBuildFailed,
        input_bytes=password.encode())
    run(push_args(engine, image), what="pushing the image", error=ImageBuildFailed)
    return image, True
