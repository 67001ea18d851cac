"""Every AWS call hfaction makes, behind one small typed facade.

Clients are injected (tests pass moto-backed ones; the CLI creates them once from the
user's configuration), and every botocore failure becomes an :class:`AwsCallFailed` that
names the call and AWS's error code, never a traceback or a credential.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from hfaction.errors import (
    AwsCallFailed,
    AwsCredentialsMissing,
    StackNotFound,
)

T = TypeVar("T")





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
                raise AwsCredentialsMissing(f"no AWS region for {what}",
                                            hint="pass --region or set AWS_REGION") from None
            except ClientError as error:
                info = error.response.get("Error", {})
                raise AwsCallFailed(
                    f"{what} failed: {info.get('Code', 'Unknown')}: "
                    f"{info.get('Message', '').strip() or 'no message'}"
                ) from None
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

    @classmethod
    def create(cls, region: str | None = None) -> AwsClients:
        import boto3

        session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION")
                                        or None)
        return cls(
            s3=session.client("s3"),
            sfn=session.client("stepfunctions"),
            lambda_=session.client("lambda"),
            cloudformation=session.client("cloudformation"),
            ecr=session.client("ecr"),
            session=session,
        )


@dataclass(frozen=True)
class CredentialsLifetime:
    temporary: bool
    expires_at: datetime | None = None  # None with temporary=True: an unknown end


@dataclass(frozen=True)
class StackInfo:
    name: str
    bucket: str
    state_machine_arn: str
    function_arn: str
    version: str = ""
    status: str = ""
    parameters: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "bucket": self.bucket,
                "state_machine_arn": self.state_machine_arn,
                "function_arn": self.function_arn, "version": self.version,
                "status": self.status, "parameters": self.parameters}


class AwsFacade:
    def __init__(self, clients: AwsClients) -> None:
        self.clients = clients

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
        return str(self.clients.s3.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_s))

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
    @_aws_call("CloudFormation DescribeStacks")
    def stack(self, name: str) -> StackInfo:
        from botocore.exceptions import ClientError

        try:
            stacks = self.clients.cloudformation.describe_stacks(StackName=name)["Stacks"]
        except ClientError as error:
            if "does not exist" in str(error):
                raise StackNotFound(f"stack {name!r} does not exist in this account and region",
                                    hint="deploy it with 'hfaction lambda deploy'") from None
            raise
        stack = stacks[0]
        outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        tags = {t["Key"]: t["Value"] for t in stack.get("Tags", [])}
        missing = [key for key in ("RenderBucketName", "RenderStateMachineArn",
                                   "RenderFunctionArn") if key not in outputs]
        if missing:
            raise StackNotFound(f"stack {name!r} has no output {missing[0]}; is it an hfaction "
                                "stack?")
        return StackInfo(
            name=name,
            bucket=outputs["RenderBucketName"],
            state_machine_arn=outputs["RenderStateMachineArn"],
            function_arn=outputs["RenderFunctionArn"],
            version=tags.get("hfaction-version", outputs.get("HfactionVersion", "")),
            status=str(stack.get("StackStatus", "")),
            parameters={p["ParameterKey"]: p.get("ParameterValue", "")
                        for p in stack.get("Parameters", [])},
        )

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

    @_aws_call("Step Functions StopExecution")
    def stop_execution(self, execution_arn: str, cause: str) -> None:
        self.clients.sfn.stop_execution(executionArn=execution_arn, error="CANCELLED",
                                        cause=cause)


def execution_arn(state_machine_arn: str, render_id: str) -> str:
    """The execution ARN of a render: the state machine's ARN with the render id as name."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{render_id}"
