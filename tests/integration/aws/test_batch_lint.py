"""scripts/lint-aws.sh validates both state machines with asl-validator: the render one
and statemachine/batch.asl.json (with the batch's OutputPrefixes, ``renders/``). Run on a
copy of the script and the definitions, so a broken batch definition can be shown to fail
it. asl-validator is installed on first use (npm); when it cannot be, the test skips,
unless HFACTION_REQUIRE_TOOLS=1 (CI), where it fails.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: no browser nor ffmpeg needed here."""


def lint_asl(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "HFACTION_ASL_VALIDATOR_DIR": str(REPO / ".cache" / "asl-validator")}
    run = subprocess.run([str(root / "scripts" / "lint-aws.sh"), "asl"], capture_output=True,
                         text=True, timeout=600, check=False, env=env)
    if run.returncode == 3:
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(run.stderr)
        pytest.skip(run.stderr.strip())
    return run


def copy_tree(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    (root / "scripts").mkdir(parents=True)
    shutil.copy2(REPO / "scripts" / "lint-aws.sh", root / "scripts" / "lint-aws.sh")
    shutil.copytree(REPO / "statemachine", root / "statemachine")
    return root


def test_both_state_machines_are_validated(tmp_path: Path) -> None:
    run = lint_asl(copy_tree(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "asl-validator statemachine/render.asl.json" in run.stderr
    assert "asl-validator statemachine/batch.asl.json (OutputPrefixes renders/)" in run.stderr


def test_a_broken_batch_definition_fails_the_lint(tmp_path: Path) -> None:
    root = copy_tree(tmp_path)
    path = root / "statemachine" / "batch.asl.json"
    definition = json.loads(path.read_text())
    definition["States"]["Compact"]["Next"] = "NoSuchState"
    path.write_text(json.dumps(definition, indent=2))
    run = lint_asl(root)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "NoSuchState" in run.stdout + run.stderr
