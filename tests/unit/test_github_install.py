"""The action installs a slim, pinned set: requirements/action.txt, every package pinned
by version and hash, holding hfaction's dependencies less the local renderer's, and
closed under their own dependencies (pip installs it with --no-deps --require-hashes).
The action and pr-preview.yml's clean-up install it the same way; the default install
(pip install hfaction) still brings Playwright for local renders."""

from __future__ import annotations

import re
import tomllib
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
LOCK = REPO / "requirements" / "action.txt"
SOURCE = REPO / "requirements" / "action.in"
LOCAL_ONLY = {"playwright", "ffmpeg-python"}


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def locked() -> dict[str, tuple[str, int]]:
    """name -> (version, number of hashes)."""
    found: dict[str, tuple[str, int]] = {}
    for block in re.split(r"\n(?=\S)", LOCK.read_text()):
        head = block.split()[0] if block.strip() else ""
        if "==" in head:
            name, version = head.split("==")
            found[canonical(name)] = (version, block.count("--hash=sha256:"))
    return found


def test_every_locked_package_is_pinned_with_hashes() -> None:
    packages = locked()
    assert packages and all(hashes >= 1 for _version, hashes in packages.values()), packages
    text = LOCK.read_text()
    assert "--index-url" not in text and "--find-links" not in text and "file://" not in text


def test_the_slim_set_is_hfactions_dependencies_less_the_local_renderers() -> None:
    declared = {canonical(Requirement(item).name) for item in
                tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    wanted = {canonical(Requirement(line).name) for line in SOURCE.read_text().splitlines()
              if line.strip() and not line.startswith("#")}
    assert wanted == declared - LOCAL_ONLY
    assert declared & LOCAL_ONLY == LOCAL_ONLY  # the default install renders locally
    assert not set(locked()) & LOCAL_ONLY
    assert wanted <= set(locked())


def test_the_lock_holds_every_dependency_of_what_it_holds() -> None:
    """Each locked package's requirements (as installed here; markers evaluated for
    Linux and macOS runners) are locked too: --no-deps would otherwise miss them."""
    packages = locked()
    missing = set()
    for name in packages:
        for raw in metadata.requires(name) or []:
            requirement = Requirement(raw)
            environments = [{**default_environment(), "sys_platform": platform,
                             "platform_system": system, "extra": ""}
                            for platform, system in (("linux", "Linux"), ("darwin", "Darwin"))]
            if requirement.marker is not None and not any(
                    requirement.marker.evaluate(env) for env in environments):
                continue
            if canonical(requirement.name) not in packages:
                missing.add(f"{name} -> {requirement.name}")
    assert not missing, sorted(missing)


def test_the_action_and_the_cleanup_install_from_the_lock() -> None:
    for path in (REPO / "action.yml", REPO / ".github" / "workflows" / "pr-preview.yml"):
        text = path.read_text()
        assert "--require-hashes --only-binary=:all: --no-deps" in text, path.name
        assert "requirements/action.txt" in text, path.name
        assert not re.search(r"pip install[^\n]*(GITHUB_ACTION_PATH\"|\.hfaction-action)\s*$",
                             text, re.MULTILINE), path.name
