"""The action's ``batch-file`` input: its check (the real "Check inputs" script of
action.yml, run with bash in a scratch workspace) refuses any path that leaves the
workspace, and the value reaches hfaction only through the environment, as one argument.

The whole action under act is exercised by test_action_act.py; these run without act or
AWS (what a hostile path would do is decided before either is reached)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
ACTION = REPO / "action.yml"


@pytest.fixture(autouse=True, scope="session")
def _require_tools() -> None:
    """Overrides tests/integration/conftest.py: no browser nor ffmpeg needed here."""


def steps() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(ACTION.read_text())
    return {step["name"]: step for step in data["runs"]["steps"]}


DEFAULTS = {"ROLE": "", "REGION": "eu-west-1", "STACK": "hfaction", "PROJECT": ".",
            "POLICY_FILE": "", "POLICY_PART": "all", "DEPLOY": "auto", "IMAGE_URI": "",
            "CONCURRENCY": "8", "PERMISSIONS_BOUNDARY": "", "QUALITY": "standard",
            "OUTPUT_KEY": "", "PREVIEW": "false", "PRESIGN_EXPIRY": "",
            "COMMENT_ON_PR": "false", "UPLOAD_ARTIFACT": "false", "BATCH_FILE": ""}


def check_inputs(workspace: Path, **given: str) -> subprocess.CompletedProcess[str]:
    step = steps()["Check inputs"]
    assert set(DEFAULTS) == set(step["env"]), "the step's env changed: update DEFAULTS"
    env = {"PATH": os.environ["PATH"], "GITHUB_WORKSPACE": str(workspace), **DEFAULTS,
           **given}
    # As the runner runs a `shell: bash` step.
    return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c",
                           step["run"]], cwd=workspace, env=env, capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    (root / "data").mkdir(parents=True)
    (root / "data" / "rows.jsonl").write_text('{"title": "Hi"}\n')
    (tmp_path / "outside.jsonl").write_text('{"title": "secret"}\n')
    (root / "data" / "escape.jsonl").symlink_to(tmp_path / "outside.jsonl")
    (root / "data" / "inside-link.jsonl").symlink_to(root / "data" / "rows.jsonl")
    return root


def errors(run: subprocess.CompletedProcess[str]) -> list[str]:
    return [line for line in run.stdout.splitlines() if line.startswith("::error")]


def test_a_file_inside_the_workspace_passes(workspace: Path) -> None:
    for path in ("data/rows.jsonl", "./data/rows.jsonl", "data/inside-link.jsonl"):
        run = check_inputs(workspace, BATCH_FILE=path)
        assert run.returncode == 0, (path, run.stdout, run.stderr)
        assert errors(run) == []


@pytest.mark.parametrize("path", [
    "../outside.jsonl", "data/../../outside.jsonl", "/etc/passwd", "data/escape.jsonl",
    "data/missing.jsonl", "data", "..", "data/rows.jsonl\n::warning::injected",
])
def test_paths_leaving_the_workspace_or_not_files_are_refused(workspace: Path,
                                                              path: str) -> None:
    run = check_inputs(workspace, BATCH_FILE=path)
    assert run.returncode == 1, run.stdout
    (line,) = errors(run)
    assert line.startswith("::error title=hfaction: input batch-file::")
    # The value is echoed escaped: no line of the log starts a workflow command of its own.
    assert not any(other.startswith("::warning") for other in run.stdout.splitlines())


@pytest.mark.parametrize(("name", "env", "value"), [
    ("output-key", "OUTPUT_KEY", "renders/x.mp4"), ("preview", "PREVIEW", "true"),
    ("comment-on-pr", "COMMENT_ON_PR", "true"), ("upload-artifact", "UPLOAD_ARTIFACT", "true"),
])
def test_inputs_a_batch_cannot_honour_are_refused(workspace: Path, name: str, env: str,
                                                  value: str) -> None:
    run = check_inputs(workspace, BATCH_FILE="data/rows.jsonl", **{env: value})
    assert run.returncode == 1
    (line,) = errors(run)
    assert line.startswith(f"::error title=hfaction: input {name}::{name} cannot be used "
                           "with batch-file")
    # Without a batch file the same value is fine.
    assert check_inputs(workspace, **{env: value}).returncode == 0


def test_the_batch_file_reaches_hfaction_as_one_argument_through_env() -> None:
    found = steps()
    render = found["Render on Lambda"]
    assert render["env"]["BATCH_FILE"] == "${{ inputs.batch-file }}"
    assert '[[ -n "$BATCH_FILE" ]] && args+=("--batch=$BATCH_FILE")' in render["run"]
    assert "${{" not in render["run"] and "${{" not in found["Check inputs"]["run"]
    data = yaml.safe_load(ACTION.read_text())
    assert data["inputs"]["batch-file"]["default"] == ""
    for name in ("renders", "batch-id", "rows-failed"):
        assert data["outputs"][name]["value"] == f"${{{{ steps.report.outputs.{name} }}}}"
