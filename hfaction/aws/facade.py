"""Every AWS call hfaction makes, behind one small typed facade.

Clients are injected (tests pass moto-backed ones; the CLI creates them once from the
user's configuration), and every botocore failure becomes an :class:`AwsCallFailed` that
names the call and AWS's error code, never a traceback or a credential.
"""

from __future__ import annotations

import functools
import json
import os
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from hfaction.errors import (
    AwsCallFailed,
    AwsCredentialsMissing,
    AwsRegionMissing,
    StackNotFound,
)

T = TypeVar("T")


def region_missing(what: str = "the render stack") -> AwsRegionMissing:
    return AwsRegionMissing(f"no AWS region for {what}: none was given and none is configured",
                            hint="pass --region REGION or set AWS_REGION")


def _aws_call(what: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    def decorate(function: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(function)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            from botocore.exceptions import (
                BotoCoreError,
                ClientError,
                NoCredentialsError,
                NoRegionError,
            )

            try:
                return function(*args, **kwargs)
            except NoCredentialsError:
                raise AwsCredentialsMissing(
                    f"no AWS credentials for {what}",
                    hint="configure them (aws configure, AWS_PROFILE or the GitHub Action's "
                    "OIDC role)",
                ) from None
            except NoRegionError:
                raise region_missing(what) from None
            except ClientError as error:
                info = error.response.get("Error", {})
                failed = AwsCallFailed(
                    f"{what} failed: {info.get('Code', 'Unknown')}: "
                    f"{info.get('Message', '').strip() or 'no message'}"
                )
                failed.aws_code = str(info.get("Code", ""))
                raise failed from None
            except BotoCoreError as error:
                raise AwsCallFailed(f"{what} failed: {error}") from None

        return wrapper

    return decorate


@dataclass
class AwsClients:
    s3: Any
    sfn: Any
    lambda_: Any
    cloudformation: Any
    ecr: Any = None
    sts: Any = None  # only 'hfaction github oidc' needs it
    session: Any = None
    sns: Any = None  # only the notify function needs it

    @classmethod
    def create(cls, region: str | None = None) -> AwsClients:
        """Clients for ``region``, else AWS_REGION, else boto3's own choice (AWS_DEFAULT_REGION,
        the profile's region); AWS_REGION_MISSING when none of them names one."""
        import boto3

        session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION")
                                        or None)
        if not session.region_name:
            raise region_missing()
        return cls(
            s3=session.client("s3"),
            sfn=session.client("stepfunctions"),
            lambda_=session.client("lambda"),
            cloudformation=session.client("cloudformation"),
            ecr=session.client("ecr"),
            sts=session.client("sts"),
            session=session,
        )


@dataclass(frozen=True)
class CredentialsLifetime:
    temporary: bool
    expires_at: datetime | None = None  # None with temporary=True: an unknown end


# Where a state machine's renders may write (hfaction/aws/s3uri.py's OUTPUT_PREFIXES and
# PREVIEW_OUTPUT_PREFIXES; kept literal so this module loads nothing else).
ALL_OUTPUTS = ("renders/", "previews/")
PREVIEW_OUTPUTS = ("previews/",)
# template.yaml's NoEcho parameters: CloudFormation describes them as ****, and hfaction
# shows and keeps them so whatever a describe returns (an emulator may return the value).
SECRET_PARAMETERS = ("WebhookSecret",)


@dataclass(frozen=True)
class StackInfo:
    """The render stack, as rendering on it needs it. ``state_machine_arn`` is the state
    machine renders start on and ``output_prefixes`` where its renders may write: the main
    one (renders/ and previews/), or the preview one (previews/ only) once
    :meth:`for_previews` picked it."""

    name: str
    bucket: str
    state_machine_arn: str
    function_arn: str
    version: str = ""
    status: str = ""
    parameters: dict[str, str] = field(default_factory=dict)
    tags: dict[str, str] = field(default_factory=dict)
    # The PreviewStateMachineArn output; "" for a stack deployed before it existed.
    preview_state_machine_arn: str = ""
    output_prefixes: tuple[str, ...] = ALL_OUTPUTS
    # The BatchStateMachineArn output (batches of rows); "" for a stack older than it.
    batch_state_machine_arn: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bucket": self.bucket,
                "state_machine_arn": self.state_machine_arn,
                "preview_state_machine_arn": self.preview_state_machine_arn,
                "batch_state_machine_arn": self.batch_state_machine_arn,
                "function_arn": self.function_arn, "version": self.version,
                "status": self.status, "parameters": self.parameters}

    def for_previews(self) -> StackInfo:
        """The stack with its preview state machine to render on (StackNotFound when the
        stack has none: deployed by an hfaction older than it)."""
        if self.output_prefixes == PREVIEW_OUTPUTS:
            return self
        if not self.preview_state_machine_arn:
            raise StackNotFound(
                f"stack {self.name!r} has no preview state machine (no output "
                "PreviewStateMachineArn): it was deployed by an older hfaction",
                hint=f"update it with 'hfaction lambda deploy --stack-name {self.name}', or "
                     "pass the state machine with --state-machine-arn and --bucket")
        return replace(self, state_machine_arn=self.preview_state_machine_arn,
                       output_prefixes=PREVIEW_OUTPUTS)


class AwsFacade:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients
        self._signer: Any = None  # SigV4 copy of clients.s3, for presigned links
        # Histories of executions that have ended, by (ARN, redrive count): they no longer
        # change, so following a render reads each child execution's history once.
        self._ended_histories: dict[tuple[str, int], list[dict[str, Any]]] = {}

    # --- S3 ---------------------------------------------------------------------
    @_aws_call("S3 HeadObject")
    def object_exists(self, bucket: str, key: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            self.clients.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    @_aws_call("S3 HeadObject")
    def object_modified(self, bucket: str, key: str) -> datetime | None:
        """When the object was last written; None when there is none."""
        from botocore.exceptions import ClientError

        try:
            head = self.clients.s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        modified = head.get("LastModified")
        if not isinstance(modified, datetime):
            return datetime.now(UTC)
        return modified if modified.tzinfo else modified.replace(tzinfo=UTC)

    @_aws_call("S3 HeadBucket")
    def bucket_exists(self, bucket: str) -> bool:
        """Whether this account can reach the bucket (it exists and is ours)."""
        from botocore.exceptions import ClientError

        try:
            self.clients.s3.head_bucket(Bucket=bucket)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchBucket",
                                                                "NotFound", "403"):
                return False  # 403: another account's bucket (or not ours to see)
            raise
        return True

    @_aws_call("S3 PutObject")
    def put_bytes(self, bucket: str, key: str, data: bytes,
                  content_type: str = "application/octet-stream") -> None:
        self.clients.s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)

    @_aws_call("S3 GetObject")
    def get_json(self, bucket: str, key: str) -> Any:
        from botocore.exceptions import ClientError

        try:
            body = self.clients.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in ("404", "NoSuchKey"):
                return None
            raise
        return json.loads(body)

    @_aws_call("S3 ListObjectsV2")
    def list_keys(self, bucket: str, prefix: str) -> list[str]:
        keys: list[str] = []
        paginator = self.clients.s3.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            keys.extend(item["Key"] for item in page.get("Contents", []))
        return keys

    @_aws_call("S3 GetObject")
    def download_file(self, bucket: str, key: str, path: Path) -> None:
        self.clients.s3.download_file(bucket, key, str(path))

    @_aws_call("S3 DeleteObjects")
    def delete_prefix(self, bucket: str, prefix: str) -> int:
        """Delete every object under ``prefix``; the number deleted."""
        deleted = 0
        keys = self.list_keys(bucket, prefix)
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1000 keys
            batch = keys[start:start + 1000]
            response = self.clients.s3.delete_objects(
                Bucket=bucket, Delete={"Objects": [{"Key": key} for key in batch],
                                       "Quiet": True})
            errors = response.get("Errors") or []
            if errors:
                first = errors[0]
                raise AwsCallFailed(f"S3 DeleteObjects failed for {first.get('Key')!r}: "
                                    f"{first.get('Code')}: {first.get('Message')}")
            deleted += len(batch)
        return deleted

    @_aws_call("S3 presign")
    def presign_get(self, bucket: str, key: str, expires_s: int) -> str:
        """A SigV4 presigned GET (boto3 would sign S3 links with SigV2 by default)."""
        if self._signer is None:
            self._signer = sigv4_s3_client(self.clients.s3)
        return presign_get(self._signer, bucket, key, expires_s)

    def credentials_lifetime(self) -> CredentialsLifetime:
        """How long the credentials signing our requests (and presigned URLs) work.

        A presigned URL dies with the session that signed it, whatever its ExpiresIn says.
        ``hfaction github oidc`` exports the STS session's expiry; boto3 knows it for
        refreshable credentials (SSO, assumed roles). Credentials with a session token but
        no known expiry (exported by another tool, container credentials) are temporary
        with an unknown end; only long-term keys never expire.
        """
        exported = os.environ.get("HFACTION_CREDENTIALS_EXPIRATION", "").strip()
        if exported:
            try:
                parsed = datetime.fromisoformat(exported.replace("Z", "+00:00"))
            except ValueError:
                parsed = None
            if parsed is not None:
                return CredentialsLifetime(
                    True, parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))
        session = self.clients.session
        credentials = session.get_credentials() if session is not None else None
        if credentials is None:
            return CredentialsLifetime(temporary=False)
        expiry = getattr(credentials, "_expiry_time", None)
        if isinstance(expiry, datetime):
            return CredentialsLifetime(True, expiry)
        return CredentialsLifetime(temporary=bool(getattr(credentials, "token", None)))

    # --- CloudFormation --------------------------------------------------------------
    @property
    def region(self) -> str:
        """The region the clients talk to ('unknown' for clients without one)."""
        for client in (self.clients.cloudformation, self.clients.sfn, self.clients.s3):
            name = getattr(getattr(client, "meta", None), "region_name", None)
            if name:
                return str(name)
        return "unknown"

    @_aws_call("CloudFormation DescribeStacks")
    def describe_stack(self, name: str) -> dict[str, Any]:
        """The stack as CloudFormation describes it, whatever its state or outputs."""
        from botocore.exceptions import ClientError

        try:
            stacks = self.clients.cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                raise StackNotFound(
                    f"stack {name!r} does not exist in region {self.region} of this account",
                    hint=f"deploy it with 'hfaction lambda deploy --region {self.region}', or "
                    "pass the --region (or AWS_REGION) it was deployed in") from None
            raise
        return dict(stacks[0])

    def stack(self, name: str) -> StackInfo:
        stack = self.describe_stack(name)
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        missing = [key for key in ("RenderBucketName", "RenderStateMachineArn",
                                   "RenderFunctionArn") if key not in outputs]
        if missing:
            raise StackNotFound(f"stack {name!r} in region {self.region} has no output "
                                f"{missing[0]} (status {stack.get('StackStatus', 'unknown')}); "
                                "is it an hfaction stack, and did its deploy finish?")
        return StackInfo(
            name=name,
            bucket=outputs["RenderBucketName"],
            state_machine_arn=outputs["RenderStateMachineArn"],
            function_arn=outputs["RenderFunctionArn"],
            preview_state_machine_arn=outputs.get("PreviewStateMachineArn", ""),
            batch_state_machine_arn=outputs.get("BatchStateMachineArn", ""),
            version=tags.get("hfaction-version", outputs.get("HfactionVersion", "")),
            status=str(stack.get("StackStatus", "")),
            parameters={p["ParameterKey"]: "****" if p["ParameterKey"] in SECRET_PARAMETERS
                        and p.get("ParameterValue") else p.get("ParameterValue", "")
                        for p in stack.get("Parameters", [])},
            tags=tags,
        )

    @_aws_call("CloudFormation CreateChangeSet")
    def create_change_set(self, request: dict[str, Any]) -> str:
        """Create a change set (``request``: CreateChangeSet's parameters); its id."""
        return str(self.clients.cloudformation.create_change_set(**request)["Id"])

    @_aws_call("CloudFormation DescribeChangeSet")
    def describe_change_set(self, stack_name: str, change_set_name: str) -> dict[str, Any]:
        """The change set's Status and StatusReason (its first page of changes too)."""
        return dict(self.clients.cloudformation.describe_change_set(
            StackName=stack_name, ChangeSetName=change_set_name))

    @_aws_call("CloudFormation ExecuteChangeSet")
    def execute_change_set(self, stack_name: str, change_set_name: str) -> None:
        self.clients.cloudformation.execute_change_set(StackName=stack_name,
                                                       ChangeSetName=change_set_name)

    @_aws_call("CloudFormation DescribeStackEvents")
    def stack_events(self, stack_name: str) -> list[dict[str, Any]]:
        """The stack's latest events, newest first (one page: what explains a failure)."""
        response = self.clients.cloudformation.describe_stack_events(StackName=stack_name)
        return [dict(event) for event in response.get("StackEvents", [])]

    @_aws_call("CloudFormation DeleteStack")
    def delete_stack(self, name: str, *, wait: bool = True) -> None:
        self.clients.cloudformation.delete_stack(StackName=name)
        if wait:
            waiter = self.clients.cloudformation.get_waiter("stack_delete_complete")
            waiter.wait(StackName=name, WaiterConfig={"Delay": 5, "MaxAttempts": 360})

    # --- Lambda and ECR --------------------------------------------------------------
    @_aws_call("Lambda GetAccountSettings")
    def account_concurrency(self) -> tuple[int, int]:
        """(account concurrency limit, unreserved concurrency)."""
        limits = self.clients.lambda_.get_account_settings()["AccountLimit"]
        return int(limits["ConcurrentExecutions"]), int(limits["UnreservedConcurrentExecutions"])

    @_aws_call("ECR DeleteRepository")
    def delete_repository(self, name: str) -> bool:
        from botocore.exceptions import ClientError

        if self.clients.ecr is None:
            return False
        try:
            self.clients.ecr.delete_repository(repositoryName=name, force=True)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "RepositoryNotFoundException":
                return False
            raise
        return True

    @_aws_call("ECR CreateRepository")
    def ensure_repository(self, name: str) -> str:
        """The repository's URI, creating it (scan on push) when missing."""
        from botocore.exceptions import ClientError

        try:
            found = self.clients.ecr.describe_repositories(repositoryNames=[name])
            return str(found["repositories"][0]["repositoryUri"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "RepositoryNotFoundException":
                raise
        created = self.clients.ecr.create_repository(
            repositoryName=name, imageScanningConfiguration={"scanOnPush": True})
        return str(created["repository"]["repositoryUri"])

    @_aws_call("ECR GetAuthorizationToken")
    def ecr_login(self) -> tuple[str, str]:
        """(registry host, password) for ``docker login``; the password is a secret."""
        import base64

        data = self.clients.ecr.get_authorization_token()["authorizationData"][0]
        user_password = base64.b64decode(data["authorizationToken"]).decode()
        registry = str(data["proxyEndpoint"]).removeprefix("https://")
        return registry, user_password.split(":", 1)[1]

    @_aws_call("ECR DescribeImages")
    def image_uri_if_pushed(self, repository: str, tag: str) -> str | None:
        from botocore.exceptions import ClientError

        if self.clients.ecr is None:
            return None
        try:
            self.clients.ecr.describe_images(repositoryName=repository,
                                             imageIds=[{"imageTag": tag}])
            uri = self.clients.ecr.describe_repositories(
                repositoryNames=[repository])["repositories"][0]["repositoryUri"]
        except ClientError:
            return None
        return f"{uri}:{tag}"

    # --- STS ----------------------------------------------------------------------
    @_aws_call("STS GetCallerIdentity")
    def account_id(self) -> str | None:
        """The account the credentials belong to (GetCallerIdentity needs no permission);
        None without an STS client."""
        if self.clients.sts is None:
            return None
        return str(self.clients.sts.get_caller_identity()["Account"])

    @_aws_call("STS AssumeRoleWithWebIdentity")
    def assume_role_with_web_identity(self, role_arn: str, token: str, session_name: str,
                                      duration_s: int) -> dict[str, Any]:
        """The unsigned exchange of an OIDC token for session credentials."""
        return dict(self.clients.sts.assume_role_with_web_identity(
            RoleArn=role_arn, WebIdentityToken=token, RoleSessionName=session_name,
            DurationSeconds=duration_s))

    # --- Step Functions --------------------------------------------------------------
    @_aws_call("Step Functions StartExecution")
    def start_execution(self, state_machine_arn: str, name: str, payload: dict[str, Any]) -> str:
        response = self.clients.sfn.start_execution(
            stateMachineArn=state_machine_arn, name=name, input=json.dumps(payload))
        return str(response["executionArn"])

    @_aws_call("Step Functions DescribeExecution")
    def describe_execution(self, execution_arn: str) -> dict[str, Any]:
        return dict(self.clients.sfn.describe_execution(executionArn=execution_arn))

    @_aws_call("Step Functions GetExecutionHistory")
    def execution_history(self, execution_arn: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        paginator = self.clients.sfn.get_paginator("get_execution_history")
        for page in paginator.paginate(executionArn=execution_arn):
            events.extend(page.get("events", []))
        return events

    @_aws_call("Step Functions GetExecutionHistory")
    def ended_execution_history(self, execution_arn: str,
                                redrive_count: int = 0) -> list[dict[str, Any]]:
        """The history of an execution that has ended (SUCCEEDED, FAILED, TIMED_OUT or
        ABORTED), read once per facade: it cannot change until the execution is redriven,
        which ``redrive_count`` (ListExecutions' ``redriveCount``) tells apart."""
        key = (execution_arn, redrive_count)
        if key not in self._ended_histories:
            self._ended_histories[key] = self.execution_history(execution_arn)
        return self._ended_histories[key]

    @_aws_call("Step Functions DescribeMapRun")
    def describe_map_run(self, map_run_arn: str) -> dict[str, Any]:
        """A Distributed Map's run: its status and ``itemCounts`` (pending, running,
        succeeded, failed, timedOut, aborted, total, ...)."""
        return dict(self.clients.sfn.describe_map_run(mapRunArn=map_run_arn))

    @_aws_call("Step Functions ListExecutions")
    def list_map_run_executions(self, map_run_arn: str,
                                status: str | None = None) -> list[dict[str, Any]]:
        """The child executions a Distributed Map's run has started (every page, up to
        1000 a page), optionally only those in one ``status`` (ListExecutions'
        ``statusFilter``: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE)."""
        parameters: dict[str, Any] = {"mapRunArn": map_run_arn}
        if status is not None:
            parameters["statusFilter"] = status
        executions: list[dict[str, Any]] = []
        paginator = self.clients.sfn.get_paginator("list_executions")
        for page in paginator.paginate(**parameters, PaginationConfig={"PageSize": 1000}):
            executions.extend(page.get("executions", []))
        return executions

    # --- SNS ----------------------------------------------------------------------------
    @_aws_call("SNS Publish")
    def publish_sns(self, topic_arn: str, message: str, *, subject: str | None = None,
                    attributes: dict[str, str] | None = None, group_id: str | None = None,
                    deduplication_id: str | None = None) -> str:
        """Publish ``message`` to an SNS topic; the message id. ``attributes``: string
        message attributes (for subscription filter policies); ``group_id`` and
        ``deduplication_id``: a FIFO topic's (required there, refused elsewhere)."""
        if self.clients.sns is None:
            raise AwsCallFailed("SNS Publish failed: no SNS client was given")
        parameters: dict[str, Any] = {"TopicArn": topic_arn, "Message": message}
        if subject:
            parameters["Subject"] = subject
        if attributes:
            parameters["MessageAttributes"] = {
                name: {"DataType": "String", "StringValue": value}
                for name, value in attributes.items()}
        if group_id is not None:
            parameters["MessageGroupId"] = group_id
        if deduplication_id is not None:
            parameters["MessageDeduplicationId"] = deduplication_id
        return str(self.clients.sns.publish(**parameters).get("MessageId", ""))

    @_aws_call("Step Functions StopExecution")
    def stop_execution(self, execution_arn: str, cause: str) -> None:
        self.clients.sfn.stop_execution(executionArn=execution_arn, error="CANCELLED",
                                        cause=cause)


def sigv4_s3_client(client: Any) -> Any:
    """An S3 client that presigns with SigV4 (``X-Amz-Algorithm=AWS4-HMAC-SHA256``) and the
    credentials, region and endpoint of ``client``.

    boto3 presigns S3 links with SigV2 (``AWSAccessKeyId=``) unless the client was made
    with ``signature_version="s3v4"``, and many regions refuse SigV2 for buckets created
    since mid-2020. On AWS the link names the bucket's regional host
    (``BUCKET.s3.REGION.amazonaws.com``: no redirect for a young bucket in another region);
    a custom endpoint (``AWS_ENDPOINT_URL``, an emulator) is kept as it is.
    """
    import boto3
    from botocore.config import Config

    endpoint = str(client.meta.endpoint_url or "")
    host = urllib.parse.urlsplit(endpoint).hostname or ""
    on_aws = host.endswith((".amazonaws.com", ".amazonaws.com.cn"))
    settings: dict[str, Any] = {"signature_version": "s3v4"}
    if on_aws:
        settings["s3"] = {**(client.meta.config.s3 or {}), "addressing_style": "virtual"}
    config = client.meta.config.merge(Config(**settings))
    getter = getattr(client, "_get_credentials", None)  # botocore: what the client signs with
    credentials = getter() if callable(getter) else None
    frozen = credentials.get_frozen_credentials() if credentials is not None else None
    keys = {} if frozen is None else {"aws_access_key_id": frozen.access_key,
                                      "aws_secret_access_key": frozen.secret_key,
                                      "aws_session_token": frozen.token}
    return boto3.session.Session().client(
        "s3", region_name=client.meta.region_name, config=config,
        endpoint_url=None if on_aws else endpoint or None, **keys)


def presign_get(client: Any, bucket: str, key: str, expires_s: int) -> str:
    """A presigned GET of ``s3://bucket/key`` by a :func:`sigv4_s3_client`."""
    url = str(client.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s))
    if "X-Amz-Algorithm=AWS4-HMAC-SHA256" not in url:  # never hand out a SigV2 link
        raise AwsCallFailed("S3 presign failed: the link is not signed with SigV4")
    return url


def execution_arn(state_machine_arn: str, render_id: str) -> str:
    """The execution ARN of a render: the state machine's ARN with the render id as name."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{render_id}"
