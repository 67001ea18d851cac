"""Deploying the render stack: decide everything as data, then create and execute a
CloudFormation change set of the SAM template (CloudFormation applies the SAM transform).

The template goes to CloudFormation as compact JSON with each state machine's definition
inlined (:func:`deploy_template`): no artifact bucket, and within CloudFormation's
51,200-byte TemplateBody limit. ``sam deploy`` cannot do that: it re-serializes the
template as YAML (about 64 KB with three state machines) and then needs an S3 bucket.
The template, the state machine definitions and the image recipe ship inside the package,
so deploying works from ``pip install hfaction`` as well as from a checkout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hfaction import __version__
from hfaction.aws.facade import AwsFacade, StackInfo
from hfaction.aws.sizing import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_MEMORY_MB,
    check_architecture,
    check_memory,
)
from hfaction.errors import (
    AwsCallFailed,
    BadInput,
    ConcurrencyQuotaTooLow,
    HfactionError,
    InvalidOption,
    RenderFailed,
    StackNotFound,
)

REPO_ROOT = Path(__file__).resolve().parents[2]
BUNDLE = "_bundle"
# Lambda keeps at least this much of an account's concurrency unreserved.
LAMBDA_MIN_UNRESERVED = 100
# Reserved concurrency beyond the Map's: room for a plan and an assemble at once.
EXTRA_RESERVED = 2
# The stack tag holding stack_digest(): what --only-if-outdated compares besides parameters.
DIGEST_TAG = "hfaction-digest"
# template.yaml's PermissionsBoundaryArn: a customer managed policy's ARN.
_BOUNDARY_ARN = re.compile(r"^arn:aws[a-z-]*:iam::[0-9]{12}:policy/[A-Za-z0-9+=,.@_/-]{1,512}$")
# template.yaml's NotifyTopicArn: a standard or FIFO topic's ARN.
_TOPIC_ARN = re.compile(r"^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$")
# An environment variable's name (--webhook-secret-env).
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,255}$")
# CloudFormation refuses a TemplateBody above this many bytes (without an S3 upload, which
# would need an artifact bucket).
TEMPLATE_BODY_LIMIT = 51_200



def resource_path(relative: str) -> Path:
    """A file of the deployment recipe: the packaged copy, else the checkout's original."""
    packaged = resources.files("hfaction.aws") / BUNDLE / relative
    if packaged.is_file():
        return Path(str(packaged))
    original = REPO_ROOT / relative
    if original.is_file():
        return original
    raise RenderFailed(f"hfaction's {relative} is missing from this installation",
                       hint="reinstall hfaction")


# What the image runs of hfaction: the handler and the render core it calls (not the CLI,
# the GitHub Action steps, the policies or the CDK construct).
_IMAGE_CODE = ("__init__.py", "errors.py", "proc.py", "aws", "render")
_CODE_SUFFIXES = (".py", ".js", ".json", ".typed")


@functools.cache
def code_digest() -> str:
    """SHA-256 of the hfaction code the render image runs (the handler, the render core),
    so that a changed handler is a new image even within one hfaction version."""
    package = Path(__file__).resolve().parents[1]
    digest = hashlib.sha256()
    for top in _IMAGE_CODE:
        root = package / top
        paths = [root] if root.is_file() else sorted(root.rglob("*"))
        for path in paths:
            relative = path.relative_to(package)
            if not path.is_file() or path.suffix not in _CODE_SUFFIXES or \
                    {"__pycache__", BUNDLE} & set(relative.parts):
                continue
            digest.update(f"{relative.as_posix()}\0{path.stat().st_size}\0".encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


def recipe_digest() -> str:
    """Identifies an image build: hfaction's version plus the content of the Dockerfile, the
    image's entry point and the code it runs."""
    digest = hashlib.sha256()
    for relative in ("handler/Dockerfile", "handler/app.py"):
        digest.update(resource_path(relative).read_bytes() + b"\0")
    digest.update(code_digest().encode())
    return f"{__version__}-{digest.hexdigest()[:12]}"


def stack_digest() -> str:
    """Identifies what a deploy installs besides its parameters: the template, the state
    machine and the image recipe. Deploys tag the stack with it (``hfaction-digest``), and
    ``--only-if-outdated`` deploys again when the stack's tag differs."""
    digest = hashlib.sha256()
    for relative in ("template.yaml", *definition_uris()):
        digest.update(resource_path(relative).read_bytes() + b"\0")
    digest.update(recipe_digest().encode())
    return digest.hexdigest()[:16]


@dataclass
class DeployOptions:
    stack_name: str = "hfaction"
    region: str | None = None
    concurrency: int = 8
    memory: int = DEFAULT_MEMORY_MB
    architecture: str = DEFAULT_ARCHITECTURE
    retention_days: int = 7
    image_uri: str | None = None
    # The stack's roles' permissions boundary: None keeps the stack's (none for a new
    # stack), "" removes it.
    permissions_boundary: str | None = None
    # Completion notifications (None keeps the stack's, "" removes it): an SNS topic's ARN,
    # a webhook URL, and the name of the environment variable holding the webhook's secret
    # (its value is read by plan_deploy, never stored here).
    notify_topic: str | None = None
    webhook_url: str | None = None
    webhook_secret_env: str | None = None


@dataclass
class DeployPlan:
    stack_name: str
    region: str | None
    parameters: dict[str, str]
    tags: dict[str, str]
    build_image: bool
    notes: list[str] = field(default_factory=list)
    # facade.SECRET_PARAMETERS' values: sent in the change set request only, shown nowhere.
    secret_parameters: dict[str, str] = field(default_factory=dict, repr=False)

    def to_dict(self) -> dict[str, Any]:
        return {"stack_name": self.stack_name, "region": self.region,
                "parameters": self.parameters, "tags": self.tags,
                "secret_parameters": sorted(self.secret_parameters),
                "build_image": self.build_image, "notes": self.notes}


# The template's ProjectName: the bucket name adds account and region within 63 characters.
_STACK_NAME = re.compile(r"^[a-z]([a-z0-9-]{0,33}[a-z0-9])?$")


def plan_deploy(options: DeployOptions, facade: AwsFacade) -> DeployPlan:
    """Check the options against the account's limits and decide the stack's parameters."""
    if not _STACK_NAME.fullmatch(options.stack_name):
        raise InvalidOption(f"--stack-name {options.stack_name!r} must be lowercase letters, "
                            "digits and '-' (at most 35), starting with a letter")
    check_architecture(options.architecture)
    check_memory(options.memory)
    if options.concurrency < 1:
        raise InvalidOption(f"--concurrency {options.concurrency} must be at least 1")
    boundary = options.permissions_boundary
    if boundary and not _BOUNDARY_ARN.fullmatch(boundary):
        raise InvalidOption(f"--permissions-boundary {boundary!r} is not a managed policy's "
                            "ARN", hint="arn:aws:iam::ACCOUNT:policy/STACK-boundary, made "
                            "from 'hfaction policies boundary'")
    notes: list[str] = []
    limit, unreserved = facade.account_concurrency()
    current = 0
    current_params: dict[str, str] | None = None
    try:
        current_params = facade.stack(options.stack_name).parameters
        if current_params.get("ReserveConcurrency", "true") == "true":
            current = int(current_params.get("Concurrency", "0") or 0) + EXTRA_RESERVED
    except BadInput:
        pass
    adopt = adopt_bucket(facade, options.stack_name, current_params, notes)
    reservable = unreserved + current - LAMBDA_MIN_UNRESERVED
    concurrency = options.concurrency
    reserve = concurrency + EXTRA_RESERVED <= reservable
    if not reserve:
        if limit < 1 + EXTRA_RESERVED:
            raise ConcurrencyQuotaTooLow(
                f"this account allows {limit} concurrent Lambda executions, too few to render "
                "a chunk beside a plan and an assemble",
                hint="request a higher 'Concurrent executions' quota in Service Quotas",
            )
        concurrency = min(concurrency, limit - EXTRA_RESERVED)
        notes.append(
            f"not reserving concurrency: the account allows {limit} concurrent executions and "
            f"Lambda keeps {LAMBDA_MIN_UNRESERVED} unreserved; rendering up to {concurrency} "
            "chunks at once from the shared pool (throttling is retried). Request a higher "
            "'Concurrent executions' quota in Service Quotas to reserve capacity"
        )
    parameters = {
        "ProjectName": options.stack_name,
        "Concurrency": str(concurrency),
        "MemorySize": str(options.memory),
        "Architecture": options.architecture,
        "IntermediateRetentionDays": str(options.retention_days),
        "HfactionVersion": __version__,
        "ReserveConcurrency": "true" if reserve else "false",
        "AdoptBucket": "true" if adopt else "false",
    }
    build = options.image_uri is None
    if options.image_uri:
        parameters["ImageUri"] = options.image_uri
    if boundary is not None:  # else the stack keeps its value (UsePreviousValue)
        parameters["PermissionsBoundaryArn"] = boundary
    notify, secrets = notify_parameters(options, current_params)
    parameters.update(notify)
    return DeployPlan(stack_name=options.stack_name, region=options.region,
                      parameters=parameters,
                      tags={"hfaction-version": __version__, DIGEST_TAG: stack_digest()},
                      build_image=build, notes=notes, secret_parameters=secrets)


def notify_parameters(options: DeployOptions, current: dict[str, str] | None,
                      environ: Mapping[str, str] | None = None,
                      ) -> tuple[dict[str, str], dict[str, str]]:
    """(parameters, secret parameters) of the completion notifications, checked.

    An option left at None is not sent, so the stack keeps its value; "" turns that
    target off. A webhook needs its secret, read from the environment variable
    ``webhook_secret_env`` names (at least 16 characters). No message holds the secret.
    """
    from hfaction.aws.notify import MIN_SECRET_CHARS, check_webhook_url

    env = os.environ if environ is None else environ
    parameters: dict[str, str] = {}
    secrets: dict[str, str] = {}
    topic = options.notify_topic
    if topic is not None:
        topic = topic.strip()
        if topic and not _TOPIC_ARN.fullmatch(topic):
            raise InvalidOption(f"--notify-topic {topic!r} is not an SNS topic's ARN",
                                hint="arn:aws:sns:REGION:ACCOUNT:NAME, e.g. from 'aws sns "
                                     "create-topic --name renders'")
        parameters["NotifyTopicArn"] = topic
    url = options.webhook_url
    name = options.webhook_secret_env
    if url is not None:
        url = url.strip()
        parameters["WebhookUrl"] = check_webhook_url(url) if url else ""
        if not url:
            secrets["WebhookSecret"] = ""  # no webhook, no secret kept in the stack
    if name is not None:
        if url == "":
            raise InvalidOption("--webhook-secret-env is for a webhook, and --webhook '' "
                                "removes it", hint="leave out one of the two")
        if not _ENV_NAME.fullmatch(name):
            raise InvalidOption(f"--webhook-secret-env {name!r} is not an environment "
                                "variable's name", hint="the NAME of the variable that holds "
                                "the secret, e.g. HFACTION_WEBHOOK_SECRET, not the secret")
        secret = env.get(name, "")
        if not secret.strip():
            raise InvalidOption(f"the environment variable {name} (--webhook-secret-env) "
                                "is not set or empty", hint=f"export {name} with the webhook's "
                                "secret, e.g. from your secret store")
        if len(secret.strip()) < MIN_SECRET_CHARS:
            raise InvalidOption(f"the webhook secret in {name} is shorter than "
                                f"{MIN_SECRET_CHARS} characters",
                                hint="generate one: python -c 'import secrets; "
                                     "print(secrets.token_urlsafe(32))'")
        secrets["WebhookSecret"] = secret.strip()
    elif url:
        has_webhook = bool(current and current.get("WebhookUrl"))
        if not has_webhook:
            raise InvalidOption("--webhook needs the secret its notifications are signed "
                                "with", hint="--webhook-secret-env NAME, NAME being an "
                                "environment variable holding at least "
                                f"{MIN_SECRET_CHARS} characters")
        # Another URL for a stack that has a webhook: its secret stays (UsePreviousValue).
    return parameters, secrets


def bucket_name(stack_name: str, account: str, region: str) -> str:
    """The render bucket's name (template.yaml: ProjectName-AccountId-Region)."""
    return f"{stack_name}-{account}-{region}"


def adopt_bucket(facade: AwsFacade, stack_name: str, current: dict[str, str] | None,
                 notes: list[str]) -> bool:
    """Whether the stack must use an existing bucket (AdoptBucket) rather than create it.

    The bucket is retained when its stack is deleted ('hfaction lambda destroy' keeps the
    renders), so a stack deployed again under the same name would fail to create it. A
    stack that adopted its bucket keeps doing so; a new stack adopts the bucket of its
    name when one is there (and says so); a stack that made its own bucket keeps it.
    """
    if current is not None:
        return current.get("AdoptBucket") == "true"
    account = facade.account_id()
    if account is None:
        return False
    name = bucket_name(stack_name, account, facade.region)
    if not facade.bucket_exists(name):
        return False
    notes.append(f"adopting the bucket {name} that a deleted stack {stack_name} kept: its "
                 "renders and sites stay, and the new stack uses it")
    return True


def _state_machines(template: Mapping[str, Any]) -> dict[str, str]:
    """logical id -> DefinitionUri of the template's SAM state machines."""
    found: dict[str, str] = {}
    for logical_id, resource in (template.get("Resources") or {}).items():
        properties = resource.get("Properties") or {}
        uri = properties.get("DefinitionUri")
        if resource.get("Type") == "AWS::Serverless::StateMachine" and isinstance(uri, str):
            found[logical_id] = uri
    return found


def definition_uris() -> list[str]:
    """The state machine definitions template.yaml names, each once, in order."""
    template = yaml.safe_load(resource_path("template.yaml").read_text())
    return list(dict.fromkeys(_state_machines(template).values()))


# Where ASL holds data rather than states: a key named Comment there is the payload's.
_ASL_DATA_FIELDS = frozenset({"Parameters", "Arguments", "Payload", "Result", "ResultSelector",
                              "ItemSelector", "Output", "Assign", "Input"})


def strip_comments(node: Any) -> Any:
    """An ASL definition without its ``Comment`` fields (they are for readers of the file,
    and the template CloudFormation takes is limited in size); data fields kept whole."""
    if isinstance(node, list):
        return [strip_comments(item) for item in node]
    if not isinstance(node, dict):
        return node
    return {key: value if key in _ASL_DATA_FIELDS else strip_comments(value)
            for key, value in node.items()
            if not (key == "Comment" and isinstance(value, str))}


def deploy_template_data() -> dict[str, Any]:
    """template.yaml with each state machine's own definition (its DefinitionUri) inlined,
    without the ASL's comments."""
    template = yaml.safe_load(resource_path("template.yaml").read_text())
    for logical_id, uri in _state_machines(template).items():
        properties = template["Resources"][logical_id]["Properties"]
        del properties["DefinitionUri"]
        properties["Definition"] = strip_comments(json.loads(resource_path(uri).read_text()))
    assert isinstance(template, dict)
    return template


def deploy_template(destination: Path) -> Path:
    """The template for the change set: definitions inlined, as compact JSON.

    Inlining means nothing but the image needs packaging, so no artifact bucket; without
    one, CloudFormation takes a template of at most TEMPLATE_BODY_LIMIT bytes, which the
    YAML with its comments and three inlined definitions would exceed. SAM and
    CloudFormation read JSON templates as they read YAML ones.
    """
    text = json.dumps(deploy_template_data(), separators=(",", ":"), ensure_ascii=False)
    size = len(text.encode())
    if size > TEMPLATE_BODY_LIMIT:
        raise RenderFailed(f"the deploy template is {size} bytes, more than CloudFormation's "
                           f"{TEMPLATE_BODY_LIMIT}", hint="a bug in hfaction: report it")
    path = destination / "template.json"
    path.write_text(text)
    return path


# Change sets hfaction makes are named CHANGE_SET_PREFIX + a timestamp (the deploy
# policy's change set ARN, hfaction/policies/required.py).
CHANGE_SET_PREFIX = "hfaction-deploy"
CAPABILITIES = ("CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND")


def template_parameter_names() -> list[str]:
    """template.yaml's parameters, in order."""
    template = yaml.safe_load(resource_path("template.yaml").read_text())
    return list(template.get("Parameters") or {})


def change_set_request(plan_: DeployPlan, template_body: str,
                       deployed: Mapping[str, str] | None, names: list[str], *,
                       change_set_name: str) -> dict[str, Any]:
    """CloudFormation's CreateChangeSet request for the plan (pure).

    ``deployed``: the existing stack's parameters (None: a new stack). A parameter the plan
    does not set keeps the stack's value (UsePreviousValue, as sam deploy did: that is how
    an unchanged --permissions-boundary or webhook secret stays); a new stack takes the
    template's default. Secret parameters travel only in this request (NoEcho).
    """
    values = {**plan_.parameters, **plan_.secret_parameters}
    parameters: list[dict[str, Any]] = []
    for name in names:
        if name in values:
            parameters.append({"ParameterKey": name, "ParameterValue": values[name]})
        elif deployed is not None and name in deployed:
            parameters.append({"ParameterKey": name, "UsePreviousValue": True})
    return {"StackName": plan_.stack_name, "ChangeSetName": change_set_name,
            "ChangeSetType": "UPDATE" if deployed is not None else "CREATE",
            "TemplateBody": template_body, "Parameters": parameters,
            "Capabilities": list(CAPABILITIES),
            "Tags": [{"Key": key, "Value": value} for key, value in plan_.tags.items()]}


# A change set that changes nothing fails with one of these reasons: the deploy is a no-op.
_NO_CHANGES = ("didn't contain changes", "No updates are to be performed")
DEFAULT_POLL_S = 5.0
DEPLOY_TIMEOUT_S = 3600.0


def _poll_s() -> float:
    try:
        value = float(os.environ.get("HFACTION_DEPLOY_POLL_S", DEFAULT_POLL_S))
    except ValueError:
        return DEFAULT_POLL_S
    return value if value > 0 else DEFAULT_POLL_S


def cloudformation_deploy(plan_: DeployPlan, facade: AwsFacade, template_body: str, *,
                          sleep: Callable[[float], None] = time.sleep,
                          clock: Callable[[], float] = time.monotonic) -> bool:
    """Create the stack or update it through a change set; False when nothing changed.

    A stack whose creation failed (ROLLBACK_COMPLETE) cannot be updated: it is deleted and
    created again. AWS_CALL_FAILED (with CloudFormation's first failure reasons) when the
    change set or the stack fails; messages never hold a parameter's value."""
    name = plan_.stack_name
    try:
        described: dict[str, Any] | None = facade.describe_stack(name)
    except StackNotFound:
        described = None
    status = str((described or {}).get("StackStatus", ""))
    if status == "ROLLBACK_COMPLETE":
        facade.delete_stack(name)
        described, status = None, ""
    elif status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise InvalidOption(f"stack {name!r} is {status}: another deploy or delete is running",
                            hint="wait for it to finish, then deploy again")
    deployed = None if described is None or status == "REVIEW_IN_PROGRESS" else {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    change_set = f"{CHANGE_SET_PREFIX}{int(time.time() * 1000)}"
    facade.create_change_set(change_set_request(plan_, template_body, deployed,
                                                template_parameter_names(),
                                                change_set_name=change_set))
    deadline = clock() + DEPLOY_TIMEOUT_S
    while True:
        described_set = facade.describe_change_set(name, change_set)
        state = str(described_set.get("Status", ""))
        if state == "FAILED":
            reason = " ".join(str(described_set.get("StatusReason", "")).split())
            if any(marker in reason for marker in _NO_CHANGES):
                return False
            raise AwsCallFailed(f"CloudFormation refused the change set of stack {name}: "
                                f"{reason or 'no reason given'}")
        if state == "CREATE_COMPLETE":
            break
        if clock() > deadline:
            raise AwsCallFailed(f"CloudFormation's change set of stack {name} is still "
                                f"{state or 'pending'} after {DEPLOY_TIMEOUT_S:.0f} s")
        sleep(_poll_s())
    facade.execute_change_set(name, change_set)
    while True:
        status = str(facade.describe_stack(name).get("StackStatus", ""))
        if not status.endswith("_IN_PROGRESS") or status == "REVIEW_IN_PROGRESS":
            break
        if clock() > deadline:
            raise AwsCallFailed(f"stack {name} is still {status} after "
                                f"{DEPLOY_TIMEOUT_S:.0f} s")
        sleep(_poll_s())
    if status not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
        reasons = [f"{event.get('LogicalResourceId')}: {event.get('ResourceStatusReason')}"
                   for event in facade.stack_events(name)
                   if str(event.get("ResourceStatus", "")).endswith("_FAILED")
                   and event.get("ResourceStatusReason")][:3]
        raise AwsCallFailed(f"CloudFormation could not deploy stack {name} ({status})"
                            + (f": {'; '.join(reversed(reasons))}" if reasons else ""),
                            hint="see the stack's events in the CloudFormation console")
    return True


def image_repository(image_uri: str) -> str:
    """The repository of an image URI: without its ``@digest`` or ``:tag``."""
    repository = image_uri.split("@", 1)[0]
    name_start = repository.rfind("/") + 1
    tag = repository.find(":", name_start)
    return repository[:tag] if tag >= 0 else repository


_SETTLED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE",
            "IMPORT_COMPLETE")


def current_stack(plan_: DeployPlan, facade: AwsFacade) -> StackInfo | None:
    """The deployed stack when deploying ``plan_`` would change nothing, else None.

    Up to date means: settled, deployed by this hfaction version with this template, state
    machine and image recipe (the ``hfaction-digest`` tag), the same parameters, and an image
    built from this recipe (its tag is the recipe digest) or the one asked for.
    ``deploy: auto`` in the GitHub Action uses this to skip the image build and SAM.
    """
    from hfaction.aws.image import image_tag

    try:
        stack = facade.stack(plan_.stack_name)
    except BadInput:
        return None
    if stack.status not in _SETTLED or stack.version != __version__:
        return None
    if stack.tags.get(DIGEST_TAG) != plan_.tags.get(DIGEST_TAG):
        return None
    if any(plan_.secret_parameters.values()):
        return None  # CloudFormation shows a secret as ****: it cannot be compared
    deployed = dict(stack.parameters)
    wanted = dict(plan_.parameters)
    image = deployed.pop("ImageUri", "")
    asked = wanted.pop("ImageUri", None)
    if any(deployed.get(key) != value for key, value in wanted.items()):
        return None
    if asked is not None:
        return stack if image == asked else None
    tag = image_tag(recipe_digest(), plan_.parameters["Architecture"])
    return stack if image.endswith(f":{tag}") else None


def execute_deploy(plan_: DeployPlan, facade: AwsFacade, *,
                   on_note: Callable[[str], None] = lambda note: None,
                   sleep: Callable[[float], None] = time.sleep) -> StackInfo:
    if plan_.build_image:
        from hfaction.aws.image import ensure_image

        image, built = ensure_image(
            facade, plan_.stack_name, plan_.parameters["Architecture"],
            recipe=recipe_digest(), dockerfile=resource_path("handler/Dockerfile"),
            app=resource_path("handler/app.py"), repo_root=REPO_ROOT)
        on_note(f"{'built and pushed' if built else 'reusing'} image {image}")
        plan_.parameters["ImageUri"] = image
        plan_.build_image = False
    with tempfile.TemporaryDirectory(prefix="hfaction-deploy-") as scratch:
        body = deploy_template(Path(scratch)).read_text()
    try:
        changed = cloudformation_deploy(plan_, facade, body, sleep=sleep)
    except HfactionError as error:
        raise _without_secrets(error, plan_) from None
    if not changed:
        on_note(f"stack {plan_.stack_name} already has this template and these parameters")
    stack = facade.stack(plan_.stack_name)
    save_stack_record(stack, plan_.region)
    return stack


def _without_secrets(error: HfactionError, plan_: DeployPlan) -> HfactionError:
    """The error with any secret value masked (CloudFormation masks NoEcho parameters
    itself; this holds whatever an error repeats)."""
    values = [value for value in plan_.secret_parameters.values() if value]
    if not values:
        return error

    def masked(text: str) -> str:
        for value in values:
            text = text.replace(value, "****")
        return text

    error.message = masked(error.message)
    error.hint = masked(error.hint) if error.hint else None
    error.args = (error.one_line(),)
    return error


def stack_record_path(stack_name: str, region: str | None) -> Path:
    base = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return base / "hfaction" / "stacks" / f"{region or 'default'}-{stack_name}.json"


def save_stack_record(stack: StackInfo, region: str | None) -> Path:
    path = stack_record_path(stack.name, region)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(stack.to_dict(), indent=1))
    return path


@dataclass(frozen=True)
class Destroyed:
    name: str
    status: str  # the stack's status before the delete
    bucket: str | None  # the bucket kept; None: the stack never reported one (a failed deploy)


def destroy(facade: AwsFacade, stack_name: str) -> Destroyed:
    """Delete the stack (its bucket is retained) and the image repository.

    A stack whose deploy failed has no outputs: it is still an hfaction stack (its
    ``hfaction-version`` tag says so) and is deleted all the same; anything else is refused.
    """
    described = facade.describe_stack(stack_name)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    tags = {t["Key"]: t["Value"] for t in described.get("Tags", [])}
    if "RenderBucketName" not in outputs and "hfaction-version" not in tags:
        raise StackNotFound(f"stack {stack_name!r} in region {facade.region} is not an hfaction "
                            "stack (no RenderBucketName output, no hfaction-version tag); "
                            "not deleting it")
    facade.delete_stack(stack_name)
    facade.delete_repository(f"{stack_name}-render")
    return Destroyed(stack_name, str(described.get("StackStatus", "")),
                     outputs.get("RenderBucketName"))
