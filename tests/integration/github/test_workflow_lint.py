"""action.yml and the workflows pass their linters, and the linters can fail.

scripts/lint-github.sh runs actionlint (with shellcheck), ``zizmor --offline``,
check-jsonschema's GitHub action and workflow schemas, and its own check of action.yml's
scripts (shellcheck, and no ``${{ }}`` in any ``run:``). The tools come from the ``test``
extra; a missing one skips its test, naming it, unless HFACTION_REQUIRE_TOOLS=1 (CI).

The planted tests copy the files to a temporary repository, add one injection or shell
bug, and require the linters to report it: proof that a clean result means something.
The rest checks, as data, what the issue asks of the files and no linter knows.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[3]
LINT = REPO / "scripts" / "lint-github.sh"
ACTION = REPO / "action.yml"
WORKFLOWS = REPO / ".github" / "workflows"
WORKFLOW_NAMES = ["ci.yml", "pr-preview.yml", "render.yml", "selftest.yml"]
VENV_CALL = r'/\.hfaction-venv/bin/hfaction" ((?:github|policies|lambda) [\w-]+)'
PLANTED_TITLE = "${{ github.event.pull_request.title }}"


def lint(tool: str, root: Path = REPO) -> subprocess.CompletedProcess[str]:
    """Run one linter of scripts/lint-github.sh; skip (or fail in CI) when it is missing."""
    env = {**os.environ, "HFACTION_TOOLS_BIN": str(Path(sys.executable).parent)}
    run = subprocess.run(["bash", str(LINT), tool, str(root)], capture_output=True,
                         text=True, timeout=300, check=False, env=env)
    if run.returncode == 3:
        missing = next((line for line in run.stderr.splitlines() if "cannot find" in line),
                       run.stderr[-300:])
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(missing)
        pytest.skip(missing)
    return run


def output(run: subprocess.CompletedProcess[str]) -> str:
    return f"{run.stdout}\n{run.stderr}"


@pytest.fixture
def planted(tmp_path: Path) -> Path:
    """A copy of action.yml and .github/ in its own git repository (actionlint finds the
    project root, and so resolves ``uses: ./``, by its .git)."""
    root = tmp_path / "repo"
    root.mkdir()
    shutil.copy2(ACTION, root / "action.yml")
    shutil.copytree(REPO / ".github", root / ".github")
    if shutil.which("git") is None:
        pytest.fail("git is not installed (apt-get install git)")
    subprocess.run(["git", "init", "-q", str(root)], check=True, capture_output=True)
    return root


def replace_once(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {path} exactly once"
    path.write_text(text.replace(old, new))


# --- the linters pass on the real files ----------------------------------------------------


@pytest.mark.parametrize("tool", ["actionlint", "zizmor", "schema", "scripts"])
def test_linter_passes(tool: str) -> None:
    run = lint(tool)
    assert run.returncode == 0, f"scripts/lint-github.sh {tool} failed:\n{output(run)}"


def test_actionlint_checks_the_inputs_given_to_the_local_action(planted: Path) -> None:
    # selftest.yml's `uses: ./` is checked against action.yml's inputs: a typo is caught.
    replace_once(planted / ".github/workflows/selftest.yml", "          quality: draft\n",
                 "          quality: draft\n          qualty: high\n")
    run = lint("actionlint", planted)
    assert run.returncode == 1
    assert 'input "qualty" is not defined' in output(run)


# --- and fail on planted problems ----------------------------------------------------------


def test_planted_pull_request_title_in_a_workflow_run_step_is_caught(planted: Path) -> None:
    workflow = planted / ".github/workflows/pr-preview.yml"
    replace_once(workflow, '          python3 -m venv "$venv"\n',
                 f'          echo "previewing {PLANTED_TITLE}"\n'
                 '          python3 -m venv "$venv"\n')
    for tool, finding in [("actionlint", '"github.event.pull_request.title" is potentially '
                                         "untrusted"),
                          ("zizmor", "template-injection"),
                          ("scripts", "github.event.pull_request.title")]:
        run = lint(tool, planted)
        assert run.returncode == 1, f"{tool} missed the planted title:\n{output(run)}"
        assert finding in output(run), f"{tool} did not name it:\n{output(run)}"


def test_planted_input_in_an_action_script_is_caught(planted: Path) -> None:
    # actionlint does not read action.yml's scripts: zizmor and the scripts check must.
    replace_once(planted / "action.yml", 'echo "::group::Render on Lambda"',
                 'echo "::group::Render ${{ inputs.project }}"')
    zizmor = lint("zizmor", planted)
    assert zizmor.returncode == 1 and "template-injection" in output(zizmor), output(zizmor)
    scripts = lint("scripts", planted)
    assert scripts.returncode == 1 and "${{ inputs.project }}" in output(scripts), \
        output(scripts)


def test_planted_shell_bug_in_an_action_script_is_caught(planted: Path) -> None:
    replace_once(planted / "action.yml", '"$GITHUB_ACTION_PATH/.hfaction-venv/bin/hfaction" '
                 "github report", "$GITHUB_ACTION_PATH/.hfaction-venv/bin/hfaction github report")
    run = lint("scripts", planted)
    assert run.returncode == 1
    assert "SC2086" in output(run) and "Job summary and outputs" in output(run), output(run)


def test_unpinned_third_party_action_is_caught(planted: Path) -> None:
    replace_once(planted / "action.yml",
                 "actions/upload-artifact@330a01c490aca151604b8cf639adc76d48f6c5d4 # v5.0.0",
                 "someone/upload-things@v1")
    run = lint("zizmor", planted)
    assert run.returncode == 1 and "unpinned-uses" in output(run), output(run)


def test_schema_catches_an_invalid_action(planted: Path) -> None:
    replace_once(planted / "action.yml", "  using: composite\n", "  using: compost\n")
    run = lint("schema", planted)
    assert run.returncode == 1, output(run)


# --- what the issue asks of the files, as data ---------------------------------------------


@pytest.fixture(scope="module")
def action() -> dict[str, Any]:
    data = yaml.safe_load(ACTION.read_text())
    assert isinstance(data, dict)
    return data


def load_workflow(name: str) -> dict[Any, Any]:
    data = yaml.safe_load((WORKFLOWS / name).read_text())
    assert isinstance(data, dict)
    return data


def workflow_on(workflow: dict[Any, Any]) -> Any:
    # PyYAML (YAML 1.1) reads the key `on` as the boolean True.
    return workflow.get("on", workflow.get(True))


def test_action_inputs_and_outputs(action: dict[str, Any]) -> None:
    inputs, outputs = action["inputs"], action["outputs"]
    for name in ["role-to-assume", "aws-region", "stack-name", "project", "policy-file",
                 "policy-part", "deploy", "concurrency", "permissions-boundary", "quality",
                 "output-key", "preview", "comment-on-pr", "github-token", "presign-expiry",
                 "upload-artifact"]:
        assert name in inputs, f"input {name} is missing"
    for name, spec in inputs.items():
        assert re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", name), f"{name} is not kebab-case"
        assert spec.get("description", "").strip(), f"input {name} has no description"
    assert inputs["project"]["default"] == "."
    assert inputs["deploy"]["default"] in {"auto", "always", "never"}
    assert inputs["github-token"]["default"] == "${{ github.token }}"
    assert inputs["policy-part"]["default"] == "all"
    assert inputs["preview"]["default"] == "false"
    assert inputs["permissions-boundary"]["default"] == ""
    for name in ["render-id", "video-url", "s3-uri", "cost-usd", "frames", "duration-seconds",
                 "poster-url"]:
        assert outputs[name]["value"] == f"${{{{ steps.report.outputs.{name} }}}}"
        assert outputs[name]["description"].strip()
    assert action["branding"]["icon"] and action["branding"]["color"]


def test_action_scripts_get_inputs_only_through_env(action: dict[str, Any]) -> None:
    steps = action["runs"]["steps"]
    assert action["runs"]["using"] == "composite"
    scripts = [step for step in steps if "run" in step]
    assert len(scripts) >= 6
    for step in scripts:
        assert "${{" not in step["run"], step["name"]
        assert step["shell"] == "bash", step["name"]
        # A `::group::` per phase, closed again.
        assert "::group::" in step["run"] and "::endgroup::" in step["run"], step["name"]
        for value in (step.get("env") or {}).values():
            assert isinstance(value, str)
    # Each script that calls hfaction runs the one in the action's own virtualenv.
    called = {m for s in scripts
              for m in re.findall(VENV_CALL, s["run"].replace("\\\n", " "))}
    assert called == {"github oidc", "policies validate", "github deploy-image",
                      "lambda deploy", "lambda render", "github report", "github comment"}
    # The deploy input is validated before anything runs.
    assert "auto|always|never" in steps[0]["run"]
    # Issue 13: the policy check is of the part the file holds; the boundary reaches the
    # deploy only when given (an empty --permissions-boundary would remove the stack's);
    # preview renders on the preview state machine. Each is validated first too.
    by_name = {step["name"]: step for step in scripts}
    assert "all|deploy|render|pull-request" in steps[0]["run"]
    assert steps[0]["env"]["POLICY_PART"] == "${{ inputs.policy-part }}"
    check = by_name["Check the IAM policy"]
    assert check["env"]["POLICY_PART"] == "${{ inputs.policy-part }}"
    assert '"--part=$POLICY_PART"' in check["run"]
    deploy = by_name["Deploy the render stack"]
    assert deploy["env"]["PERMISSIONS_BOUNDARY"] == "${{ inputs.permissions-boundary }}"
    assert '[[ -n "$PERMISSIONS_BOUNDARY" ]] && args+=("--permissions-boundary=' \
        '$PERMISSIONS_BOUNDARY")' in deploy["run"]
    assert "HFACTION_PERMISSIONS_BOUNDARY" not in json.dumps(action)  # never set empty
    render = by_name["Render on Lambda"]
    assert render["env"]["PREVIEW"] == "${{ inputs.preview }}"
    assert '[[ "$PREVIEW" == true ]] && args+=(--preview)' in render["run"]


def test_every_third_party_action_is_pinned_by_full_sha() -> None:
    for path in [ACTION, *(WORKFLOWS / name for name in WORKFLOW_NAMES)]:
        for line in path.read_text().splitlines():
            match = re.match(r"\s*(?:-\s+)?uses:\s*(\S+)(.*)", line)
            if not match or match.group(1).startswith("./"):
                continue
            ref, comment = match.groups()
            assert re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", ref), f"{path.name}: {line}"
            assert re.search(r"#\s*v\d", comment), f"{path.name}: no version comment: {line}"


@pytest.mark.parametrize("name", WORKFLOW_NAMES)
def test_workflow_permissions_are_granted_per_job(name: str) -> None:
    workflow = load_workflow(name)
    assert workflow["permissions"] == {}, f"{name}: top-level permissions must be {{}}"
    for job_id, job in workflow["jobs"].items():
        grants = job.get("permissions")
        assert grants is not None, f"{name}: job {job_id} has no permissions"
        assert set(grants.values()) <= {"read", "write"}
        text = yaml.safe_dump(job)
        if grants.get("id-token") == "write":
            assert "hfaction-action" in text or "uses: ./" in text or "github oidc" in text
        if "pull-requests" in grants:
            assert (name, job_id) == ("pr-preview.yml", "preview"), \
                f"{name}: job {job_id} needs no pull-requests grant"


def test_reusable_workflows_are_typed_and_return_outputs() -> None:
    render = load_workflow("render.yml")
    call = workflow_on(render)["workflow_call"]
    # Issue 13: the inputs the action gained, passed through.
    given = next(step for step in render["jobs"]["render"]["steps"]
                 if step.get("id") == "render")["with"]
    for name in ("policy-part", "permissions-boundary"):
        assert name in call["inputs"] and given[name] == f"${{{{ inputs.{name} }}}}"
    for spec in call["inputs"].values():
        assert spec["type"] in {"string", "number", "boolean"}
        assert spec.get("description")
    assert call.get("secrets") is None, "render.yml needs no secrets: OIDC"
    job_outputs = render["jobs"]["render"]["outputs"]
    for name, spec in call["outputs"].items():
        assert spec["value"] == f"${{{{ jobs.render.outputs.{name} }}}}"
        assert job_outputs[name] == f"${{{{ steps.render.outputs.{name} }}}}"


def test_pr_preview_skips_forks_and_cleans_up_per_pull_request() -> None:
    preview = load_workflow("pr-preview.yml")
    jobs = preview["jobs"]
    fork = "github.event.pull_request.head.repo.full_name != github.repository"
    same = "github.event.pull_request.head.repo.full_name == github.repository"
    assert fork in jobs["fork"]["if"] and "fork" in jobs["fork"]["steps"][0]["run"]
    assert same in jobs["preview"]["if"] and same in jobs["cleanup"]["if"]
    assert "!= 'closed'" in jobs["preview"]["if"] and "== 'closed'" in jobs["cleanup"]["if"]
    # One group per pull request, stack and project: a newer push cancels the older render
    # of the same project only; the clean-up is never cancelled.
    number = "${{ github.event.pull_request.number }}"
    group = jobs["preview"]["concurrency"]["group"]
    assert all(part in group for part in (number, "${{ inputs.stack-name }}",
                                          "${{ inputs.project }}"))
    assert jobs["preview"]["concurrency"]["cancel-in-progress"] is True
    assert number in jobs["cleanup"]["concurrency"]["group"]
    assert jobs["cleanup"]["concurrency"]["cancel-in-progress"] is False
    steps = jobs["preview"]["steps"]
    render_step = next(s for s in steps if s.get("id") == "render")
    assert render_step["with"]["quality"] == "${{ inputs.quality }}"
    assert workflow_on(preview)["workflow_call"]["inputs"]["quality"]["default"] == "draft"
    assert render_step["with"]["comment-on-pr"] == "true"
    # On the preview state machine (its renders write previews/ only), its policy checked
    # as the pull-request part.
    assert render_step["with"]["preview"] == "true"
    assert render_step["with"]["policy-part"] == "pull-request"
    assert render_step["with"]["policy-file"] == "${{ inputs.policy-file }}"
    # Each run writes its own folder under previews/pr-N/<project>/, never another's.
    assert render_step["with"]["output-key"] == "${{ steps.key.outputs.prefix }}preview.mp4"
    key_step = next(s for s in steps if s.get("id") == "key")
    assert 'prefix="previews/pr-$PR_NUMBER/' in key_step["run"]
    assert "$GITHUB_RUN_ID-$GITHUB_RUN_ATTEMPT/" in key_step["run"]
    # A run that finds the pull request closed removes its own preview.
    late = steps[steps.index(render_step) + 1]
    assert "steps.render.outputs.pull-request-state == 'closed'" in late["if"]
    assert "lambda cleanup" in late["run"] and '"--prefix=$PREFIX"' in late["run"]
    assert late["env"]["PREFIX"] == "${{ steps.key.outputs.prefix }}"
    cleanup = "\n".join(s.get("run", "") for s in jobs["cleanup"]["steps"])
    assert "lambda cleanup" in cleanup and '--prefix "previews/pr-$PR_NUMBER/"' in cleanup


def test_selftest_runs_the_checked_out_action() -> None:
    selftest = load_workflow("selftest.yml")
    steps = selftest["jobs"]["selftest"]["steps"]
    assert any(step.get("uses") == "./" for step in steps)


def test_ci_runs_the_ci_entry_point() -> None:
    ci = load_workflow("ci.yml")
    runs = [s.get("run") for job in ci["jobs"].values() for s in job["steps"]]
    assert "bash .ci/run" in runs
