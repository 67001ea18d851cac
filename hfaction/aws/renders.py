"""Sites, renders and their progress on a deployed stack (everything through the facade).

:func:`render` is what ``hfaction lambda render`` does, callable without the CLI: checks,
the site upload, the start, waiting, the download.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from hfaction import __version__
from hfaction.aws import s3uri
from hfaction.aws.cost import Cost, render_cost, state_transitions
from hfaction.aws.facade import (
    AwsClients,
    AwsFacade,
    CredentialsLifetime,
    StackInfo,
    execution_arn,
)
from hfaction.aws.limits import RenderLimits, check_project
from hfaction.errors import (
    AwsCallFailed,
    HfactionError,
    InvalidOption,
    RenderFailed,
    RenderNotRunning,
    error_from_dict,
)
from hfaction.render.options import RenderOptions, check_distributed, options_to_event
from hfaction.render.project import ProjectFile, check_project_dir, iter_project_files, sha256_file
from hfaction.render.project import tree_hash as project_tree_hash

SITE_MANIFEST = s3uri.SITE_MANIFEST
DEFAULT_CONCURRENCY = 8  # the template's Concurrency default
DEFAULT_SITE_RETENTION_DAYS = 30  # the template's SiteRetentionDays default

Notify = Callable[[str], None]


# --- which stack --------------------------------------------------------------------------


def find_stack(facade: AwsFacade, stack_name: str, bucket: str | None = None,
               state_machine_arn: str | None = None, *,
               on_warning: Notify | None = None, preview: bool = False) -> StackInfo:
    """The render stack: as given (bucket and state machine both known: no lookup, e.g. a
    CDK stack), else looked up by name; ``on_warning`` hears when another hfaction version
    deployed it. ``preview``: renders go to its preview state machine (the given one, when
    given) and their output under previews/ only."""
    if bucket and state_machine_arn:
        given = StackInfo(name=stack_name, bucket=bucket, state_machine_arn=state_machine_arn,
                          function_arn="")
        return replace(given, preview_state_machine_arn=state_machine_arn).for_previews() \
            if preview else given
    stack = facade.stack(stack_name)
    if stack.version and stack.version != __version__ and on_warning is not None:
        on_warning(f"stack {stack_name} was deployed by hfaction {stack.version}, this is "
                   f"{__version__}; update it with 'hfaction lambda deploy --stack-name "
                   f"{stack_name}'")
    return stack.for_previews() if preview else stack


@dataclass(frozen=True)
class Connection:
    """A facade and the stack it renders on."""

    facade: AwsFacade
    stack: StackInfo

    def connect(self, on_warning: Notify | None = None) -> Connection:
        return self


@dataclass(frozen=True)
class StackRef:
    """A render stack still to reach: clients for ``region`` (None: the environment's),
    then :func:`find_stack` (``preview``: its preview state machine). Nothing is created
    before :meth:`connect`."""

    name: str = "hfaction"
    region: str | None = None
    bucket: str | None = None
    state_machine_arn: str | None = None
    preview: bool = False

    def facade(self) -> AwsFacade:
        return AwsFacade(AwsClients.create(self.region))

    def connect(self, on_warning: Notify | None = None) -> Connection:
        facade = self.facade()
        return Connection(facade, find_stack(facade, self.name, self.bucket,
                                             self.state_machine_arn, on_warning=on_warning,
                                             preview=self.preview))


class StackTarget(Protocol):
    """Where to render: a :class:`StackRef` (connects when needed) or a :class:`Connection`."""

    def connect(self, on_warning: Notify | None = None) -> Connection: ...


@dataclass
class SiteResult:
    site_id: str
    files: int
    uploaded: bool


def create_site(facade: AwsFacade, bucket: str, project_dir: Path, *,
                entry: str = "index.html", refresh_after_days: int | None = None) -> SiteResult:
    """Upload a project once under its content address; an unchanged tree uploads nothing.

    The project is checked first as the plan step reads it (its ``entry`` and composition
    root: ENTRY_NOT_FOUND, ...), so a folder Lambda would refuse is never uploaded. The
    manifest goes last, so its presence means the whole site is there. Sites expire (the
    bucket's lifecycle rule, ``SiteRetentionDays``): one uploaded ``refresh_after_days`` ago
    or more is uploaded again, so it cannot expire under a render.
    """
    check_project(project_dir, entry, None)
    root = check_project_dir(project_dir)
    files = [
        ProjectFile(path.relative_to(root).as_posix(), path.stat().st_size, sha256_file(path))
        for path in iter_project_files(root)
    ]
    site_id = project_tree_hash(files)
    prefix = s3uri.site_prefix(site_id)
    manifest_key = prefix + SITE_MANIFEST
    uploaded_at = facade.object_modified(bucket, manifest_key)
    if uploaded_at is not None and (refresh_after_days is None or datetime.now(UTC) -
                                    uploaded_at < timedelta(days=refresh_after_days)):
        return SiteResult(site_id, len(files), uploaded=False)
    for item in files:
        facade.put_bytes(bucket, prefix + s3uri.check_key(item.path),
                         (root / item.path).read_bytes())
    manifest = {"site_id": site_id, "files": [item.to_dict() for item in files]}
    facade.put_bytes(bucket, manifest_key, json.dumps(manifest).encode(), "application/json")
    return SiteResult(site_id, len(files), uploaded=True)


def site_refresh_days(stack: StackInfo) -> int:
    """Upload a site again when its copy is this many days old: a day before the stack's
    lifecycle rule (``SiteRetentionDays``) may expire it."""
    try:
        days = int(stack.parameters.get("SiteRetentionDays") or DEFAULT_SITE_RETENTION_DAYS)
    except ValueError:
        days = DEFAULT_SITE_RETENTION_DAYS
    return max(1, days - 1)


def new_render_id() -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    return f"hf-{stamp}-{secrets.token_hex(4)}"


def start_render(facade: AwsFacade, stack: StackInfo, site_id: str, options: dict[str, Any],
                 *, output_key: str | None = None, render_id: str | None = None,
                 presign_expiry_s: int | None = None,
                 limits: RenderLimits | None = None) -> str:
    """Start the execution on the stack's state machine. ``output_key``: by default
    ``renders/ID/out.mp4`` (``previews/ID/out.mp4`` on the preview state machine), and only
    where that state machine writes; ``presign_expiry_s``: the lifetime of the links the
    assemble step signs (with the function's role) when the render succeeds; ``limits``:
    the frame ceiling the plan step enforces (default: 10 minutes of video)."""
    render_id = s3uri.check_id(render_id or new_render_id(), "render id")
    prefixes = stack.output_prefixes
    payload: dict[str, Any] = {
        "render_id": render_id,
        "bucket": stack.bucket,
        "site_id": s3uri.check_id(site_id, "site id"),
        "options": options,
        "output_key": s3uri.check_output_key(
            output_key or s3uri.default_output_key(render_id, prefixes), prefixes),
        "limits": (limits or RenderLimits()).checked().to_event(),
    }
    if presign_expiry_s is not None:
        payload["presign_expiry_s"] = check_presign_expiry(presign_expiry_s)
    facade.start_execution(stack.state_machine_arn, render_id, payload)
    return render_id


@dataclass
class ChunkError:
    index: int | None
    code: str
    message: str


@dataclass
class Progress:
    render_id: str
    status: str  # RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    chunks_total: int | None
    chunks_done: int
    chunks_in_flight: int
    frames_total: int | None
    frames_done: int
    elapsed_s: float
    cost: Cost
    output_uri: str | None = None
    output_url: str | None = None
    output_bytes: int | None = None
    errors: list[ChunkError] = field(default_factory=list)
    duration_s: float | None = None
    fps: str | None = None
    poster_uri: str | None = None
    poster_url: str | None = None
    url_expires_at: datetime | None = None
    warnings: list[str] = field(default_factory=list)
    # Who signed the links ("render function role": the assemble step, on Lambda; None:
    # this client, with its own credentials) and the latest they can work.
    links_signed_by: str | None = None
    url_latest_expiry: datetime | None = None

    @property
    def done(self) -> bool:
        return self.status != "RUNNING"

    def to_dict(self) -> dict[str, Any]:
        return {
            "render_id": self.render_id, "status": self.status,
            "chunks": {"total": self.chunks_total, "done": self.chunks_done,
                       "in_flight": self.chunks_in_flight},
            "frames": {"total": self.frames_total, "done": self.frames_done},
            "elapsed_s": round(self.elapsed_s, 1), "cost": self.cost.to_dict(),
            "output_uri": self.output_uri, "output_url": self.output_url,
            "output_bytes": self.output_bytes,
            "duration_s": self.duration_s, "fps": self.fps,
            "poster_uri": self.poster_uri, "poster_url": self.poster_url,
            "url_expires_at": (self.url_expires_at.isoformat().replace("+00:00", "Z")
                               if self.url_expires_at else None),
            "url_latest_expiry": (self.url_latest_expiry.isoformat().replace("+00:00", "Z")
                                  if self.url_latest_expiry else None),
            "links_signed_by": self.links_signed_by,
            "warnings": self.warnings,
            "errors": [{"chunk": e.index, "code": e.code, "message": e.message}
                       for e in self.errors],
        }


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or time.time())


def task_output(event: dict[str, Any]) -> Any:
    details = event.get("taskSucceededEventDetails") or event.get(
        "lambdaFunctionSucceededEventDetails") or {}
    try:
        output = json.loads(details.get("output") or "null")
    except json.JSONDecodeError:
        return None
    if isinstance(output, dict) and "Payload" in output:
        return output["Payload"]
    return output


def _error_details(event: dict[str, Any]) -> tuple[str, str] | None:
    for key, value in event.items():
        if key.endswith("FailedEventDetails") and isinstance(value, dict):
            return str(value.get("error", "")), str(value.get("cause", ""))
    return None


def decode_cause(code: str, cause: str) -> ChunkError:
    index = None
    message = cause
    try:
        parsed = json.loads(cause)
        if isinstance(parsed, dict) and "errorMessage" in parsed:
            message = str(parsed["errorMessage"])
            parsed = json.loads(message)
        if isinstance(parsed, dict):
            message = str(parsed.get("message", message))
            index = parsed.get("index")
    except (json.JSONDecodeError, TypeError):
        pass
    return ChunkError(index=index, code=code, message=message)


# SigV4 presigned URLs live at most seven days.
MAX_PRESIGN_EXPIRY_S = 7 * 24 * 3600


def check_presign_expiry(seconds: int) -> int:
    if not 1 <= seconds <= MAX_PRESIGN_EXPIRY_S:
        raise InvalidOption(f"--presign-expiry {seconds} is out of range",
                            hint=f"give 1 to {MAX_PRESIGN_EXPIRY_S} seconds (7 days, the "
                                 "SigV4 limit)")
    return seconds


def link_expiry(now: datetime, presign_expiry_s: int,
                credentials: CredentialsLifetime) -> datetime | None:
    """When a URL presigned now really stops working: its ExpiresIn, or earlier when the
    credentials that signed it expire first (STS sessions: typically one hour). None when
    temporary credentials of unknown lifetime signed it: no honest time can be given."""
    asked = datetime.fromtimestamp(now.timestamp() + presign_expiry_s, UTC)
    if not credentials.temporary:
        return asked
    if credentials.expires_at is None:
        return None
    return min(asked, credentials.expires_at.astimezone(UTC))


def progress(facade: AwsFacade, stack: StackInfo, render_id: str, *,
             presign_expiry_s: int = 3600) -> Progress:
    arn = execution_arn(stack.state_machine_arn, s3uri.check_id(render_id, "render id"))
    execution = facade.describe_execution(arn)
    history = facade.execution_history(arn)
    records = [facade.get_json(stack.bucket, key) for key in
               facade.list_keys(stack.bucket, f"{s3uri.WORK_PREFIX}{render_id}/invocations/")]
    invocations = [record for record in records if isinstance(record, dict)]
    plan_output: dict[str, Any] = {}
    output: dict[str, Any] = {}
    for event in history:
        result = task_output(event)
        if isinstance(result, dict) and "plan_key" in result and "chunks" in result:
            plan_output = result
        if isinstance(result, dict) and "output_key" in result and "bytes" in result:
            output = result
    # Frames of each chunk rendered; a retried chunk counts once.
    chunk_frames = {int(r["index"]): int(r.get("frames") or 0) for r in invocations
                    if r.get("action") == "render_chunk" and r.get("status") == "ok"
                    and isinstance(r.get("index"), int)}
    status = str(execution.get("status", "RUNNING"))
    in_flight = running_invocations(history, invocations)
    children = read_map_runs(facade, history, invocations)  # a Distributed Map's chunks
    errors = history_errors(history)
    if status == "TIMED_OUT" and not errors and not execution.get("error"):
        errors.append(ChunkError(None, "States.Timeout", "the execution ran longer than the "
                                 "state machine's TimeoutSeconds allows and was stopped"))
    if status in ("FAILED", "TIMED_OUT", "ABORTED") and not errors:
        errors.append(decode_cause(str(execution.get("error", status)),
                                    str(execution.get("cause", ""))))
    # After the execution's own error, which stays first: the chunk a child caught and
    # returned as a record is the one the execution ended with, so it is listed once.
    errors.extend(error for error in children.errors if error not in errors)
    for error in errors:
        if error.index is None:
            matching = [r for r in invocations if r.get("error") == error.code]
            if matching and isinstance(matching[0].get("index"), int):
                error.index = matching[0]["index"]
    start = _timestamp(execution.get("startDate"))
    stop = _timestamp(execution.get("stopDate")) if execution.get("stopDate") else time.time()
    result = Progress(
        render_id=render_id,
        status=status,
        chunks_total=plan_output.get("chunk_count", children.items_total),
        chunks_done=len(chunk_frames),
        chunks_in_flight=in_flight + children.in_flight,
        frames_total=plan_output.get("frames"),
        frames_done=sum(chunk_frames.values()),
        elapsed_s=max(0.0, stop - start),
        cost=render_cost(invocations, state_transitions(history) + children.transitions,
                         ephemeral_mb=int(stack.parameters.get("EphemeralStorage", 10240))),
        errors=errors,
    )
    if status == "SUCCEEDED" and output:
        key = str(output["output_key"])
        result.output_uri = f"s3://{stack.bucket}/{key}"
        result.output_bytes = int(output.get("bytes") or 0)
        poster_key = output.get("poster_key")
        if isinstance(poster_key, str) and poster_key:
            poster_key = s3uri.check_key(poster_key)
            result.poster_uri = f"s3://{stack.bucket}/{poster_key}"
        if not take_signed_links(result, output.get("links")):
            # A stack older than the links signed on Lambda: sign them here, with this
            # client's credentials (under GitHub Actions those are masked: see README).
            result.output_url = facade.presign_get(stack.bucket, key, presign_expiry_s)
            result.url_expires_at = link_expiry(datetime.now(UTC), presign_expiry_s,
                                                facade.credentials_lifetime())
            if result.poster_uri:
                result.poster_url = facade.presign_get(stack.bucket, str(poster_key),
                                                       presign_expiry_s)
    if output:
        result.duration_s = float(output.get("duration") or 0) or None
        result.fps = str(output.get("fps")) if output.get("fps") else None
    result.warnings = [str(w) for w in plan_output.get("warnings") or []] + children.warnings
    if result.fps is None and plan_output.get("fps"):
        result.fps = str(plan_output["fps"])
    if result.duration_s is None and plan_output.get("duration"):
        result.duration_s = float(plan_output["duration"])
    return result


def history_errors(history: list[dict[str, Any]]) -> list[ChunkError]:
    """The failures an execution's history records (retried attempts included), in order;
    not the execution's own end, which its description holds."""
    errors: list[ChunkError] = []
    for event in history:
        details = _error_details(event)
        if details and details[0] and event.get("type", "").endswith("Failed") and \
                event.get("type") != "ExecutionFailed":
            errors.append(decode_cause(*details))
    return errors


# --- a Distributed Map's child executions ---------------------------------------------------

_ENDED = ("SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED")


@dataclass
class MapRunChildren:
    """What the child executions of a render's Distributed Map (statemachine/render.asl.json
    uses one above 40 chunks at once) add to its progress; nothing for an inline Map, whose
    chunk tasks are in the parent's own history.

    ``in_flight``: children running now (DescribeMapRun's ``itemCounts.running``, one chunk
    each) plus the invocations of ended children still running on Lambda (a stopped render
    aborts its children, not their invocations), counted from each ended child's history
    and the invocation records as :func:`running_invocations` does for the parent.
    ``transitions``: what AWS bills for them, one state transition per child execution the
    map run starts (https://docs.aws.amazon.com/step-functions/latest/dg/concepts-transitions.html)
    plus, the children being STANDARD executions, each one's own transitions, counted from
    its history once it has ended (so a running child's are in the cost once it ends).
    """

    items_total: int | None = None
    in_flight: int = 0
    transitions: int = 0
    errors: list[ChunkError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def add(self, other: MapRunChildren) -> None:
        if other.items_total is not None:
            self.items_total = (self.items_total or 0) + other.items_total
        self.in_flight += other.in_flight
        self.transitions += other.transitions
        self.errors.extend(other.errors)
        self.warnings.extend(other.warnings)


def map_run_arns(history: list[dict[str, Any]]) -> list[str]:
    """The Distributed Map runs an execution started (``MapRunStarted`` events), in order."""
    arns: list[str] = []
    for event in history:
        if event.get("type") == "MapRunStarted":
            arn = (event.get("mapRunStartedEventDetails") or {}).get("mapRunArn")
            if arn and str(arn) not in arns:
                arns.append(str(arn))
    return arns


def read_map_runs(facade: AwsFacade, history: list[dict[str, Any]],
                  invocations: list[dict[str, Any]]) -> MapRunChildren:
    """The child executions of every map run in ``history``: per poll one DescribeMapRun,
    ListExecutions(mapRunArn) a page per 1000 children, and GetExecutionHistory once per
    child that has ended (the facade keeps ended histories; running children are counted,
    not read). A map run that cannot be read (a user policy without its permissions) is
    left out with a warning: accounting never fails a render's progress."""
    found = MapRunChildren()
    for arn in map_run_arns(history):
        try:
            found.add(_read_map_run(facade, arn, invocations))
        except AwsCallFailed as error:
            found.warnings.append(
                f"the chunks' child executions (Distributed Map run {arn}) could not be "
                f"read, so chunks in flight and the Step Functions cost leave them out: "
                f"{error.message} (reading them needs states:DescribeMapRun and "
                "states:ListExecutions on the map run, states:GetExecutionHistory on its "
                "executions)")
    return found


def _read_map_run(facade: AwsFacade, arn: str,
                  invocations: list[dict[str, Any]]) -> MapRunChildren:
    counts = facade.describe_map_run(arn).get("itemCounts") or {}
    children = facade.list_map_run_executions(arn)
    read = MapRunChildren(
        items_total=int(counts["total"]) if counts.get("total") is not None else None,
        in_flight=int(counts.get("running") or 0),
        transitions=len(children))
    for child in sorted(children, key=lambda item: (_timestamp(item.get("startDate")),
                                                   str(item.get("executionArn")))):
        if child.get("status") not in _ENDED:
            continue
        events = facade.ended_execution_history(str(child["executionArn"]),
                                                int(child.get("redriveCount") or 0))
        read.transitions += state_transitions(events)
        read.in_flight += running_invocations(events, invocations)
        read.errors.extend(history_errors(events))
    return read


def utc_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


class SignedLinks(Protocol):
    """What holds a render's links: a render's :class:`Progress` or a batch row."""

    output_url: str | None
    poster_url: str | None
    links_signed_by: str | None
    url_expires_at: datetime | None
    url_latest_expiry: datetime | None


def take_signed_links(result: SignedLinks, links: Any) -> bool:
    """Take the links the assemble step signed on Lambda (see hfaction.aws.handler's
    sign_links); False when it signed none (an older stack) or they have expired (a
    progress asked for long after the render: this client signs fresh ones)."""
    if not isinstance(links, dict) or not isinstance(links.get("video_url"), str) \
            or not links["video_url"]:
        return False
    ends = [utc_time(links.get(name)) for name in ("expires_at", "latest_expiry")]
    if any(end is not None and end <= datetime.now(UTC) for end in ends):
        return False
    result.output_url = links["video_url"]
    poster = links.get("poster_url")
    result.poster_url = poster if isinstance(poster, str) and poster else None
    result.links_signed_by = str(links.get("signed_by") or "render function role")
    result.url_expires_at = utc_time(links.get("expires_at"))
    result.url_latest_expiry = utc_time(links.get("latest_expiry"))
    return True


def wait(facade: AwsFacade, stack: StackInfo, render_id: str, *,
         on_progress: Callable[[Progress], None] | None = None, poll_s: float = 2.0,
         timeout_s: float = 3600.0, sleep: Callable[[float], None] = time.sleep,
         presign_expiry_s: int = 3600, raise_on_failure: bool = True) -> Progress:
    """Poll until the render ends; raise its typed error when it failed (by default)."""
    deadline = time.monotonic() + timeout_s
    while True:
        current = progress(facade, stack, render_id, presign_expiry_s=presign_expiry_s)
        if on_progress is not None:
            on_progress(current)
        if current.done:
            break
        if time.monotonic() > deadline:
            raise RenderFailed(f"render {render_id} still running after {timeout_s:.0f}s",
                               hint=f"check it with 'hfaction lambda progress {render_id}'")
        sleep(poll_s)
    if raise_on_failure:
        raise_if_failed(current)
    return current


def raise_if_failed(current: Progress) -> None:
    """Raise the render's own typed error (its code, chunk and message) unless it succeeded."""
    if current.status != "SUCCEEDED":
        first = current.errors[0] if current.errors else ChunkError(None, current.status, "")
        where = f" (chunk {first.index})" if first.index is not None else ""
        raise _typed(first.code, f"render {current.render_id} {current.status.lower()}"
                                 f"{where}: {first.message}")


def _typed(code: str, message: str) -> HfactionError:
    return error_from_dict({"code": code, "message": message, "hint": ""})


_TASK_ENDS = ("TaskSucceeded", "TaskFailed", "TaskTimedOut", "TaskSubmitFailed",
              "TaskStartFailed", "LambdaFunctionSucceeded", "LambdaFunctionFailed",
              "LambdaFunctionTimedOut", "LambdaFunctionStartFailed",
              "LambdaFunctionScheduleFailed")


def _task_key(event: dict[str, Any]) -> tuple[str, Any]:
    """(action, chunk index) of a scheduled Lambda invocation, from its parameters."""
    details = event.get("taskScheduledEventDetails") or event.get(
        "lambdaFunctionScheduledEventDetails") or {}
    try:
        parameters = json.loads(details.get("parameters") or details.get("input") or "{}")
    except json.JSONDecodeError:
        parameters = {}
    payload = parameters.get("Payload", parameters) if isinstance(parameters, dict) else {}
    if not isinstance(payload, dict):
        payload = {}
    return str(payload.get("action", "")), payload.get("index")


def running_invocations(history: list[dict[str, Any]],
                        invocations: list[dict[str, Any]]) -> int:
    """Lambda invocations of a render still running: scheduled, with no end in the history
    and no invocation record of their own yet.

    A stopped (or failed) execution records nothing after its end, but the invocations it
    had started run on to their end on Lambda (and are paid for): each writes its record
    when it ends, so a task without an end in the history is over once its (action, chunk)
    has more records than ended attempts that wrote one. An attempt that Lambda itself
    refused (``Lambda.TooManyRequestsException``, ...) never ran and writes none.
    """
    by_id = {event.get("id"): event for event in history}
    scheduled: dict[Any, tuple[str, Any]] = {}
    for event in history:
        if event.get("type") in ("TaskScheduled", "LambdaFunctionScheduled"):
            scheduled[event.get("id")] = _task_key(event)
    ended_ids: set[Any] = set()
    recorded_ends: dict[tuple[str, Any], int] = {}
    for event in history:
        if event.get("type") not in _TASK_ENDS:
            continue
        origin = by_id.get(event.get("previousEventId"))
        if origin is not None and origin.get("id") not in scheduled:  # the TaskStarted
            origin = by_id.get(origin.get("previousEventId"))
        if origin is None or origin.get("id") not in scheduled:
            continue
        ended_ids.add(origin.get("id"))
        details = _error_details(event)
        if not (details and details[0].startswith("Lambda.")):
            key = scheduled[origin["id"]]
            recorded_ends[key] = recorded_ends.get(key, 0) + 1
    records: dict[tuple[str, Any], int] = {}
    for record in invocations:
        key = (str(record.get("action", "")), record.get("index"))
        records[key] = records.get(key, 0) + 1
    pending: dict[tuple[str, Any], int] = {}
    for event_id, key in scheduled.items():
        if event_id not in ended_ids:
            pending[key] = pending.get(key, 0) + 1
    return sum(max(0, count - max(0, records.get(key, 0) - recorded_ends.get(key, 0)))
               for key, count in pending.items())


def cancel(facade: AwsFacade, stack: StackInfo, render_id: str, *, settle_s: float = 120.0,
           poll_s: float = 1.0, sleep: Callable[[float], None] = time.sleep) -> Progress:
    """Stop a running render and report what it cost, once its invocations have ended.

    Stopping the execution starts no new invocation, but those already running on Lambda
    finish (and are paid for): this waits up to ``settle_s`` for them, so the cost is final;
    the result's ``chunks_in_flight`` says how many still run when the wait ends. A render
    that has already ended (or ends before the stop arrives) is RENDER_NOT_RUNNING: nothing
    was cancelled.
    """
    arn = execution_arn(stack.state_machine_arn, s3uri.check_id(render_id, "render id"))
    before = progress(facade, stack, render_id)
    if before.done:
        raise _not_running(before)
    facade.stop_execution(arn, "cancelled with 'hfaction lambda cancel'")
    deadline = time.monotonic() + settle_s
    current = progress(facade, stack, render_id)
    while (current.status == "RUNNING" or current.chunks_in_flight) and \
            time.monotonic() < deadline:
        sleep(poll_s)
        current = progress(facade, stack, render_id)
    if current.status == "SUCCEEDED":
        raise _not_running(current, "before it could be stopped")
    return current


def _not_running(state: Progress, when: str = "") -> RenderNotRunning:
    return RenderNotRunning(
        f"render {state.render_id} already {state.status.lower().replace('_', ' ')}"
        f"{' ' + when if when else ''}: nothing to cancel (it cost ${state.cost.total:.4f})",
        hint=f"see it with 'hfaction lambda progress {state.render_id}'")


# --- a whole render -------------------------------------------------------------------------

# statemachine/render.asl.json's TimeoutSeconds: no execution runs longer (TIMED_OUT).
EXECUTION_TIMEOUT_S = 24 * 3600


class RenderInterrupted(KeyboardInterrupt):
    """SIGINT or SIGTERM while ``render --wait`` waited; ``message`` says whether the
    execution was stopped, ``exit_code`` is the shell's 128 + signal (130, 143)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.message = message
        self.signum = signum
        self.exit_code = 128 + signum


class _Signalled(BaseException):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


@contextlib.contextmanager
def stop_on_signals(facade: AwsFacade, stack: StackInfo, render_id: str, *,
                    enabled: bool = True) -> Iterator[None]:
    """While the block runs, SIGINT and SIGTERM stop the render's execution (no chunk is
    started after that; those running finish) and raise :class:`RenderInterrupted`.

    Only in the main thread (the only one Python delivers signals to); the previous
    handlers are restored afterwards.
    """
    if not enabled or threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: Any) -> None:
        raise _Signalled(signum)

    watched = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, interrupt) for number in watched}
    try:
        yield
    except _Signalled as caught:
        for number in watched:  # a second Ctrl-C must not interrupt the stop itself
            signal.signal(number, signal.SIG_IGN)
        raise RenderInterrupted(_stop_interrupted(facade, stack, render_id, caught.signum),
                                caught.signum) from None
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _stop_interrupted(facade: AwsFacade, stack: StackInfo, render_id: str,
                      signum: int) -> str:
    name = signal.Signals(signum).name
    arn = execution_arn(stack.state_machine_arn, render_id)
    try:
        facade.stop_execution(arn, f"'hfaction lambda render --wait' got {name}")
    except HfactionError as error:
        return (f"{name}: render {render_id} may still be running: stopping its execution "
                f"failed ({error.one_line()}); stop it with 'hfaction lambda cancel "
                f"{render_id}'")
    return (f"{name}: stopped render {render_id} (execution {arn}); invocations already "
            f"running finish on Lambda; see its cost with 'hfaction lambda progress "
            f"{render_id}'")


@dataclass
class RenderRequest:
    """One render on Lambda: a project folder (uploaded once per content) or a site id."""

    options: RenderOptions = field(default_factory=RenderOptions)
    project: Path | None = None
    site_id: str | None = None
    output_key: str | None = None
    wait: bool = False
    download_to: Path | None = None  # implies wait
    presign_expiry_s: int = 3600
    limits: RenderLimits = field(default_factory=RenderLimits)


@dataclass
class RenderRun:
    render_id: str
    stack: StackInfo
    site_id: str
    result: Progress | None = None  # once waited for
    downloaded: Path | None = None


def stack_parallelism(stack: StackInfo) -> int:
    """Chunks the stack renders at once: its Concurrency parameter (sizes automatic chunks)."""
    return int(stack.parameters.get("Concurrency", str(DEFAULT_CONCURRENCY))
               or DEFAULT_CONCURRENCY)


def render(target: StackTarget, request: RenderRequest, *,
           on_warning: Notify | None = None, on_started: Notify | None = None,
           on_progress: Callable[[Progress], None] | None = None,
           on_finished: Callable[[Progress], None] | None = None,
           poll_s: float = 2.0, timeout_s: float = EXECUTION_TIMEOUT_S + 300.0,
           sleep: Callable[[float], None] = time.sleep) -> RenderRun:
    """Render on the stack: check the request (before any AWS call or upload; the output
    key against the stack's state machine, the preview one's previews/ only, before the
    upload), upload the project as a site, start the execution and, with ``wait`` or
    ``download_to``, wait for it.

    ``on_started`` hears the render id before waiting, ``on_progress`` each poll, and
    ``on_finished`` the final state, failed or not, before a failure is raised as its typed
    error; the MP4 is downloaded after that, only from a render that succeeded. SIGINT or
    SIGTERM while it starts or waits stops the execution, then raises
    :class:`RenderInterrupted` (a KeyboardInterrupt) saying so.
    """
    if (request.project is None) == (request.site_id is None):
        raise InvalidOption("give either a project folder or --site-id")
    check_presign_expiry(request.presign_expiry_s)
    check_distributed(request.options)
    request.limits.checked()
    s3uri.check_output_key(request.output_key or s3uri.default_output_key(new_render_id()))
    if request.project is not None:  # what the plan step would refuse, before uploading
        check_project(request.project, request.options.entry, request.options.fps,
                      request.limits)
    connection = target.connect(on_warning)
    facade, stack = connection.facade, connection.stack
    if request.output_key:  # where the stack's state machine writes, before uploading
        s3uri.check_output_key(request.output_key, stack.output_prefixes)
    site_id = (create_site(facade, stack.bucket, request.project, entry=request.options.entry,
                           refresh_after_days=site_refresh_days(stack)).site_id
               if request.project is not None else str(request.site_id))
    options = replace(request.options, parallelism=stack_parallelism(stack))
    waiting = request.wait or request.download_to is not None
    run = RenderRun(new_render_id(), stack, site_id)
    with stop_on_signals(facade, stack, run.render_id, enabled=waiting):
        start_render(facade, stack, site_id, options_to_event(options),
                     output_key=request.output_key, render_id=run.render_id,
                     presign_expiry_s=request.presign_expiry_s, limits=request.limits)
        if not waiting:
            return run
        if on_started is not None:
            on_started(run.render_id)
        run.result = wait(facade, stack, run.render_id, on_progress=on_progress,
                          poll_s=poll_s, timeout_s=timeout_s, sleep=sleep,
                          presign_expiry_s=request.presign_expiry_s, raise_on_failure=False)
    if on_finished is not None:
        on_finished(run.result)
    raise_if_failed(run.result)
    if request.download_to is not None and run.result.output_uri:
        location = s3uri.parse_s3_uri(run.result.output_uri)
        s3uri.require_bucket(location.bucket, stack.bucket)
        facade.download_file(stack.bucket, location.key, request.download_to)
        run.downloaded = request.download_to
    return run


def cleanup(target: StackTarget, prefix: str, *,
            on_warning: Notify | None = None) -> tuple[str, int]:
    """Delete the objects under a folder of the render bucket (checked first: never the
    bucket's root or a top-level folder); the ``s3://`` folder and how many went."""
    checked = s3uri.check_cleanup_prefix(prefix)
    connection = target.connect(on_warning)
    deleted = connection.facade.delete_prefix(connection.stack.bucket, checked)
    return f"s3://{connection.stack.bucket}/{checked}", deleted
