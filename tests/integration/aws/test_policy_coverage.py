"""The policy ``hfaction policies user`` prints is not a guess: it covers every AWS call a
real deploy and render make, and its CloudFormation part is what cfn-lint's resource
schemas say for the template.

The calls are recorded server-side by the moto server of moto_stack.py (a WSGI wrapper,
so the ``sam`` and ``hfaction`` subprocesses are seen too), while the real ``sam deploy``
creates and then updates the stack, a render runs through Step Functions to the real
handler, and progress, cleanup and destroy follow. Each recorded call signed with the
user's key is then evaluated against the printed policy with hfaction's own evaluator
(S3 calls on the very object or bucket they touched).

Needs aws-sam-cli in .venv-sam (scripts/lint-aws.sh installs it): skips naming it, fails
under HFACTION_REQUIRE_TOOLS=1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from hfaction.cli import main
from hfaction.policies import (
    NO_PERMISSION_NEEDED,
    StackScope,
    decide,
    evaluate,
    parse_statements,
    required,
    resource_covers,
)
from tests.conftest import FIXTURES
from tests.integration.aws.moto_stack import (
    ACCOUNT,
    REGION,
    USER_KEY,
    MotoStack,
    deploy_stack,
    moto_stack,
    require_sam,
)
from tests.integration.aws.sfn_harness import REPO

STACK = "hfpolicy"
GENERATOR = REPO / "scripts" / "gen-permissions.py"
COMMITTED = REPO / "hfaction" / "aws" / "permissions.json"


@pytest.fixture
def aws(tmp_path: Path) -> Iterator[MotoStack]:
    with moto_stack(sam=require_sam(), work=tmp_path / "aws", apply_env=False) as stack:
        yield stack


def hfaction(aws: MotoStack, *argv: str) -> subprocess.CompletedProcess[str]:
    """An hfaction command in a subprocess, as a user (or the GitHub Action) runs it."""
    run = subprocess.run([sys.executable, "-m", "hfaction", *argv], env=aws.env,
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, f"hfaction {' '.join(argv)}: {run.stderr[-3000:]}"
    return run


def printed_policy(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    capsys.readouterr()
    assert main(["policies", "user", *argv]) == 0
    document = json.loads(capsys.readouterr().out)
    assert isinstance(document, dict)
    return document


def test_the_printed_policy_allows_every_call_of_a_deploy_and_a_render(
        aws: MotoStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stack = deploy_stack(aws, STACK)  # creates the stack through a change set
    assert stack["status"] == "CREATE_COMPLETE"
    deploy_stack(aws, STACK)  # the stack exists: sam reads its template summary first
    out = tmp_path / "out.mp4"
    done = json.loads(hfaction(aws, "lambda", "render", str(FIXTURES / "motion"), "--wait",
                               "--chunk-size", "20", "--stack-name", STACK, "-o", str(out),
                               "--json").stdout)
    assert done["status"] == "SUCCEEDED" and out.stat().st_size > 0
    hfaction(aws, "lambda", "progress", done["render_id"], "--stack-name", STACK, "--json")
    # A pull-request preview, as .github/workflows/pr-preview.yml makes it: on the preview
    # state machine, its calls checked below against the pull-request part.
    preview_from = len(aws.calls)
    preview = json.loads(hfaction(aws, "lambda", "render", str(FIXTURES / "motion"),
                                  "--wait", "--chunk-size", "20", "--stack-name", STACK,
                                  "--preview", "--output-key",
                                  "previews/pr-1/x/1-1/preview.mp4", "--json").stdout)
    assert preview["status"] == "SUCCEEDED"
    assert preview["output_uri"].endswith("/previews/pr-1/x/1-1/preview.mp4")
    hfaction(aws, "lambda", "progress", preview["render_id"], "--stack-name", STACK,
             "--preview", "--json")
    hfaction(aws, "lambda", "cleanup", "--prefix", "previews/pr-1/", "--stack-name", STACK)
    preview_calls = [call for call in aws.calls[preview_from:]
                     if call.access_key == USER_KEY and call.action not in NO_PERMISSION_NEEDED]
    hfaction(aws, "lambda", "cleanup", "--prefix", f"renders/{done['render_id']}/",
             "--stack-name", STACK)
    hfaction(aws, "lambda", "destroy", "--stack-name", STACK)

    # (sts:GetCallerIdentity, which deploy calls, needs no permission: IAM never checks it.)
    calls = [call for call in aws.calls if call.access_key == USER_KEY
             and call.action not in NO_PERMISSION_NEEDED]
    recorded = {call.action for call in calls}
    unknown = sorted({f"{call.service} {call.operation}" for call in calls
                      if "UNKNOWN" in call.action})
    assert not unknown, f"requests the recorder could not name: {unknown}"
    # The run really exercised deploy and render (a broken recorder records little).
    assert {"cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet",
            "cloudformation:DescribeStacks", "cloudformation:DescribeChangeSet",
            "cloudformation:DeleteStack", "lambda:GetAccountSettings",
            "states:StartExecution", "states:DescribeExecution",
            "states:GetExecutionHistory", "s3:PutObject", "s3:GetObject", "s3:ListBucket",
            "s3:DeleteObject"} <= recorded
    # The handler's calls are the function role's, not the user's: recorded apart.
    assert aws.lambda_.actions and "s3:PutObject" in aws.actions("lambda-role")

    scope = StackScope(STACK, REGION, ACCOUNT)
    policy = printed_policy(capsys, "--stack-name", STACK, "--region", REGION,
                            "--account", ACCOUNT)
    statements = parse_statements(policy, "printed policy")
    verdicts = {verdict.action: verdict for verdict in evaluate(statements, required(scope),
                                                                scope)}
    not_required = sorted(recorded - set(verdicts))
    assert not not_required, f"calls hfaction made that the policy omits: {not_required}"
    refused = sorted(action for action in recorded
                     if verdicts[action].status not in ("allowed", "conditional"))
    assert not refused, f"recorded calls the policy does not allow: {refused}"
    # S3 calls name their resource: each is allowed on the very bucket or object it touched.
    for call in calls:
        if call.resource and call.resource != "*":
            verdict = decide(statements, call.action, call.resource)
            assert verdict.status == "allowed", (call, verdict)

    # The object keys hfaction used all lie under the prefixes the check protects from a
    # Deny (StackScope.in_use): a real render, its site upload, progress and cleanup.
    bucket = scope.resource("bucket")[0]
    # (DeleteObjects is recorded as BUCKET/*: its keys are in the body.)
    keys = [call.resource for call in calls
            if call.resource.startswith(f"{bucket}/") and "*" not in call.resource]
    prefixes = scope.in_use("objects")
    assert len(prefixes) == 3 and keys
    assert {"sites", "work", "renders"} <= {key[len(bucket) + 1:].split("/")[0] for key in keys}
    elsewhere = [key for key in keys if not any(resource_covers(prefix, key)
                                                for prefix in prefixes)]
    assert not elsewhere, elsewhere

    # A policy for another stack allows none of this stack's S3 calls.
    other = parse_statements(printed_policy(capsys, "--stack-name", "other", "--region", REGION,
                                            "--account", ACCOUNT), "other policy")
    assert all(decide(other, call.action, call.resource).status == "missing"
               for call in calls if call.resource.startswith("arn:aws:s3:::"))

    path = tmp_path / "policy.json"
    path.write_text(json.dumps(policy))
    capsys.readouterr()
    code = main(["policies", "validate", str(path), "--stack-name", STACK, "--region", REGION,
                 "--account", ACCOUNT])
    assert code == 0, capsys.readouterr().out

    # The preview's calls: each allowed by the pull-request part, on the very resource it
    # touched (its StartExecution on the preview state machine, which the part allows
    # alone), and by the render part too.
    machines = {stack["state_machine_arn"]: "render",
                stack["preview_state_machine_arn"]: "preview"}
    assert set(machines) == {f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:{STACK}-{name}"
                             for name in ("render", "preview")}
    started = [call for call in preview_calls if call.action == "states:StartExecution"]
    assert len(started) == 1
    for part in ("pull-request", "render"):
        part_policy = parse_statements(printed_policy(
            capsys, "--stack-name", STACK, "--region", REGION, "--account", ACCOUNT,
            "--part", part), f"--part {part}")
        part_verdicts = {verdict.action: verdict for verdict in evaluate(
            part_policy, required(scope, part), scope)}
        recorded_here = {call.action for call in preview_calls}
        assert not sorted(recorded_here - set(part_verdicts)), (part, recorded_here)
        assert all(part_verdicts[action].status == "allowed" for action in recorded_here)
        for call in preview_calls:
            # (DeleteObjects is recorded as BUCKET/*: the keys it deleted were these.)
            resource = f"{bucket}/previews/pr-1/x/1-1/preview.mp4" \
                if call.resource == f"{bucket}/*" else call.resource
            if resource and resource != "*":
                assert decide(part_policy, call.action, resource).status == "allowed", \
                    (part, call)
        for arn, name in machines.items():
            allowed = decide(part_policy, "states:StartExecution", arn).status == "allowed"
            assert allowed == (part == "render" or name == "preview"), (part, arn)
    assert_map_runs_are_covered(capsys, stack)


def assert_map_runs_are_covered(capsys: pytest.CaptureFixture[str],
                                stack: dict[str, Any]) -> None:
    """moto cannot run a Distributed Map's ListExecutions(mapRunArn) (see
    tests/unit/test_map_run.py, which records what progress calls then), so its calls are
    checked on the ARNs AWS gives the deployed state machines' map runs and children
    (mapRun:MACHINE/LABEL:ID, execution:MACHINE/LABEL:ID, the Map's Label "chunks")."""
    run_id = "6c0f5e2a-1b2c-4d3e-8f90-a1b2c3d4e5f6"

    def calls(machine: str) -> list[tuple[str, str]]:
        map_run = machine.replace(":stateMachine:", ":mapRun:") + f"/chunks:{run_id}"
        child = machine.replace(":stateMachine:", ":execution:") + f"/chunks:{run_id}"
        return [("states:DescribeMapRun", map_run), ("states:ListExecutions", map_run),
                ("states:GetExecutionHistory", child)]

    main_machine = stack["state_machine_arn"]
    preview_machine = stack["preview_state_machine_arn"]
    for part, machines in (("all", (main_machine, preview_machine)),
                           ("render", (main_machine, preview_machine)),
                           ("pull-request", (preview_machine,))):
        policy = parse_statements(printed_policy(
            capsys, "--stack-name", STACK, "--region", REGION, "--account", ACCOUNT,
            "--part", part), part)
        for machine in machines:
            for action, resource in calls(machine):
                assert decide(policy, action, resource).status == "allowed", \
                    (part, action, resource)
        if part == "pull-request":
            for action, resource in calls(main_machine):
                assert decide(policy, action, resource).status == "missing", \
                    (part, action, resource)


def test_permissions_data_is_what_the_schemas_say_for_the_template(tmp_path: Path) -> None:
    """Regenerates hfaction/aws/permissions.json with cfn-lint's schemas and the SAM
    translator of .venv-sam: a template change without regenerating fails here."""
    python = Path(require_sam()).parent / "python"
    fresh = tmp_path / "permissions.json"
    run = subprocess.run([str(python), str(GENERATOR), "--output", str(fresh)],
                         capture_output=True, text=True, timeout=600, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    generated, committed = json.loads(fresh.read_text()), json.loads(COMMITTED.read_text())
    assert generated["resource_types"].keys() == committed["resource_types"].keys(), \
        "template.yaml's resource types changed: run .venv-sam/bin/python " \
        "scripts/gen-permissions.py"
    assert generated == committed, "hfaction/aws/permissions.json is stale: run " \
        ".venv-sam/bin/python scripts/gen-permissions.py"
    check = subprocess.run([str(python), str(GENERATOR), "--check", "--output", str(fresh)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert check.returncode == 0, check.stderr
