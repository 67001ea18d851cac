"""``HfactionRenderStack``: the render stack of template.yaml as a CDK construct.

How it is built, and why: the construct does not describe the bucket, function, roles
and state machine again. It includes (``cloudformation_include.CfnInclude``, logical
ids preserved) the CloudFormation that :mod:`hfaction.cdk.template` derives from the
package's own template.yaml and state machine definition: translated by aws-sam-translator
(what CloudFormation does to a SAM stack), with the props filled in for the template's
parameters. So retention and deletion policies, lifecycle rules, the retry policy in
the ASL, memory, storage, timeout, reserved concurrency, IAM policies and the outputs
are those of a SAM deploy by construction, and a change to template.yaml or the ASL
reaches CDK users with no second edit. Writing L2 constructs instead would restate
every one of those settings in a second place, and L2 defaults (auto-generated names,
policies, removal policies) would drift from the template.

On top of the included L1 resources the construct offers L2 interfaces so that users
can attach alarms, notifications or grants without re-deriving ARNs: ``.bucket``
(``IBucket``), ``.render_function`` (``IFunction``) and ``.state_machine``
(``IStateMachine``); ``.included`` gives the L1 resources for escape hatches.

It is a Construct, not a Stack, so it can join a stack that holds other resources. The
template's logical ids and output names (``RenderBucketName``, ``RenderStateMachineArn``,
...) are kept: those outputs are what ``hfaction lambda render --stack-name`` reads, and
they allow one construct per stack (a second one is refused). The translation runs at
synthesis, hence aws-sam-translator in the ``cdk`` extra.

The image: without ``image_uri``, the render image is a Docker image asset built from the
packaged recipe (handler/Dockerfile and the context :mod:`hfaction.cdk.image` stages), so
``cdk deploy`` builds and pushes it, into the bootstrap's asset repository (``cdk
bootstrap`` once per account and region). With ``image_uri`` (an image already in ECR),
nothing here needs a custom resource or an asset: the stack deploys without ``cdk
bootstrap`` when synthesized with ``generate_bootstrap_version_rule=False``.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

from aws_cdk import Stack
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import cloudformation_include as cfn_inc
from constructs import Construct

from hfaction.cdk.template import stack_template
from hfaction.errors import InvalidOption

# Passed to CfnInclude rather than filled in, so they may be CDK tokens (an ECR URI; the
# webhook secret as a dynamic reference, e.g. SecretValue.secrets_manager(...)).
_TOKEN_PARAMETERS = frozenset({"ImageUri", "WebhookSecret"})


class HfactionRenderStack(Construct):  # type: ignore[misc]  # CDK stubs skipped (pyproject)
    """The hfaction render stack: bucket, render function, state machine, outputs.

    Every prop defaults to template.yaml's parameter default (None means "the
    template's"); each is checked against the template's constraints.

    :param image_uri: the render image (ECR URI) for ``architecture``; may be a token.
        None: a Docker image asset of hfaction's own recipe, built and pushed by ``cdk
        deploy`` (needs ``cdk bootstrap``, and pip with the package index at synthesis).
    :param project_name: prefix of every physical name (template ProjectName).
    :param concurrency: chunks rendered at once (the Map's MaxConcurrency).
    :param memory_size: Lambda memory in MB.
    :param architecture: ``x86_64`` or ``arm64``.
    :param intermediate_retention_days: days before objects under work/ expire.
    :param site_retention_days: days before uploaded projects under sites/ expire.
    :param preview_retention_days: days before preview renders under previews/ expire.
    :param log_retention_days: days the logs are kept.
    :param hfaction_version: version of the image (tags and the HfactionVersion output).
    :param reserve_concurrency: reserve ``concurrency + 2`` executions for the function.
    :param adopt_bucket: must stay unset (False): the construct makes its own bucket (adopt
        a retained one with ``cdk import`` instead).
    :param permissions_boundary_arn: the managed policy (an ARN, not a token) the stack's
        roles get as their permissions boundary (``hfaction policies boundary``).
    :param notify_topic_arn: SNS topic that gets a message when a render, preview or batch
        ends (README: completion notifications); None: none.
    :param webhook_url: https URL that gets each notification, signed; needs
        ``webhook_secret``.
    :param webhook_secret: the webhook's signing key (at least 16 characters). A plain
        string ends up in the synthesized template: pass a dynamic reference instead
        (``SecretValue.secrets_manager("hook").unsafe_unwrap()``).
    """

    def __init__(self, scope: Construct, construct_id: str, *, image_uri: str | None = None,
                 project_name: str | None = None, concurrency: int | None = None,
                 memory_size: int | None = None, architecture: str | None = None,
                 intermediate_retention_days: int | None = None,
                 site_retention_days: int | None = None,
                 preview_retention_days: int | None = None,
                 log_retention_days: int | None = None, hfaction_version: str | None = None,
                 reserve_concurrency: bool | None = None,
                 adopt_bucket: bool | None = None,
                 permissions_boundary_arn: str | None = None,
                 notify_topic_arn: str | None = None, webhook_url: str | None = None,
                 webhook_secret: str | None = None) -> None:
        # Everything that can refuse the props runs before this construct joins the tree.
        stack = Stack.of(scope)
        others = [c.node.path for c in stack.node.find_all()
                  if isinstance(c, HfactionRenderStack)]
        if others:
            # The template's logical ids and output names are kept, so they would collide.
            raise InvalidOption(f"stack {stack.stack_name} already has an HfactionRenderStack "
                                f"({others[0]}); put each one in a stack of its own")
        if adopt_bucket:
            raise InvalidOption("adopt_bucket=True: the CDK construct makes its own bucket; "
                                "bring a retained one in with 'cdk import'")
        if webhook_url and not webhook_secret:
            raise InvalidOption("webhook_url= needs webhook_secret= (the key its "
                                "notifications are signed with)")
        given: dict[str, Any] = {
            "ProjectName": project_name, "Concurrency": concurrency,
            "MemorySize": memory_size, "Architecture": architecture,
            "IntermediateRetentionDays": intermediate_retention_days,
            "SiteRetentionDays": site_retention_days,
            "PreviewRetentionDays": preview_retention_days,
            "LogRetentionDays": log_retention_days, "HfactionVersion": hfaction_version,
            "ReserveConcurrency": reserve_concurrency, "AdoptBucket": adopt_bucket,
            "PermissionsBoundaryArn": permissions_boundary_arn,
            "NotifyTopicArn": notify_topic_arn, "WebhookUrl": webhook_url,
            # Placeholders for the checks: the real values (maybe tokens) go to CfnInclude.
            "ImageUri": "image-uri-given-to-cfn-include", "WebhookSecret": None,
        }
        template = stack_template(given, keep=_TOKEN_PARAMETERS)
        super().__init__(scope, construct_id)
        self.template = template  # the CloudFormation included, as data
        # The image asset, when no image is given (None otherwise).
        self.image_asset: ecr_assets.DockerImageAsset | None = None
        if image_uri is None:
            self.image_asset = self._image_asset()
            image_uri = self.image_asset.image_uri
        with tempfile.TemporaryDirectory(prefix="hfaction-cdk-") as scratch:
            path = Path(scratch) / "render-stack.json"
            path.write_text(json.dumps(self.template))
            self.included = cfn_inc.CfnInclude(self, "Template", template_file=str(path),
                                               parameters={"ImageUri": image_uri,
                                                           "WebhookSecret": webhook_secret or ""},
                                               preserve_logical_ids=True)

        bucket = self.included.get_resource("RenderBucket")
        function = self.included.get_resource("RenderFunction")
        function_role = self.included.get_resource("RenderFunctionRole")
        state_machine = self.included.get_resource("RenderStateMachine")
        assert isinstance(bucket, s3.CfnBucket)
        assert isinstance(function, lambda_.CfnFunction)
        assert isinstance(function_role, iam.CfnRole)
        assert isinstance(state_machine, sfn.CfnStateMachine)
        # The L1 resources (escape hatches); every one is in .included.get_resource(id).
        self.cfn_bucket: s3.CfnBucket = bucket
        self.cfn_function: lambda_.CfnFunction = function
        self.cfn_state_machine: sfn.CfnStateMachine = state_machine

        self.bucket: s3.IBucket = s3.Bucket.from_cfn_bucket(self.cfn_bucket)
        self.render_function: lambda_.IFunction = lambda_.Function.from_function_attributes(
            self, "RenderFunctionRef", function_arn=self.cfn_function.attr_arn,
            role=iam.Role.from_role_arn(self, "RenderFunctionRoleRef", function_role.attr_arn),
            same_environment=True)
        self.state_machine: sfn.IStateMachine = sfn.StateMachine.from_state_machine_arn(
            self, "RenderStateMachineRef", self.cfn_state_machine.attr_arn)

    def _image_asset(self) -> ecr_assets.DockerImageAsset:
        """hfaction's render image for the function's architecture, as a Docker image
        asset: synthesis copies its staged context into the cloud assembly, ``cdk deploy``
        builds it (for that platform) and pushes it."""
        from hfaction.cdk.image import PLATFORMS, image_context

        (architecture,) = self.template["Resources"]["RenderFunction"]["Properties"][
            "Architectures"]
        platform = ecr_assets.Platform.custom(PLATFORMS[architecture])
        return ecr_assets.DockerImageAsset(self, "RenderImage",
                                           directory=str(image_context(architecture)),
                                           platform=platform)
