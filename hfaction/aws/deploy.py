"""Deploying the render stack with SAM: decide everything as data, then run ``sam``.

SAM runs as an external program (its botocore pin conflicts with moto's, so it lives
in its own virtualenv; ``HFACTION_SAM`` or ``sam`` on PATH). The template, the state
machine definition and the image recipe ship inside the package, so deploying works
from ``pip install hfaction`` as well as from a checkout.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from hfaction import __version__, proc
from hfaction.aws.facade import AwsFacade, StackInfo
from hfaction.aws.sizing import (
    DEFAULT_ARCHITECTURE,
    DEFAULT_MEMORY_MB,
    check_architecture,
    check_memory,
)
from hfaction.errors import (
    BadInput,
    ConcurrencyQuotaTooLow,
    InvalidOption,
    RenderFailed,
    SamFailed,
    SamNotFound,
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
    for relative in ("template.yaml", "statemachine/render.asl.json"):
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


@dataclass
class DeployPlan:
    stack_name: str
    region: str | None
    parameters: dict[str, str]
    tags: dict[str, str]
    build_image: bool
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"stack_name": self.stack_name, "region": self.region,
                "parameters": self.parameters, "tags": self.tags,
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
    if boundary is not None:  # else sam deploy keeps the stack's value (UsePreviousValue)
        parameters["PermissionsBoundaryArn"] = boundary
    return DeployPlan(stack_name=options.stack_name, region=options.region,
                      parameters=parameters,
                      tags={"hfaction-version": __version__, DIGEST_TAG: stack_digest()},
                      build_image=build, notes=notes)


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


def sam_binary() -> str:
    explicit = os.environ.get("HFACTION_SAM")
    found = explicit if explicit and Path(explicit).is_file() else shutil.which("sam")
    if not found:
        raise SamNotFound("the AWS SAM CLI ('sam') is not installed",
                          hint="pip install aws-sam-cli in its own virtualenv and put 'sam' on "
                          "PATH, or set HFACTION_SAM")
    return found


def deploy_template(destination: Path) -> Path:
    """The template with the state machine definition inlined, ready for ``sam deploy``.

    Inlining means nothing but the image needs packaging, so no artifact bucket.
    """
    template = yaml.safe_load(resource_path("template.yaml").read_text())
    asl = json.loads(resource_path("statemachine/render.asl.json").read_text())
    for resource in template.get("Resources", {}).values():
        properties = resource.get("Properties", {})
        if resource.get("Type") == "AWS::Serverless::StateMachine" and \
                "DefinitionUri" in properties:
            del properties["DefinitionUri"]
            properties["Definition"] = asl
    path = destination / "template.yaml"
    path.write_text(yaml.safe_dump(template, sort_keys=False))
    return path


def sam_deploy_args(sam: str, plan_: DeployPlan, template: Path) -> list[str]:
    args = [sam, "deploy", "--template-file", str(template), "--stack-name", plan_.stack_name,
            "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND",
            "--no-confirm-changeset", "--no-fail-on-empty-changeset", "--no-progressbar",
            "--parameter-overrides",
            # sam reads an empty value only quoted.
            *[f"{key}={value}" if value else f'{key}=""'
              for key, value in plan_.parameters.items()],
            "--tags", *[f"{key}={value}" for key, value in plan_.tags.items()]]
    if plan_.region:
        args += ["--region", plan_.region]
    if plan_.parameters.get("ImageUri"):
        # sam deploy refuses any template with an image function unless it is told a
        # repository, even when the image is already pushed (it then uploads nothing).
        args += ["--image-repository", image_repository(plan_.parameters["ImageUri"])]
    return args


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
                   on_note: Callable[[str], None] = lambda note: None) -> StackInfo:
    sam = sam_binary()
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
        template = deploy_template(Path(scratch))
        proc.run(sam_deploy_args(sam, plan_, template), what="sam deploy", error=SamFailed)
    stack = facade.stack(plan_.stack_name)
    save_stack_record(stack, plan_.region)
    return stack


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
