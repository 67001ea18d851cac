"""``hfaction lambda deploy`` with the real ``sam deploy`` against a moto server, then a
render, a second (no-op) deploy and ``progress`` on the stack it made.

A moto server runs in this process on 127.0.0.1 (a free port), configured to execute
state machines and to keep Lambda out of Docker. ``sam`` is the real aws-sam-cli from
its own virtualenv (``scripts/lint-aws.sh`` installs it into .venv-sam; its botocore pin
conflicts with moto's), found through ``HFACTION_SAM``; it and hfaction reach the server
through ``AWS_ENDPOINT_URL=http://localhost:PORT`` (``localhost``: moto tells S3 buckets
by host name) with dummy credentials. hfaction's commands run in-process through
:func:`hfaction.cli.main`, so the Lambda dispatch below reaches the real handler.

What moto lacks is patched here, in the test, never in hfaction: each patch does what
AWS does server-side, so that what hfaction and ``sam`` send is judged as AWS would.

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
- Lambda without Docker only echoes: every invocation is dispatched to the real
  ``hfaction.aws.handler.handle`` with its own S3 client and browser (closed afterwards),
  as tests/integration/aws/test_render_on_step_functions.py does.

The test skips when aws-sam-cli cannot be installed, naming it, unless
HFACTION_REQUIRE_TOOLS=1 (CI), where it fails.
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import re
import subprocess
import traceback
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import boto3
import pytest

from hfaction import __version__
from hfaction.aws.handler import Deps, handle
from hfaction.cli import main
from tests.conftest import FIXTURES
from tests.integration.aws.sfn_harness import REPO
from tests.integration.conftest import decode_gray

REGION = "us-east-1"
STACK = "hfdeploytest"
CONCURRENCY = 2
CHUNK = 20  # the motion fixture's 60 frames -> 3 chunks, more than CONCURRENCY
IMAGE_URI = f"123456789012.dkr.ecr.{REGION}.amazonaws.com/{STACK}-render:{__version__}"
LINT = REPO / "scripts" / "lint-aws.sh"
SAM_TRANSFORM = "AWS::Serverless-2016-10-31"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True},
               "lambda": {"use_docker": False}}


# --- aws-sam-cli -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sam() -> str:
    """The sam binary of .venv-sam, installed by scripts/lint-aws.sh on first use."""
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

    def __init__(self, endpoint: str, work: Path) -> None:
        self.endpoint = endpoint
        self.work = work
        self.bucket = ""
        self.actions: list[str] = []

    def invoke(self, body: Any, response_headers: dict[str, str]) -> bytes:
        raw = body.decode() if isinstance(body, bytes | bytearray) else str(body or "{}")
        event = json.loads(raw or "{}")
        self.actions.append(str(event.get("action")))
        deps = Deps(s3=boto3.client("s3", region_name=REGION, endpoint_url=self.endpoint),
                    bucket=self.bucket, work_root=self.work)
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


@pytest.fixture
def real_lambda(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                sam: str) -> Iterator[RealLambda]:
    """A patched moto server on loopback; this process's and sam's AWS point at it, and
    its Lambda runs the real handler."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.core.config import default_user_config
    from moto.server import ThreadedMotoServer

    saved_config = copy.deepcopy(default_user_config)
    with moto_as_aws():
        moto_server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        moto_server.start()
        port = moto_server.get_host_and_port()[1]
        endpoint = f"http://localhost:{port}"
        try:
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/moto-api/config", method="POST",
                data=json.dumps(MOTO_CONFIG).encode(),
                headers={"Content-Type": "application/json"})
            urllib.request.urlopen(request, timeout=10).close()
            for name in ("AWS_PROFILE", "AWS_REGION", "AWS_SESSION_TOKEN", "HFACTION_STACK"):
                monkeypatch.delenv(name, raising=False)
            for name, value in {
                "MOTO_PORT": str(port),  # the state machine interpreter calls Lambda here
                "AWS_ENDPOINT_URL": endpoint,
                "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": REGION,
                "AWS_CONFIG_FILE": str(tmp_path / "no-aws-config"),
                "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-aws-credentials"),
                "HFACTION_SAM": sam, "SAM_CLI_TELEMETRY": "0",
                "SAM_CLI_POLL_DELAY": "0.5",  # moto finishes at once: poll every 0.5 s, not 5
                "XDG_CONFIG_HOME": str(tmp_path / "config"),
            }.items():
                monkeypatch.setenv(name, value)
            lambda_ = RealLambda(endpoint, tmp_path / "lambda-tmp")

            def invoke(backend: Any, function_name: str, qualifier: Any, body: Any,
                       headers: Any, response_headers: dict[str, str]) -> bytes:
                return lambda_.invoke(body, response_headers)

            with mock.patch.object(LambdaSimpleBackend, "invoke", invoke):
                yield lambda_
        finally:
            with contextlib.suppress(OSError):
                urllib.request.urlopen(urllib.request.Request(
                    f"http://127.0.0.1:{port}/moto-api/reset", method="POST"), timeout=10)
            moto_server.stop()
            for key in [key for key in default_user_config if key not in saved_config]:
                del default_user_config[key]  # type: ignore[misc]
            default_user_config.update(saved_config)


def hfaction_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    """Run an hfaction command in-process; exit 0 and its JSON output."""
    capsys.readouterr()
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, f"hfaction {' '.join(argv)} exited {code}:\n{captured.err[-3000:]}"
    # The handler runs in this process too: skip the log lines it prints ({"hfaction": ...}).
    documents = []
    decoder, text, position = json.JSONDecoder(), captured.out, 0
    while text[position:].strip():
        position += len(text[position:]) - len(text[position:].lstrip())
        document, position = decoder.raw_decode(text, position)
        documents.append(document)
    results = [d for d in documents if not (isinstance(d, dict) and "hfaction" in d)]
    assert len(results) == 1 and isinstance(results[0], dict), captured.out[-3000:]
    return results[0]


def test_deploy_with_sam_then_render_then_an_unchanged_deploy_is_a_no_op(
        real_lambda: RealLambda, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    client = boto3.session.Session(region_name=REGION).client
    cloudformation, lambda_api = client("cloudformation"), client("lambda")

    deploy = ["lambda", "deploy", "--stack-name", STACK, "--concurrency", str(CONCURRENCY),
              "--image-uri", IMAGE_URI, "--json"]
    stack = hfaction_json(capsys, *deploy)
    assert stack["bucket"] == f"{STACK}-123456789012-{REGION}"
    assert stack["state_machine_arn"].endswith(f":stateMachine:{STACK}-render")
    assert stack["version"] == __version__ and stack["status"] == "CREATE_COMPLETE"
    assert stack["parameters"]["ImageUri"] == IMAGE_URI
    assert stack["parameters"]["Concurrency"] == str(CONCURRENCY)
    assert stack["parameters"]["ReserveConcurrency"] == "true"
    function = lambda_api.get_function(FunctionName=f"{STACK}-render")
    assert function["Configuration"]["Environment"]["Variables"]["RENDER_BUCKET"] == \
        stack["bucket"]
    assert function["Concurrency"]["ReservedConcurrentExecutions"] == CONCURRENCY + 2
    # The state machine runs the shipped ASL with the template's substitutions filled in.
    definition = client("stepfunctions").describe_state_machine(
        stateMachineArn=stack["state_machine_arn"])["definition"]
    assert "${" not in definition
    assert f'"FunctionName": "{stack["function_arn"]}"' in definition
    assert f"States.StringToJson('{CONCURRENCY}')" in definition
    real_lambda.bucket = stack["bucket"]  # the bucket the function may touch

    # The same deploy again: CloudFormation finds nothing to change, sam stops there.
    events = cloudformation.describe_stack_events(StackName=STACK)["StackEvents"]
    modified = function["Configuration"]["LastModified"]
    again = hfaction_json(capsys, *deploy)
    assert again == stack
    change_sets = cloudformation.list_change_sets(StackName=STACK)["Summaries"]
    assert [(c["Status"], c["ExecutionStatus"]) for c in change_sets] == \
        [("CREATE_COMPLETE", "EXECUTE_COMPLETE"), ("FAILED", "UNAVAILABLE")]
    assert "didn't contain changes" in change_sets[1]["StatusReason"]
    assert cloudformation.describe_stack_events(StackName=STACK)["StackEvents"] == events
    assert cloudformation.describe_stacks(StackName=STACK)["Stacks"][0]["StackStatus"] == \
        "CREATE_COMPLETE"
    assert lambda_api.get_function(FunctionName=f"{STACK}-render")[
        "Configuration"]["LastModified"] == modified

    # Render through the deployed state machine; the handler renders each chunk.
    out = tmp_path / "out.mp4"
    done = hfaction_json(capsys, "lambda", "render", str(FIXTURES / "motion"), "--wait",
                         "-o", str(out), "--chunk-size", str(CHUNK), "--stack-name", STACK,
                         "--json")
    assert done["status"] == "SUCCEEDED"
    assert done["chunks"] == {"total": 3, "done": 3, "in_flight": 0}
    assert done["frames"] == {"total": 60, "done": 60}
    render_id = done["render_id"]
    assert done["output_uri"] == f"s3://{stack['bucket']}/renders/{render_id}/out.mp4"
    assert out.stat().st_size == done["output_bytes"]
    assert decode_gray(out).shape[0] == 60
    assert sorted(real_lambda.actions) == \
        ["assemble", "plan", "render_chunk", "render_chunk", "render_chunk"]

    current = hfaction_json(capsys, "lambda", "progress", render_id, "--stack-name", STACK,
                            "--json")
    assert current["status"] == "SUCCEEDED"
    assert current["frames"] == {"total": 60, "done": 60}
    cost = current["cost"]
    assert cost == done["cost"]
    assert cost["invocations"] == 5 and cost["state_transitions"] > 0
    assert cost["lambda_usd"] > 0 and cost["step_functions_usd"] > 0
    assert cost["total_usd"] == pytest.approx(cost["lambda_usd"] + cost["step_functions_usd"],
                                              abs=2e-6)
