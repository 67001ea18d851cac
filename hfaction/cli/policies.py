"""``hfaction policies ...``: the IAM policies deploying and rendering need, and a check
of a policy kept in the user's repository. Each command parses, calls one function of
:mod:`hfaction.policies`, and prints; neither boto3 nor the render core loads."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from hfaction.cli.options import StackOpt

policies_app = typer.Typer(help="Print or check the IAM policies hfaction needs.\n\n"
                           "Example: hfaction policies role --github-repo acme/videos "
                           "--account 123456789012",
                           no_args_is_help=True)

# The policy's scope, not a region to connect to: no AWS_REGION default.
RegionOpt = Annotated[str | None, typer.Option(
    "--region", help="AWS region of the stack (default: any region).")]
AccountOpt = Annotated[str | None, typer.Option(
    "--account", help="12-digit AWS account id (default: any account).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON (the default for user, "
                                                      "role and boundary).")]
BoundaryOpt = Annotated[str | None, typer.Option(
    "--boundary-name", help="Name of the managed policy that is the permissions boundary of "
    "the stack's roles (default STACK-boundary).")]


def _scope(stack_name: str, region: str | None, account: str | None,
           boundary: str | None = None) -> Any:
    from hfaction.policies import StackScope

    return StackScope(stack_name=stack_name, region=region, account=account,
                      boundary=boundary)


def _print_json(document: Any) -> None:
    sys.stdout.write(json.dumps(document, indent=2) + "\n")


PART_HELP = ("all, or only deploy or render (managed policies when one is too large; deploy "
             "itself splits into deploy-stack, the change set, image and roles, and "
             "deploy-resources, the rest), or pull-request: render previews only (starts "
             "only the preview state machine, writes sites/, reads and deletes previews/, "
             "never renders/).")
PartOpt = Annotated[str, typer.Option("--part", help=PART_HELP)]


@policies_app.command()
def user(stack_name: StackOpt = "hfaction", region: RegionOpt = None,
         account: AccountOpt = None, part: PartOpt = "all", boundary_name: BoundaryOpt = None,
         json_: JsonOpt = True) -> None:
    """Print the least-privilege identity policy for deploying and rendering.

    The deploy part is powerful: CloudFormation creates the stack's roles with it, so it
    may create, change and delete roles named role/STACK-* and write their policies, but
    only roles whose permissions boundary is STACK-boundary (an iam:PermissionsBoundary
    condition; create that policy once from 'hfaction policies boundary' and deploy with
    --permissions-boundary), and never lift it; iam:PassRole only to Lambda and Step
    Functions. Give it to deploy jobs only; render jobs need --part render, pull-request
    previews --part pull-request.

    Example: hfaction policies user --region us-east-1 --account 123456789012 > policy.json
    """
    from hfaction.policies import user_policy

    document, warning = user_policy(_scope(stack_name, region, account, boundary_name), part)
    _print_json(document)
    if warning:
        sys.stderr.write(f"warning: {warning}\n")


@policies_app.command()
def role(stack_name: StackOpt = "hfaction", region: RegionOpt = None,
         account: AccountOpt = None,
         github_repo: Annotated[str | None, typer.Option(
             "--github-repo", help="OWNER/REPO whose workflows may assume the role (OIDC).")
         ] = None,
         ref: Annotated[str | None, typer.Option(
             "--ref", help="Trust runs on this ref only (default refs/heads/main).")] = None,
         pull_requests: Annotated[bool, typer.Option(
             "--pull-requests", help="Trust pull request runs instead of a ref.")] = False,
         environment: Annotated[str | None, typer.Option(
             "--environment", help="Trust jobs of this GitHub environment instead.")] = None,
         part: Annotated[str | None, typer.Option(
             "--part", help=PART_HELP + " Default: pull-request with --pull-requests, else "
             "all.")] = None,
         boundary_name: BoundaryOpt = None, json_: JsonOpt = True) -> None:
    """Print a role's permissions policy and, with --github-repo, its OIDC trust policy.

    Example: hfaction policies role --github-repo acme/videos --account 123456789012
    """
    from hfaction.policies import RoleRequest, role_policies

    _print_json(role_policies(RoleRequest(
        scope=_scope(stack_name, region, account, boundary_name), github_repo=github_repo,
        ref=ref, pull_requests=pull_requests, environment=environment, part=part)))


@policies_app.command()
def boundary(stack_name: StackOpt = "hfaction", region: RegionOpt = None,
             account: AccountOpt = None, json_: JsonOpt = True) -> None:
    """Print the permissions boundary of the stack's roles: create it once as a managed
    policy named STACK-boundary, and deploy with --permissions-boundary ITS_ARN.

    It is the most the roles CloudFormation makes for the stack may ever do: the stack's
    bucket, function, state machines and log groups, and nothing of IAM. The deploy part
    of 'hfaction policies user' creates and changes those roles only with it.

    Example: hfaction policies boundary --account 123456789012 > boundary.json
    """
    from hfaction.policies import boundary_policy

    _print_json(boundary_policy(_scope(stack_name, region, account)))


@policies_app.command()
def validate(file: Annotated[Path, typer.Argument(help="The policy JSON to check.",
                                                  show_default=False)],
             stack_name: StackOpt = "hfaction", region: RegionOpt = None,
             account: AccountOpt = None, part: PartOpt = "all", boundary_name: BoundaryOpt = None,
             json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False
             ) -> None:
    """Check that a policy allows every action deploying and rendering need (exit 1 if not).

    Example: hfaction policies validate .github/hfaction-policy.json --region us-east-1
    """
    from hfaction.policies import format_report, validate_file

    report = validate_file(file, _scope(stack_name, region, account, boundary_name), part)
    if json_:
        _print_json(report.to_dict())
    else:
        sys.stdout.write(format_report(report) + "\n")
    raise typer.Exit(report.exit_code)
