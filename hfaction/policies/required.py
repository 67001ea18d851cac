"""What deploying and rendering need: the stack's resources and their ARNs
(:class:`StackScope`), the calls hfaction and CloudFormation make
(:data:`DEPLOY_CALLS`, :data:`RENDER_CALLS`, ``permissions.json`` less
:data:`UNUSED_FEATURES`), and the checks of the names a policy is printed for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from hfaction.errors import InvalidOption
from hfaction.policies.iam import ANY_ACCOUNT, ANY_REGION, _glob

SAM_TRANSFORM = "Serverless-2016-10-31"
# Same rule as ``hfaction lambda deploy`` (the template's ProjectName inside bucket names).
STACK_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,33}[a-z0-9])?$")
REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")
ACCOUNT = re.compile(r"^\d{12}$")
# An IAM policy name (the permissions boundary's).
POLICY_NAME = re.compile(r"^[A-Za-z0-9+=,.@_-]{1,128}$")
# What a policy may cover: everything, or deploying or rendering only, or what a
# pull-request preview needs (rendering with its output under previews/ only). The deploy
# part is also two halves (DEPLOY_PARTS), for stacks whose deploy part is more than one
# managed policy holds (three state machines, the notifier, long stack names).
PARTS = ("all", "deploy", "deploy-stack", "deploy-resources", "render", "pull-request")
# deploy-stack: the change set, the image and the stack's roles (the powerful half: the boundary
# guard goes with it); deploy-resources: what CloudFormation does to the other resources.
DEPLOY_PARTS = ("deploy-stack", "deploy-resources")


# --- the stack's resources -----------------------------------------------------------------


@dataclass(frozen=True)
class StackScope:
    """The names the render stack gives its resources (template.yaml, deploy.py)."""

    stack_name: str = "hfaction"
    region: str | None = None
    account: str | None = None
    partition: str = "aws"
    # The managed policy every role of the stack has as its permissions boundary
    # (template.yaml's PermissionsBoundaryArn); None: STACK-boundary.
    boundary: str | None = None

    @property
    def boundary_name(self) -> str:
        return self.boundary or f"{self.stack_name}-boundary"

    def boundary_arn(self) -> str:
        """The permissions boundary's ARN (an unknown account is :data:`ANY_ACCOUNT`)."""
        return f"arn:{self.partition}:iam::{self.account or ANY_ACCOUNT}:policy/" \
               f"{self.boundary_name}"

    def state_machine_names(self) -> list[str]:
        """template.yaml's state machines: RenderStateMachine, PreviewStateMachine and
        BatchStateMachine (one execution per batch of rows, writing renders/)."""
        return [f"{self.stack_name}-render", self.preview_state_machine_name(),
                f"{self.stack_name}-batch"]

    def preview_state_machine_name(self) -> str:
        return f"{self.stack_name}-preview"

    def resource(self, kind: str) -> list[str]:
        """The ARN patterns of one kind of resource (see :data:`RESOURCE_KINDS`)."""
        p, r = self.partition, self.region or ANY_REGION
        a, s = self.account or ANY_ACCOUNT, self.stack_name
        bucket = self._bucket()
        log_groups = [f"/aws/lambda/{s}-render", f"/aws/vendedlogs/states/{s}-render",
                      f"/aws/lambda/{s}-notify"]
        machines, preview = self.state_machine_names(), self.preview_state_machine_name()
        arns = {
            "stack": [f"arn:{p}:cloudformation:{r}:{a}:stack/{s}/*"],
            # hfaction lambda deploy names its change sets hfaction-deploy<timestamp>
            # (hfaction/aws/deploy.py: CHANGE_SET_PREFIX); IAM checks change set calls
            # against the stack, but the ARN is printed so that a policy keeps working
            # where they are checked against the change set.
            "changeset": [f"arn:{p}:cloudformation:{r}:{a}:changeSet/hfaction-deploy*/*"],
            # The template declares the SAM transform, which CloudFormation authorises
            # against this AWS-owned ARN when the change set is made.
            "sam_transform": [f"arn:{p}:cloudformation:{r}:aws:transform/{SAM_TRANSFORM}"],
            "bucket": [bucket],
            "objects": [f"{bucket}/*"],
            # The bucket's layout (hfaction/aws/s3uri.py), for the pull-request part.
            "site_objects": [f"{bucket}/sites/*"],
            "work_objects": [f"{bucket}/work/*"],
            "preview_objects": [f"{bucket}/previews/*"],
            # The render function, and the notify function (with a topic or a webhook).
            "function": [f"arn:{p}:lambda:{r}:{a}:function:{s}-{name}{suffix}"
                         for name in ("render", "notify") for suffix in ("", ":*")],
            # The EventBridge rule sending the executions' ends to the notify function.
            "rule": [f"arn:{p}:events:{r}:{a}:rule/{s}-notify"],
            # The topic the notify function's role may publish to: the deployer names it
            # (--notify-topic), so the boundary allows the account's topics.
            "topics": [f"arn:{p}:sns:{r}:{a}:*"],
            # CloudFormation names the roles SAM adds STACK-LogicalId-RANDOM.
            "roles": [f"arn:{p}:iam::{a}:role/{s}-*"],
            "log_groups": [f"arn:{p}:logs:{r}:{a}:log-group:{name}{suffix}"
                           for name in log_groups for suffix in ("", ":*")],
            # template.yaml's state machines: STACK-render (renders/ and previews/),
            # STACK-preview (previews/ only, what a pull request may start) and
            # STACK-batch (batches of rows, renders/).
            "state_machine": [f"arn:{p}:states:{r}:{a}:stateMachine:{name}"
                              for name in machines],
            "preview_state_machine": [f"arn:{p}:states:{r}:{a}:stateMachine:{preview}"],
            "executions": [f"arn:{p}:states:{r}:{a}:execution:{name}:*" for name in machines],
            "preview_executions": [f"arn:{p}:states:{r}:{a}:execution:{preview}:*"],
            # A Distributed Map's run and its child executions, named after the state
            # machine and the Map's Label (mapRun:MACHINE/LABEL:ID,
            # execution:MACHINE/LABEL:ID: the Service Authorization Reference's "maprun"
            # and "labelled execution" resource types).
            "map_runs": [f"arn:{p}:states:{r}:{a}:mapRun:{name}/*" for name in machines],
            "preview_map_runs": [f"arn:{p}:states:{r}:{a}:mapRun:{preview}/*"],
            "child_executions": [f"arn:{p}:states:{r}:{a}:execution:{name}/*"
                                 for name in machines],
            "preview_child_executions": [f"arn:{p}:states:{r}:{a}:execution:{preview}/*"],
            "repository": [f"arn:{p}:ecr:{r}:{a}:repository/{s}-render"],
            "boundary": [self.boundary_arn()],
            "any": ["*"],
        }
        return arns[kind]

    def _bucket(self) -> str:
        p, r = self.partition, self.region or ANY_REGION
        a, s = self.account or ANY_ACCOUNT, self.stack_name
        return f"arn:{p}:s3:::{s}-{a}-{r}"  # ProjectName-AccountId-Region

    def in_use(self, kind: str) -> list[str]:
        """Where hfaction itself keeps resources of a kind, when the policy must still
        allow the whole kind: a Deny there breaks deploying or rendering, even on part.

        Objects: ``--output-key`` and ``lambda cleanup --prefix`` take any key, so the
        policy allows ``BUCKET/*``; sites, intermediates and renders live under these
        prefixes (hfaction/aws/s3uri.py)."""
        if kind != "objects":
            return []
        from hfaction.aws.s3uri import RENDERS_PREFIX, SITES_PREFIX, WORK_PREFIX

        return [f"{self._bucket()}/{prefix}*"
                for prefix in (SITES_PREFIX, WORK_PREFIX, RENDERS_PREFIX)]


RESOURCE_KINDS = ("stack", "changeset", "sam_transform", "bucket", "objects", "site_objects",
                  "work_objects", "preview_objects", "function", "rule", "topics", "roles",
                  "log_groups",
                  "state_machine", "preview_state_machine", "executions",
                  "preview_executions", "map_runs", "preview_map_runs", "child_executions",
                  "preview_child_executions", "repository", "boundary", "any")


PASS_ROLE_CONDITION = {"StringEquals": {"iam:PassedToService": ["lambda.amazonaws.com",
                                                                "states.amazonaws.com"]}}

# The role-writing calls IAM checks against ``iam:PermissionsBoundary`` (the boundary a
# CreateRole or PutRolePermissionsBoundary request names, else the role's own). The deploy
# part allows them only with the stack's boundary, so its holder cannot make or change a
# STACK-* role into one that does more than the boundary (hfaction policies boundary).
BOUNDARY_ACTIONS = ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                    "iam:DetachRolePolicy", "iam:DeleteRolePolicy",
                    "iam:PutRolePermissionsBoundary")
# Of those, the ones that grant a role more: without the condition they escalate.
ESCALATING_ACTIONS = ("iam:CreateRole", "iam:PutRolePolicy", "iam:AttachRolePolicy",
                      "iam:PutRolePermissionsBoundary")
# Lifts the boundary: the deploy part denies it.
BOUNDARY_REMOVING_ACTIONS = ("iam:DeleteRolePermissionsBoundary",)


def boundary_condition(scope: StackScope) -> dict[str, Any]:
    """The deploy part's condition on :data:`BOUNDARY_ACTIONS`: the stack's boundary (a
    pattern when the account is not given: "*", matched as any account's)."""
    arn = _printed(scope.boundary_arn())
    # ArnEquals: the key is an ARN (the service authorization reference; StringEquals works
    # too, parliament flags it as a type mismatch).
    return {"ArnLike" if "*" in arn else "ArnEquals": {"iam:PermissionsBoundary": arn}}


@dataclass(frozen=True)
class Need:
    """One action hfaction (or CloudFormation, for it) calls, on some of the stack's
    resources."""

    action: str
    kinds: tuple[str, ...]
    group: str  # "Deploy", "Render" or "PullRequest"
    why: str
    condition: dict[str, Any] | None = None
    # The request names the stack's permissions boundary (iam:PermissionsBoundary).
    boundary: bool = False

    def resources(self, scope: StackScope) -> list[str]:
        return [arn for kind in self.kinds for arn in scope.resource(kind)]

    def context(self, scope: StackScope) -> dict[str, str | None] | None:
        """The condition keys of the request hfaction (or CloudFormation) makes, as far as
        they are known: conditions on them are evaluated, others only reported."""
        return {"iam:PermissionsBoundary": scope.boundary_arn()} if self.boundary else None

    def in_use(self, scope: StackScope) -> list[str]:
        return [arn for kind in self.kinds for arn in scope.in_use(kind)]


def _needs(group: str, why: str, kinds: Sequence[str], actions: Iterable[str]) -> list[Need]:
    return [Need(action, tuple(kinds), group, why) for action in actions]


# What ``hfaction lambda deploy`` calls itself.
DEPLOY_CALLS: list[Need] = [
    # hfaction/aws/deploy.py cloudformation_deploy: the stack (facade.describe_stack), the
    # change set (create, describe until made, execute), the stack until settled and its
    # events when it failed; a stack whose creation failed is deleted first, and lambda
    # destroy deletes the stack.
    *_needs("Deploy", "hfaction lambda deploy: the stack's change set", ("stack",),
            ["cloudformation:DescribeStacks", "cloudformation:DescribeStackEvents",
             "cloudformation:DeleteStack", "cloudformation:DescribeChangeSet",
             "cloudformation:ExecuteChangeSet"]),
    Need("cloudformation:CreateChangeSet", ("stack", "sam_transform"), "Deploy",
         "hfaction lambda deploy: a change set of a template with the SAM transform"),
    # facade.account_concurrency: an account-level read.
    Need("lambda:GetAccountSettings", ("any",), "Deploy",
         "hfaction lambda deploy: reserved concurrency (no resource ARN exists)"),
    # facade.ecr_login: registry tokens are account-wide; AWS accepts only "*".
    Need("ecr:GetAuthorizationToken", ("any",), "Deploy",
         "image push: registry login (AWS requires Resource *)"),
    # facade.ensure_repository / image_uri_if_pushed / delete_repository, then the push
    # (docker/podman push) and Lambda's pull when it creates or updates the function with
    # the deployer's permissions, adding itself to the repository policy when missing.
    *_needs("Deploy", "image repository, push and Lambda's pull", ("repository",),
            ["ecr:DescribeRepositories", "ecr:CreateRepository", "ecr:DescribeImages",
             "ecr:DeleteRepository", "ecr:BatchCheckLayerAvailability",
             "ecr:InitiateLayerUpload", "ecr:UploadLayerPart", "ecr:CompleteLayerUpload",
             "ecr:PutImage", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer",
             "ecr:GetRepositoryPolicy", "ecr:SetRepositoryPolicy"]),
    # Creating a state machine with Logging configures CloudWatch log delivery through
    # account-level APIs, checked against the caller (the template's DeliverLogs says so).
    *_needs("Deploy", "state machine logging: account-level log delivery APIs", ("any",),
            ["logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
             "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
             "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"]),
]

# What hfaction calls through hfaction/aws/facade.py to render, follow and clean up.
# Calls hfaction makes that IAM never authorises: no policy needs (or can deny) them.
# facade.account_id: a new stack adopts the bucket a deleted one of its name kept.
NO_PERMISSION_NEEDED = frozenset({"sts:GetCallerIdentity"})

# progress (so render --wait and cancel) of a render whose chunks ran in a Distributed Map
# (more than 40 at once, statemachine/render.asl.json) reads the map run and its child
# executions (renders.read_map_runs): DescribeMapRun and ListExecutions(mapRunArn), both
# authorised on the map run, and GetExecutionHistory of each child that has ended.
MAP_RUN_WHY = "facade: describe_map_run, list_map_run_executions (progress of a render " \
              "in a Distributed Map)"
CHILD_WHY = "facade.ended_execution_history (a Distributed Map's child executions)"

RENDER_CALLS: list[Need] = [
    Need("cloudformation:DescribeStacks", ("stack",), "Render", "facade.stack"),
    Need("states:StartExecution", ("state_machine",), "Render",
         "facade.start_execution (renders, and previews with --preview)"),
    *_needs("Render", "facade: describe_execution, execution_history, stop_execution",
            ("executions",), ["states:DescribeExecution", "states:GetExecutionHistory",
                              "states:StopExecution"]),
    *_needs("Render", MAP_RUN_WHY, ("map_runs",),
            ["states:DescribeMapRun", "states:ListExecutions"]),
    Need("states:GetExecutionHistory", ("child_executions",), "Render", CHILD_WHY),
    # HeadObject, GetObject, download_file and the presigned links all need s3:GetObject;
    # put_bytes s3:PutObject; DeleteObjects s3:DeleteObject per key.
    *_needs("Render", "facade: object_exists, get_json, download_file, presign_get, "
            "put_bytes, delete_prefix", ("objects",),
            ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]),
    Need("s3:ListBucket", ("bucket",), "Render", "facade.list_keys (ListObjectsV2)"),
]

# A pull-request preview (.github/workflows/pr-preview.yml): upload the site, start the
# render on the preview state machine (lambda render --preview), follow it, link or
# download the preview, and delete the pull request's previews/pr-N/ when it closes. The
# function's role writes the MP4 and the poster, and only under previews/: the preview
# state machine, the only one this part may start, tells the function so and the function
# refuses any other output key. The caller writes only sites (content-addressed: the
# function refuses a site whose files do not hash to its id), and neither writes nor reads
# renders/ (nor the main state machine's executions, whose histories hold the links the
# function signed to renders/).
PULL_REQUEST_CALLS: list[Need] = [
    Need("cloudformation:DescribeStacks", ("stack",), "PullRequest", "facade.stack"),
    Need("states:StartExecution", ("preview_state_machine",), "PullRequest",
         "facade.start_execution (lambda render --preview)"),
    *_needs("PullRequest", "facade: describe_execution, execution_history, stop_execution",
            ("preview_executions",), ["states:DescribeExecution",
                                      "states:GetExecutionHistory", "states:StopExecution"]),
    *_needs("PullRequest", MAP_RUN_WHY, ("preview_map_runs",),
            ["states:DescribeMapRun", "states:ListExecutions"]),
    Need("states:GetExecutionHistory", ("preview_child_executions",), "PullRequest",
         CHILD_WHY),
    Need("s3:GetObject", ("site_objects", "work_objects", "preview_objects"), "PullRequest",
         "facade: object_modified (sites), get_json (work/ records), presign_get and "
         "download_file (previews)"),
    Need("s3:PutObject", ("site_objects",), "PullRequest", "facade.put_bytes (site upload)"),
    Need("s3:DeleteObject", ("preview_objects",), "PullRequest",
         "facade.delete_prefix (lambda cleanup --prefix previews/pr-N/)"),
    Need("s3:ListBucket", ("bucket",), "PullRequest", "facade.list_keys (ListObjectsV2)"),
]

# Handler permissions for features of a resource type that template.yaml does not use.
# (resource type or "*", action glob) -> why it is not needed.
UNUSED_FEATURES: dict[tuple[str, str], str] = {
    ("*", "kms:*"): "no customer-managed KMS key (the bucket uses SSE-S3, the function's "
                    "environment the AWS-managed key)",
    ("*", "ec2:*"): "the function is not in a VPC",
    ("*", "elasticfilesystem:*"): "the function mounts no EFS file system",
    ("*", "s3files:*"): "the function mounts no S3 file system",
    ("*", "s3tables:*"): "the bucket has no metadata table configuration",
    ("*", "firehose:*"): "the log groups deliver to no Firehose stream",
    ("*", "s3:REST.PUT.OBJECT"): "not an IAM action (a log-delivery detail in the schema)",
    ("AWS::S3::Bucket", "iam:PassRole"): "the bucket has no replication or inventory role",
    ("AWS::S3::Bucket", "s3:PutObjectAcl"): "no ACLs: the bucket enforces BucketOwnerEnforced",
    ("AWS::S3::Bucket", "s3:DeleteObject"): "no object lock or metadata tables to clear",
    ("AWS::Lambda::Function", "s3:GetObject*"): "the function's code is an image, not S3",
    ("AWS::Lambda::Function", "lambda:GetLayerVersion"): "the function has no layers",
    ("AWS::Lambda::Function", "lambda:GetCodeSigningConfig"): "no code signing config",
    ("AWS::Lambda::Function", "lambda:PassCapacityProvider"): "no capacity provider",
    ("AWS::StepFunctions::StateMachine", "s3:GetObject*"):
        "the definition is inlined by hfaction lambda deploy, not read from S3",
    ("AWS::Events::Rule", "iam:PassRole"):
        "the rule's only target is the notify function, invoked through its resource "
        "policy (AWS::Lambda::Permission), not a role",
    ("AWS::IAM::Role", "iam:DeleteRolePermissionsBoundary"):
        "the stack's roles keep their permissions boundary: the deploy part denies lifting "
        "it (a deploy that drops PermissionsBoundaryArn fails instead)",
}
# Logs APIs that act on the account, not on a log group.
_LOGS_ACCOUNT_LEVEL = {"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
                       "logs:DeleteLogDelivery", "logs:ListLogDeliveries",
                       "logs:PutResourcePolicy", "logs:DescribeResourcePolicies",
                       "logs:DeleteResourcePolicy", "logs:DescribeLogGroups"}


@cache
def permissions_data() -> dict[str, Any]:
    """hfaction/aws/permissions.json (generated by scripts/gen-permissions.py)."""
    text = (resources.files("hfaction.aws") / "permissions.json").read_text()
    data = json.loads(text)
    assert isinstance(data, dict)
    return data


def unused_feature(resource_type: str, action: str) -> str | None:
    """Why a handler permission is not needed for this template, or None."""
    for (type_, pattern), why in UNUSED_FEATURES.items():
        if type_ in ("*", resource_type) and _glob(pattern, ignore_case=True).match(action):
            return why
    return None


def handler_kinds(action: str) -> tuple[str, ...]:
    """The stack's resources a CloudFormation handler permission acts on."""
    service, _, name = action.partition(":")
    if service == "s3":
        # Object-level calls act on keys; the bucket's object lock settings do not.
        on_objects = "Object" in name and "Bucket" not in name and "Lock" not in name
        return ("objects",) if on_objects else ("bucket",)
    if service == "lambda":
        return ("function",)
    if service == "iam":
        return ("roles",)
    if service == "states":
        return ("state_machine",)
    if service == "logs":
        return ("any",) if action in _LOGS_ACCOUNT_LEVEL else ("log_groups",)
    if service == "events":
        return ("rule",)
    raise ValueError(f"{action}: no rule scopes this service's resources (hfaction.policies)")


def cloudformation_needs(data: dict[str, Any] | None = None) -> list[Need]:
    """What CloudFormation calls, with the deployer's credentials, for each resource of
    the stack, less :data:`UNUSED_FEATURES`."""
    data = data if data is not None else permissions_data()
    needs: list[Need] = []
    for resource_type, entry in data["resource_types"].items():
        actions = sorted({action for permissions in entry["handlers"].values()
                          for action in permissions})
        for action in actions:
            if unused_feature(resource_type, action):
                continue
            condition = PASS_ROLE_CONDITION if action == "iam:PassRole" else None
            needs.append(Need(action, handler_kinds(action), "Deploy",
                              f"CloudFormation handlers of {resource_type}", condition,
                              boundary=action in BOUNDARY_ACTIONS))
    return needs


def required(scope: StackScope | None = None, part: str = "all") -> list[Need]:
    """Every action deploying and rendering need, or one part's ("deploy", "render");
    the scope only checks the names."""
    if scope is not None:
        check_scope(scope)
    if part not in PARTS:
        raise InvalidOption(f"--part {part!r}: use {', '.join(PARTS[:-1])} or {PARTS[-1]}")
    if part == "pull-request":
        return list(PULL_REQUEST_CALLS)
    if part in DEPLOY_PARTS:
        return [need for need in [*DEPLOY_CALLS, *cloudformation_needs()]
                if deploy_part(need) == part]
    needs = [*DEPLOY_CALLS, *cloudformation_needs(), *RENDER_CALLS]
    return [need for need in needs if part in ("all", need.group.lower())]


def deploy_part(need: Need) -> str:
    """Which half of the deploy part a deploy need is in (:data:`DEPLOY_PARTS`)."""
    if need in DEPLOY_CALLS or need.action.startswith("iam:"):
        return "deploy-stack"
    return "deploy-resources"


def check_scope(scope: StackScope) -> None:
    if not STACK_NAME.fullmatch(scope.stack_name):
        raise InvalidOption(f"--stack-name {scope.stack_name!r} must be lowercase letters, "
                            "digits and '-' (at most 35), starting with a letter")
    if scope.region is not None and not REGION.fullmatch(scope.region):
        raise InvalidOption(f"--region {scope.region!r} is not an AWS region name "
                            "(like us-east-1)")
    if scope.account is not None and not ACCOUNT.fullmatch(scope.account):
        raise InvalidOption(f"--account {scope.account!r} must be a 12-digit AWS account id")
    if scope.boundary is not None and not POLICY_NAME.fullmatch(scope.boundary):
        raise InvalidOption(f"--boundary-name {scope.boundary!r} is not an IAM policy name",
                            hint="letters, digits and +=,.@_- (at most 128); the name, "
                                 "not the ARN")


def _printed(arn: str) -> str:
    return arn.replace(ANY_REGION, "*").replace(ANY_ACCOUNT, "*")
