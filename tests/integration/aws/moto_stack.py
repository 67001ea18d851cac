"""A moto server that behaves like AWS for hfaction's render stack: deploy it with the real
``sam deploy``, render on it, and record every AWS API call the server receives.

Usage::

    from tests.integration.aws.moto_stack import deploy_stack, moto_stack, require_sam

    sam = require_sam()                        # .venv-sam's sam (skips/fails if missing)
    with moto_stack(sam=sam) as aws:           # a patched server on a free loopback port
        aws.endpoint                           # "http://localhost:PORT"
        aws.env                                # os.environ + dummy creds, endpoint, region:
                                               #   pass it to subprocesses (act, hfaction)
        stack = deploy_stack(aws, "hfaction", image_uri=IMAGE_URI)  # hfaction lambda deploy
        subprocess.run(["hfaction", "lambda", "render", ...], env=aws.env)
        aws.actions()                          # {"cloudformation:CreateChangeSet",
                                               #  "states:StartExecution", "s3:GetObject", ...}

While the block runs, this process's ``os.environ`` also points at the server (unless
``apply_env=False``), so in-process ``hfaction.cli.main`` and ``boto3`` clients use it too.

The server runs in this process, in a thread. Every Lambda invocation it receives, whoever
started the execution (this process, a ``sam`` or ``hfaction`` subprocess, act), is run by
the real ``hfaction.aws.handler.handle`` here, with its own S3 client (signed with the
access key :data:`LAMBDA_ROLE_KEY`, so its calls are told apart from the caller's) and its
own browser, closed afterwards. The bucket it may touch is the function's
``RENDER_BUCKET`` environment variable, as on Lambda.

Recording is server-side (a WSGI wrapper), so calls made by subprocesses are seen too. Each
:class:`ApiCall` names the signing service, the API operation, the IAM action that
authorises it (``s3:HeadObject`` is authorised by ``s3:GetObject``, ``lambda:Invoke`` by
``lambda:InvokeFunction``), the access key that signed it and, for S3, the resource ARN.
The state machine interpreter calls Lambda with the access key ``ak`` (moto's), the
handler with :data:`LAMBDA_ROLE_KEY`; the caller's calls carry :data:`USER_KEY`.

What moto lacks is patched here, in the tests, never in hfaction: each patch does what AWS
does server-side, so that what hfaction and ``sam`` send is judged as AWS would.

- CloudFormation does not understand the SAM transform: a change set whose template
  declares ``AWS::Serverless-2016-10-31`` is translated with aws-sam-translator (as
  CloudFormation does with the transform) before moto diffs and applies it. The
  submitted template is kept as the stack's template, as CloudFormation keeps it.
- moto resolves ``Fn::GetAtt`` only in its list form; the translator writes the string
  form ``Resource.Attribute`` (valid CloudFormation), so it is rewritten as a list.
- moto ignores ``DefinitionSubstitutions``: the translated ``DefinitionString`` becomes an
  ``Fn::Join`` of its literal text and the substitutions' values (Ref, GetAtt), which is
  what CloudFormation's substitution produces.
- moto's ``Fn::Select`` needs a literal index; the template's reserved-concurrency lookup
  selects with ``Ref: Concurrency``, so the index is resolved first.
- Stacks made through change sets (what ``sam deploy`` does) get no Outputs in moto: after
  ExecuteChangeSet the stack's outputs, parameters and tags are the change set's.
- moto decides that an update changes nothing by comparing the parameters as sent;
  CloudFormation compares their values (defaults and ``UsePreviousValue`` resolved), which
  is what makes an unchanged ``sam deploy`` a no-op.
- State machines created by CloudFormation go to moto's plain Step Functions backend,
  which the API does not read once state machines are executed: they are created in the
  executing one instead.
- Lambda ``GetAccountSettings`` (read by ``hfaction lambda deploy``) is not implemented:
  it answers as a default account, 1000 concurrent executions less what is reserved.
- Lambda without Docker only echoes: invocations are dispatched to the real handler (above).
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import traceback
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
import pytest

from hfaction import __version__
from tests.integration.aws.sfn_harness import REPO

REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account
USER_KEY = "testing"  # the access key of whoever uses the stack (tests, sam, hfaction, act)
LAMBDA_ROLE_KEY = "lambda-role"  # the access key of the handler's own S3 client
LINT = REPO / "scripts" / "lint-aws.sh"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True},
               "lambda": {"use_docker": False}}
# Variables that would take boto3, sam or hfaction somewhere else than the server.
CLEARED_ENV = ("AWS_PROFILE", "AWS_REGION", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN",
               "AWS_DEFAULT_PROFILE", "HFACTION_STACK")


def image_uri(stack_name: str, region: str = REGION) -> str:
    """An image URI in the stack's repository (``STACK-render``); nothing is pushed."""
    return f"{ACCOUNT}.dkr.ecr.{region}.amazonaws.com/{stack_name}-render:{__version__}"


# --- aws-sam-cli -------------------------------------------------------------------------


def require_sam() -> str:
    """The sam binary of .venv-sam, installed by scripts/lint-aws.sh on first use.

    Skips the calling test when aws-sam-cli cannot be installed, naming it, and fails it
    instead under HFACTION_REQUIRE_TOOLS=1.
    """
    venv = Path(os.environ.get("HFACTION_SAM_VENV") or REPO / ".venv-sam")
    binary = venv / "bin" / "sam"
    if not (binary.is_file() and any(venv.glob(".hfaction-sam-*"))):  # the script's marker
        # Installs aws-sam-cli (minutes, once) and lints the template with it.
        run = subprocess.run(["bash", str(LINT), "sam"], capture_output=True, text=True,
                             timeout=1500, check=False)
        output = f"{run.stdout}\n{run.stderr}".strip()
        if run.returncode == 3:
            missing = next((line for line in output.splitlines() if "cannot install" in line),
                           "cannot install aws-sam-cli")
            if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
                pytest.fail(missing)
            pytest.skip(missing)
        assert binary.is_file(), f"scripts/lint-aws.sh did not install sam:\n{output[-2000:]}"
    return str(binary)


# --- what moto lacks, done as CloudFormation and Lambda do it ----------------------------


def _getatt_as_lists(node: Any) -> Any:
    if isinstance(node, dict):
        return {key: value.split(".", 1) if key == "Fn::GetAtt" and isinstance(value, str)
                else _getatt_as_lists(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_getatt_as_lists(value) for value in node]
    return node


def _literal_text(node: Any) -> str:
    """A definition string: plain, or the translator's Fn::Join of literal lines."""
    if isinstance(node, str):
        return node
    if isinstance(node, dict) and set(node) == {"Fn::Join"}:
        separator, parts = node["Fn::Join"]
        if all(isinstance(part, str) for part in parts):
            return str(separator).join(parts)
    raise AssertionError(f"state machine definition is not literal text: {str(node)[:200]}")


def _substituted(definition: Any, substitutions: dict[str, Any]) -> dict[str, Any]:
    """``${Name}`` placeholders replaced by their values, as one Fn::Join."""
    text = _literal_text(definition)
    parts: list[Any] = []
    start = 0
    for match in re.finditer(r"\$\{([A-Za-z0-9_]+)\}", text):
        if match.group(1) in substitutions:
            parts += [text[start:match.start()], substitutions[match.group(1)]]
            start = match.end()
    parts.append(text[start:])
    return {"Fn::Join": ["", parts]}


def cloudformation_equivalent(template: dict[str, Any], region: str) -> dict[str, Any]:
    """The SAM template as CloudFormation runs it: transformed, with the state machine's
    DefinitionSubstitutions applied."""
    from samtranslator.parser.parser import Parser  # type: ignore[import-untyped]
    from samtranslator.translator.translator import Translator  # type: ignore[import-untyped]

    translator = Translator(None, Parser(), boto_session=boto3.session.Session(
        region_name=region))
    translated = _getatt_as_lists(translator.translate(
        copy.deepcopy(template), parameter_values={}, get_managed_policy_map=dict))
    for resource in translated["Resources"].values():
        properties = resource.get("Properties", {})
        if resource["Type"] == "AWS::StepFunctions::StateMachine" and \
                "DefinitionSubstitutions" in properties:
            substitutions = properties.pop("DefinitionSubstitutions")
            if "Definition" in properties:
                properties["DefinitionString"] = json.dumps(properties.pop("Definition"))
            properties["DefinitionString"] = _substituted(properties["DefinitionString"],
                                                          substitutions)
    return dict(translated)


@contextlib.contextmanager
def moto_as_aws() -> Iterator[None]:
    """The patches listed in the module docstring, for the duration of the block."""
    import moto.awslambda.urls
    import moto.cloudformation.parsing as cfn_parsing
    import moto.stepfunctions.models as sfn_models
    from moto.awslambda.utils import get_backend as lambda_backend
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Stack
    from moto.core.responses import BaseResponse
    from moto.stepfunctions.parser.models import stepfunctions_parser_backends

    parse_change_set = ChangeSet._parse_template
    execute_change_set = CloudFormationBackend.execute_change_set
    clean_json = cfn_parsing.clean_json

    def parse_with_transform(self: Any) -> None:
        parse_change_set(self)
        transform = self.template_dict.get("Transform")
        if SAM_TRANSFORM in (transform if isinstance(transform, list) else [transform]):
            self.template_dict = cloudformation_equivalent(self.template_dict,
                                                           self.stack.region_name)

    def execute_with_outputs(self: Any, change_set_name: str,
                             stack_name: str | None = None) -> None:
        change_set = self.describe_change_set(change_set_name)
        execute_change_set(self, change_set_name, stack_name)
        stack = self.stacks[change_set.stack_id]
        stack.template_dict = change_set.template_dict
        stack.parameters = change_set.parameters
        if change_set.tags is not None:
            stack.tags = change_set.tags
        stack.output_map = stack._create_output_map()

    def has_same_parameter_values(self: Any, other: dict[str, Any]) -> bool:
        declared = self.template_dict.get("Parameters") or {}
        defaults = {key: value["Default"] for key, value in declared.items()
                    if isinstance(value, dict) and "Default" in value}
        current = {key: str(value) for key, value in self.stack_parameters.items()}
        return current == {key: str(value) for key, value in {**defaults, **other}.items()}

    def select_with_resolved_index(resource_json: Any, resources_map: Any) -> Any:
        if isinstance(resource_json, dict) and "Fn::Select" in resource_json:
            index, values = resource_json["Fn::Select"]
            if isinstance(index, dict):
                resource_json = {"Fn::Select": [clean_json(index, resources_map), values]}
        return clean_json(resource_json, resources_map)

    def account_settings(request: Any, full_url: str, headers: Any) -> Any:
        response = BaseResponse(service_name="lambda")
        response.setup_class(request, full_url, headers)
        functions = list(lambda_backend(response.current_account,
                                        response.region).list_functions())
        reserved = sum(int(function.reserved_concurrency or 0) for function in functions)
        body = {"AccountLimit": {"ConcurrentExecutions": 1000,
                                 "UnreservedConcurrentExecutions": 1000 - reserved,
                                 "CodeSizeUnzipped": 262144000, "CodeSizeZipped": 52428800,
                                 "TotalCodeSize": 80530636800},
                "AccountUsage": {"FunctionCount": len(functions), "TotalCodeSize": 0}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body)

    with contextlib.ExitStack() as stack:
        stack.enter_context(mock.patch.object(ChangeSet, "_parse_template",
                                              parse_with_transform))
        stack.enter_context(mock.patch.object(CloudFormationBackend, "execute_change_set",
                                              execute_with_outputs))
        stack.enter_context(mock.patch.object(Stack, "has_parameters",
                                              has_same_parameter_values))
        stack.enter_context(mock.patch.object(cfn_parsing, "clean_json",
                                              select_with_resolved_index))
        stack.enter_context(mock.patch.object(sfn_models, "stepfunctions_backends",
                                              stepfunctions_parser_backends))
        stack.enter_context(mock.patch.dict(moto.awslambda.urls.url_paths, {
            r"{0}/(?P<api_version>[^/]+)/account-settings/?$": account_settings}))
        yield


class RealLambda:
    """Each invocation runs the real handler like a fresh container: its own S3 client
    and browser, closed afterwards. An exception becomes a function error, as the Lambda
    Python runtime reports it (its class name is the error Step Functions sees)."""

    def __init__(self, endpoint: str, region: str, work: Path) -> None:
        self.endpoint = endpoint
        self.region = region
        self.work = work
        self.events: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def actions(self) -> list[str]:
        """The ``action`` of every event the handler received, in order."""
        with self._lock:
            return [str(event.get("action")) for event in self.events]

    def invoke(self, event: dict[str, Any], bucket: str,
               response_headers: dict[str, str]) -> bytes:
        from hfaction.aws.handler import Deps, handle

        with self._lock:
            self.events.append(event)
        s3 = boto3.client("s3", region_name=self.region, endpoint_url=self.endpoint,
                          aws_access_key_id=LAMBDA_ROLE_KEY,
                          aws_secret_access_key=LAMBDA_ROLE_KEY)
        deps = Deps(s3=s3, bucket=bucket, work_root=self.work)
        context = SimpleNamespace(memory_limit_in_mb=10240, aws_request_id=str(uuid.uuid4()))
        try:
            return json.dumps(handle(event, context, deps)).encode()
        except Exception as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__,
                               "stackTrace": traceback.format_tb(error.__traceback__)}).encode()
        finally:
            if deps.session is not None:
                deps.session.__exit__(None, None, None)


@contextlib.contextmanager
def real_lambda(endpoint: str, region: str, work: Path) -> Iterator[RealLambda]:
    """Lambda invocations of moto's (Docker-less) backend run the real handler."""
    from moto.awslambda_simple.models import LambdaSimpleBackend

    lambda_ = RealLambda(endpoint, region, work)

    def invoke(backend: Any, function_name: str, qualifier: Any, body: Any,
               headers: Any, response_headers: dict[str, str]) -> bytes:
        raw = body.decode() if isinstance(body, bytes | bytearray) else str(body or "{}")
        function = backend.get_function(function_name, qualifier)
        bucket = str((function.environment_vars or {}).get("RENDER_BUCKET", ""))
        return lambda_.invoke(json.loads(raw or "{}"), bucket, response_headers)

    with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
        yield lambda_


# --- recording every call ----------------------------------------------------------------


@dataclass(frozen=True)
class ApiCall:
    """One AWS API request the server received."""

    service: str  # the signing name: "s3", "states", "cloudformation", "lambda", ...
    operation: str  # the API operation: "HeadObject", "StartExecution", ...
    action: str  # the IAM action that authorises it: "s3:GetObject", "states:StartExecution"
    access_key: str  # who signed it (USER_KEY, LAMBDA_ROLE_KEY, "ak" for the interpreter)
    resource: str = ""  # the resource ARN when the request names it (S3), else ""


# IAM actions whose name is not the operation's (service authorization reference).
_RENAMED = {("lambda", "Invoke"): "InvokeFunction",
            ("lambda", "InvokeWithResponseStream"): "InvokeFunction"}
_SUBRESOURCES = {"GET": {"location": "GetBucketLocation", "versioning": "GetBucketVersioning",
                         "policy": "GetBucketPolicy", "uploads": "ListBucketMultipartUploads",
                         "versions": "ListBucketVersions", "tagging": "GetBucketTagging",
                         "encryption": "GetEncryptionConfiguration", "acl": "GetBucketAcl",
                         "lifecycle": "GetLifecycleConfiguration", "cors": "GetBucketCORS",
                         "publicAccessBlock": "GetBucketPublicAccessBlock",
                         "ownershipControls": "GetBucketOwnershipControls",
                         "notification": "GetBucketNotification"},
                 "PUT": {"versioning": "PutBucketVersioning", "policy": "PutBucketPolicy",
                         "tagging": "PutBucketTagging", "lifecycle": "PutLifecycleConfiguration",
                         "encryption": "PutEncryptionConfiguration", "acl": "PutBucketAcl",
                         "publicAccessBlock": "PutBucketPublicAccessBlock", "cors":
                         "PutBucketCORS", "ownershipControls": "PutBucketOwnershipControls",
                         "notification": "PutBucketNotification"},
                 "DELETE": {"policy": "DeleteBucketPolicy", "tagging": "PutBucketTagging",
                            "lifecycle": "PutLifecycleConfiguration",
                            "encryption": "PutEncryptionConfiguration"}}


def s3_call(method: str, bucket: str, key: str, query: dict[str, list[str]],
            headers: dict[str, str]) -> tuple[str, str, str]:
    """(operation, IAM action, resource ARN) of an S3 REST request.

    The IAM action is what authorises it: HeadObject needs s3:GetObject, the multipart
    calls s3:PutObject, HeadBucket and ListObjects(V2) s3:ListBucket."""
    if not bucket:
        return "ListBuckets", "s3:ListAllMyBuckets", "*"
    if key:
        arn = f"arn:aws:s3:::{bucket}/{key}"
        if method in ("GET", "HEAD"):
            if "tagging" in query:
                return "GetObjectTagging", "s3:GetObjectTagging", arn
            if "uploadId" in query:
                return "ListParts", "s3:ListMultipartUploadParts", arn
            return ("HeadObject" if method == "HEAD" else "GetObject"), "s3:GetObject", arn
        if method == "PUT":
            if "tagging" in query:
                return "PutObjectTagging", "s3:PutObjectTagging", arn
            if "uploadId" in query:
                return "UploadPart", "s3:PutObject", arn
            if "x-amz-copy-source" in headers:
                return "CopyObject", "s3:PutObject", arn
            return "PutObject", "s3:PutObject", arn
        if method == "POST" and "uploads" in query:
            return "CreateMultipartUpload", "s3:PutObject", arn
        if method == "POST" and "uploadId" in query:
            return "CompleteMultipartUpload", "s3:PutObject", arn
        if method == "DELETE":
            if "uploadId" in query:
                return "AbortMultipartUpload", "s3:AbortMultipartUpload", arn
            return "DeleteObject", "s3:DeleteObject", arn
        return f"UNKNOWN {method} object", f"s3:UNKNOWN-{method}", arn
    arn = f"arn:aws:s3:::{bucket}"
    if method == "POST" and "delete" in query:
        return "DeleteObjects", "s3:DeleteObject", f"{arn}/*"
    for name, action in _SUBRESOURCES.get(method, {}).items():
        if name in query:
            return action, f"s3:{action}", arn
    default = {"HEAD": ("HeadBucket", "ListBucket"), "GET": ("ListObjects", "ListBucket"),
               "PUT": ("CreateBucket", "CreateBucket"), "DELETE": ("DeleteBucket",
                                                                   "DeleteBucket")}
    if method in default:
        operation, action = default[method]
        if operation == "ListObjects" and query.get("list-type") == ["2"]:
            operation = "ListObjectsV2"
        return operation, f"s3:{action}", arn
    return f"UNKNOWN {method} bucket", f"s3:UNKNOWN-{method}", arn


def _s3_location(environ: dict[str, Any]) -> tuple[str, str]:
    """(bucket, key) from a virtual-hosted (``bucket.localhost``) or path-style request."""
    host = str(environ.get("HTTP_HOST", "")).rsplit(":", 1)[0]
    path = urllib.parse.unquote(str(environ.get("PATH_INFO", "")))
    if host.endswith(".localhost"):
        return host.removesuffix(".localhost"), path.lstrip("/")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def _operation(service: str, environ: dict[str, Any], body: bytes) -> str:
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return str(target).rsplit(".", 1)[-1]
    query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")))
    if "Action" in query:
        return query["Action"][0]
    if body:
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    from moto.core.request import Request
    from moto.core.routing import get_service_router

    bare = {**environ, "wsgi.input": io.BytesIO(b""), "CONTENT_LENGTH": "0"}
    try:
        operation, _ = get_service_router(service).match(Request(bare))
        return str(operation.name)
    except Exception:  # not a route of the service: reported as such, the test sees it
        return f"UNKNOWN {environ.get('REQUEST_METHOD')} {environ.get('PATH_INFO')}"


def describe_request(environ: dict[str, Any], body: bytes) -> ApiCall | None:
    """The call a signed request makes, or None for unsigned ones (moto's own API)."""
    authorization = str(environ.get("HTTP_AUTHORIZATION", ""))
    match = re.search(r"Credential=([^/,\s]+)/[^/]+/[^/]+/([^/]+)/", authorization)
    if not match:
        return None
    access_key, service = match.group(1), match.group(2)
    if service == "s3":
        bucket, key = _s3_location(environ)
        query = urllib.parse.parse_qs(str(environ.get("QUERY_STRING", "")),
                                      keep_blank_values=True)
        headers = {name[5:].lower().replace("_", "-"): str(value)
                   for name, value in environ.items() if name.startswith("HTTP_")}
        operation, action, resource = s3_call(str(environ.get("REQUEST_METHOD")), bucket,
                                              key, query, headers)
        return ApiCall(service, operation, action, access_key, resource)
    operation = _operation(service, environ, body)
    action = f"{service}:{_RENAMED.get((service, operation), operation)}"
    return ApiCall(service, operation, action, access_key)


class CallRecorder:
    """WSGI middleware: records each signed request as an :class:`ApiCall`."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.calls: list[ApiCall] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        body = b""
        content_type = str(environ.get("CONTENT_TYPE", ""))
        if content_type.startswith("application/x-www-form-urlencoded") and \
                "HTTP_X_AMZ_TARGET" not in environ:
            # Query-protocol calls (CloudFormation, STS, IAM) name the action in the body.
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
        with contextlib.suppress(Exception):  # recording must never break the server
            call = describe_request(environ, body)
            if call is not None:
                with self._lock:
                    self.calls.append(call)
        return self.app(environ, start_response)

    def snapshot(self) -> list[ApiCall]:
        with self._lock:
            return list(self.calls)

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


def _recording_server(ip_address: str) -> tuple[Any, CallRecorder]:
    from moto.moto_server.threaded_moto_server import ThreadedMotoServer
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    recorder = CallRecorder(DomainDispatcherApplication(create_backend_app))

    class RecordingMotoServer(ThreadedMotoServer):
        def _server_entry(self) -> None:  # moto's, with the app wrapped
            self._server = make_server(self._ip_address, self._port, recorder, True,
                                       request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever()

    return RecordingMotoServer(ip_address=ip_address, port=0, verbose=False), recorder


# --- the stack ---------------------------------------------------------------------------


@dataclass
class MotoStack:
    """A running patched moto server (see :func:`moto_stack`)."""

    endpoint: str  # http://localhost:PORT
    port: int
    region: str
    aws_env: dict[str, str]  # what points a process at the server (creds, endpoint, ...)
    env: dict[str, str]  # os.environ at start, less CLEARED_ENV, plus aws_env
    work: Path  # scratch directory of the block (config, Lambda /tmp)
    lambda_: RealLambda
    recorder: CallRecorder = field(repr=False)

    @property
    def calls(self) -> list[ApiCall]:
        """Every signed call received so far, in order."""
        return self.recorder.snapshot()

    def actions(self, access_key: str | None = USER_KEY) -> set[str]:
        """The IAM actions of the calls signed with ``access_key`` (None: all of them)."""
        return {call.action for call in self.calls
                if access_key is None or call.access_key == access_key}

    def clear_calls(self) -> None:
        self.recorder.clear()

    def client(self, service: str) -> Any:
        """A boto3 client for the server, as the user."""
        return boto3.client(service, region_name=self.region, endpoint_url=self.endpoint,
                            aws_access_key_id=USER_KEY, aws_secret_access_key=USER_KEY)


@contextlib.contextmanager
def _environ(values: dict[str, str], cleared: Iterable[str]) -> Iterator[None]:
    saved = dict(os.environ)
    try:
        for name in cleared:
            os.environ.pop(name, None)
        os.environ.update(values)
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextlib.contextmanager
def moto_stack(*, region: str = REGION, sam: str | None = None, apply_env: bool = True,
               work: Path | None = None) -> Iterator[MotoStack]:
    """Start the patched, recording moto server on a free loopback port.

    ``sam``: the binary ``hfaction lambda deploy`` runs (HFACTION_SAM in the env), e.g.
    :func:`require_sam`'s. ``apply_env``: also point this process's ``os.environ`` at the
    server for the block (MOTO_PORT is always set: the state machine interpreter, in this
    process, calls Lambda through it). ``work``: a scratch directory (default: a temporary
    one, removed afterwards). Everything moto holds is reset at the end.
    """
    from moto.core.config import default_user_config

    saved_config = copy.deepcopy(default_user_config)
    with contextlib.ExitStack() as exits:
        if work is None:
            work = Path(exits.enter_context(tempfile.TemporaryDirectory(prefix="moto-stack-")))
        exits.enter_context(moto_as_aws())
        server, recorder = _recording_server("127.0.0.1")
        server.start()
        port = server.get_host_and_port()[1]
        endpoint = f"http://localhost:{port}"  # localhost: moto tells buckets by host name

        def stop() -> None:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{port}/moto-api/reset", method="POST"), timeout=10)
            server.stop()
            for key in [key for key in default_user_config if key not in saved_config]:
                del default_user_config[key]  # type: ignore[misc]
            default_user_config.update(saved_config)

        exits.callback(stop)
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/moto-api/config", method="POST",
            data=json.dumps(MOTO_CONFIG).encode(), headers={"Content-Type": "application/json"})
        urllib.request.urlopen(request, timeout=10).close()
        aws_env = {
            "AWS_ENDPOINT_URL": endpoint,
            "AWS_ACCESS_KEY_ID": USER_KEY, "AWS_SECRET_ACCESS_KEY": USER_KEY,
            "AWS_DEFAULT_REGION": region,
            "AWS_CONFIG_FILE": str(work / "no-aws-config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(work / "no-aws-credentials"),
            "SAM_CLI_TELEMETRY": "0",
            "SAM_CLI_POLL_DELAY": "0.5",  # moto finishes at once: poll every 0.5 s, not 5
            "XDG_CONFIG_HOME": str(work / "config"),
        }
        if sam:
            aws_env["HFACTION_SAM"] = sam
        env = {name: value for name, value in os.environ.items() if name not in CLEARED_ENV}
        env.update(aws_env)
        # The interpreter's Lambda calls go to MOTO_PORT, read from this process's environ.
        exits.enter_context(_environ({"MOTO_PORT": str(port),
                                      **(aws_env if apply_env else {})},
                                     CLEARED_ENV if apply_env else ()))
        lambda_ = exits.enter_context(real_lambda(endpoint, region, work / "lambda-tmp"))
        yield MotoStack(endpoint=endpoint, port=port, region=region, aws_env=aws_env,
                        env=env, work=work, lambda_=lambda_, recorder=recorder)


def deploy_stack(aws: MotoStack, stack_name: str = "hfaction", *,
                 image: str | None = None, concurrency: int = 2,
                 extra_args: Iterable[str] = ()) -> dict[str, Any]:
    """``hfaction lambda deploy --image-uri IMAGE --json`` (the real ``sam deploy``) in a
    subprocess against the server; returns the stack it printed. Needs ``sam`` given to
    :func:`moto_stack`. ``image`` defaults to :func:`image_uri` (nothing is built)."""
    assert "HFACTION_SAM" in aws.env, "moto_stack(sam=require_sam()) is needed to deploy"
    argv = [sys.executable, "-m", "hfaction", "lambda", "deploy", "--stack-name", stack_name,
            "--concurrency", str(concurrency), "--image-uri",
            image or image_uri(stack_name, aws.region), "--json", *extra_args]
    run = subprocess.run(argv, env=aws.env, capture_output=True, text=True, timeout=600,
                         check=False)
    assert run.returncode == 0, \
        f"hfaction lambda deploy exited {run.returncode}:\n{run.stderr[-3000:]}"
    stack = json.loads(run.stdout)
    assert isinstance(stack, dict), run.stdout[-2000:]
    return stack
