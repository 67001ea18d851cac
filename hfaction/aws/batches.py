"""Batch renders on a deployed stack: one project, one video per row of a data file, all
rows in ONE execution of the stack's batch state machine (``statemachine/batch.asl.json``).

:func:`render_batch` is what ``hfaction lambda render PROJECT --batch FILE`` does, callable
without the CLI: every row checked against the project's declared variables (as the local
``render --batch`` checks them, :func:`hfaction.render.batch.load_batch`) before any AWS
call, the site uploaded once, the execution started, and with ``wait`` followed to its end.

What the execution returns (the batch contract, issue 15): its output lists every row
(``row`` from 0, ``name``, ``render_id``, ``status``, keys...), and it SUCCEEDS even when
some rows failed; the rows' signed links are in the assemble_row task results of its
history, not in its output (the state stays small: see hfaction.aws.batchspec), and are
merged back here by render id; a row's plan, chunks and invocation records live under
``work/<row render id>/`` exactly as a single render's do, so a row's Lambda cost is read
from its own records. What the rows share is split evenly between them: the Step
Functions state transitions of the one execution (its Map iterations and any Distributed
Map children included) and the Lambda invocations recorded under the batch id itself (the
step that plans every row); the rows' costs add up to the batch's total.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hfaction.aws import s3uri
from hfaction.aws.batchspec import MAX_ROWS, row_output_key, row_render_id
from hfaction.aws.cost import NOT_INCLUDED, Cost, render_cost, state_transitions
from hfaction.aws.facade import AwsFacade, StackInfo, execution_arn
from hfaction.aws.limits import RenderLimits, check_project
from hfaction.aws.renders import (
    EXECUTION_TIMEOUT_S,
    ChunkError,
    Notify,
    StackTarget,
    check_presign_expiry,
    create_site,
    decode_cause,
    history_errors,
    link_expiry,
    new_render_id,
    read_map_runs,
    running_invocations,
    site_refresh_days,
    stack_parallelism,
    stop_on_signals,
    take_signed_links,
    task_output,
)
from hfaction.errors import (
    AwsCallFailed,
    BatchFailed,
    HfactionError,
    InvalidBatch,
    RenderFailed,
    RenderNotRunning,
    StackNotFound,
)
from hfaction.render.batch import BatchRow, load_batch
from hfaction.render.options import RenderOptions, check_distributed, options_to_event

ROW_ENDED = ("SUCCEEDED", "FAILED")


# --- the stack's batch state machine ----------------------------------------------------------


def batch_state_machine(stack: StackInfo) -> str:
    """The ARN batches start on; STACK_NOT_FOUND (exit 2) for a stack deployed before batch
    renders existed, saying to redeploy it."""
    arn = stack.batch_state_machine_arn
    if not arn:
        raise StackNotFound(
            f"stack {stack.name!r} has no batch state machine (no output "
            "BatchStateMachineArn): it was deployed by an hfaction older than batch renders",
            hint=f"update it with 'hfaction lambda deploy --stack-name {stack.name}', then "
                 "run the batch again")
    return arn


# --- the request, checked before anything is uploaded ---------------------------------------


@dataclass(frozen=True)
class BatchRequest:
    """A batch on Lambda: a project folder (uploaded once) and its rows' file."""

    project: Path
    batch_file: Path
    options: RenderOptions = field(default_factory=RenderOptions)
    fail_fast: bool = False
    wait: bool = False
    presign_expiry_s: int = 3600
    limits: RenderLimits = field(default_factory=RenderLimits)


def row_name(row: BatchRow) -> str:
    """A row's name in the batch: its output file name without ``.mp4`` (the state machine
    writes ``renders/<batch id>/<name>.mp4``)."""
    return row.output[:-4] if row.output.lower().endswith(".mp4") else row.output


def check_request(request: BatchRequest) -> list[BatchRow]:
    """Everything the batch could be refused for, before any AWS call: the options, the
    project as the plan step reads it, and every row of the file against the variables the
    project declares (INVALID_BATCH listing every problem, each naming its row and
    column)."""
    check_presign_expiry(request.presign_expiry_s)
    check_distributed(request.options)
    request.limits.checked()
    check_project(request.project, request.options.entry, request.options.fps,
                  request.limits)
    rows = load_batch(request.project, request.batch_file, request.options)
    if len(rows) > MAX_ROWS:
        raise InvalidBatch(f"{request.batch_file} has {len(rows)} rows; one batch renders at "
                           f"most {MAX_ROWS}; nothing was rendered",
                           hint="split the file and render each part")
    problems = []
    stand_in = new_render_id()  # the batch id is drawn later; its form is all that counts
    for row in rows:  # the key the state machine will write
        try:
            s3uri.check_output_key(row_output_key(stand_in, row_name(row)))
        except (HfactionError, ValueError) as error:
            problems.append(f"{row.where}, column 'output': "
                            f"{getattr(error, 'message', None) or error}")
    if problems:
        raise InvalidBatch(f"{request.batch_file}: {problems[0]}"
                           + (f" (and {len(problems) - 1} more)" if len(problems) > 1 else "")
                           + "; nothing was rendered", problems=tuple(problems))
    return rows


def execution_input(batch_id: str, bucket: str, site_id: str, options: dict[str, Any],
                    rows: list[BatchRow], *, fail_fast: bool = False,
                    presign_expiry_s: int | None = None,
                    limits: RenderLimits | None = None) -> dict[str, Any]:
    """The batch execution's input. Each row carries every variable it renders with (the
    ``--var`` values shared by all rows, its own over them), so the state machine needs
    no merging rule of its own."""
    shared = options.get("variables") or {}
    payload: dict[str, Any] = {
        "batch_id": s3uri.check_id(batch_id, "batch id"),
        "bucket": bucket,
        "site_id": s3uri.check_id(site_id, "site id"),
        "options": options,
        "rows": [{"name": row_name(row), "variables": {**shared, **row.variables}}
                 for row in rows],
        "fail_fast": fail_fast,
        "limits": (limits or RenderLimits()).checked().to_event(),
    }
    if presign_expiry_s is not None:
        payload["presign_expiry_s"] = check_presign_expiry(presign_expiry_s)
    return payload


def start_batch(facade: AwsFacade, stack: StackInfo, site_id: str, options: dict[str, Any],
                rows: list[BatchRow], *, batch_id: str | None = None, fail_fast: bool = False,
                presign_expiry_s: int | None = None,
                limits: RenderLimits | None = None) -> str:
    """Start one execution of the stack's batch state machine for every row; its name is
    the batch id."""
    machine = batch_state_machine(stack)
    batch_id = s3uri.check_id(batch_id or new_render_id(), "batch id")
    facade.start_execution(machine, batch_id, execution_input(
        batch_id, stack.bucket, site_id, options, rows, fail_fast=fail_fast,
        presign_expiry_s=presign_expiry_s, limits=limits))
    return batch_id


# --- progress ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RowCost:
    """A row's cost: its own Lambda invocations (plan, chunks, assemble), and its even share
    of what the batch's rows share (the planning of every row, the Step Functions state
    transitions of the one execution)."""

    own: Cost
    lambda_share: float = 0.0
    step_functions_share: float = 0.0

    @property
    def lambda_total(self) -> float:
        return self.own.lambda_total + self.lambda_share

    @property
    def step_functions(self) -> float:
        return self.own.step_functions + self.step_functions_share

    @property
    def total(self) -> float:
        return self.lambda_total + self.step_functions

    def to_dict(self) -> dict[str, Any]:
        return {"lambda_usd": round(self.lambda_total, 6),
                "step_functions_usd": round(self.step_functions, 6),
                "shared_usd": round(self.lambda_share + self.step_functions_share, 6),
                "total_usd": round(self.total, 6),
                "invocations": self.own.invocations, "billed_ms": self.own.billed_ms,
                "not_included": NOT_INCLUDED}


@dataclass
class RowResult:
    """One row of a batch on Lambda. ``row`` counts from 1 in file order, as the batch
    file's errors do; ``status`` is PENDING (not ended yet), SUCCEEDED or FAILED."""

    row: int
    name: str
    render_id: str
    status: str
    cost: RowCost
    chunks_done: int = 0
    output_uri: str | None = None
    output_url: str | None = None
    output_bytes: int | None = None
    poster_uri: str | None = None
    poster_url: str | None = None
    frames: int | None = None
    duration_s: float | None = None
    url_expires_at: datetime | None = None
    url_latest_expiry: datetime | None = None
    links_signed_by: str | None = None
    error: dict[str, str] | None = None

    def to_dict(self, batch_id: str) -> dict[str, Any]:
        def iso(moment: datetime | None) -> str | None:
            return moment.isoformat().replace("+00:00", "Z") if moment else None

        return {"batch_id": batch_id, "row": self.row, "name": self.name,
                "render_id": self.render_id, "status": self.status,
                "output_uri": self.output_uri, "output_url": self.output_url,
                "output_bytes": self.output_bytes, "poster_uri": self.poster_uri,
                "poster_url": self.poster_url, "frames": self.frames,
                "duration_s": self.duration_s, "chunks_done": self.chunks_done,
                "cost": self.cost.to_dict(), "url_expires_at": iso(self.url_expires_at),
                "url_latest_expiry": iso(self.url_latest_expiry),
                "links_signed_by": self.links_signed_by, "error": self.error}


@dataclass
class BatchState:
    batch_id: str
    status: str  # the execution's: RUNNING, SUCCEEDED, FAILED, TIMED_OUT, ABORTED
    rows: list[RowResult]
    chunks_total: int | None
    chunks_done: int
    elapsed_s: float
    cost: Cost
    errors: list[ChunkError] = field(default_factory=list)  # the execution's own
    warnings: list[str] = field(default_factory=list)
    in_flight: int = 0  # Lambda invocations still running (after a stop, too)

    @property
    def done(self) -> bool:
        return self.status != "RUNNING"

    def count(self, status: str) -> int:
        return sum(1 for row in self.rows if row.status == status)

    @property
    def video_seconds(self) -> float:
        return sum(row.duration_s or 0.0 for row in self.rows if row.status == "SUCCEEDED")

    def rows_dicts(self) -> list[dict[str, Any]]:
        return [row.to_dict(self.batch_id) for row in self.rows]

    def to_dict(self) -> dict[str, Any]:
        return {"batch_id": self.batch_id, "status": self.status, "rows": self.rows_dicts(),
                "rows_succeeded": self.count("SUCCEEDED"), "rows_failed": self.count("FAILED"),
                "chunks": {"total": self.chunks_total, "done": self.chunks_done,
                           "in_flight": self.in_flight},
                "elapsed_s": round(self.elapsed_s, 1), "cost": self.cost.to_dict(),
                "errors": [{"chunk": e.index, "code": e.code, "message": e.message}
                           for e in self.errors], "warnings": self.warnings}

    def check(self) -> None:
        """BATCH_FAILED (exit 1) unless the execution and every row succeeded."""
        failed = [row for row in self.rows if row.status != "SUCCEEDED"]
        if self.status == "SUCCEEDED" and not failed:
            return
        if not failed:  # the execution failed after every row ended (cannot happen today)
            first_error = self.errors[0] if self.errors else ChunkError(None, self.status, "")
            raise RenderFailed(f"batch {self.batch_id} {self.status.lower()}: "
                               f"{first_error.code}: {first_error.message}")
        first = failed[0]
        error = first.error or {"code": self.status, "message": "not rendered"}
        raise BatchFailed(
            f"{len(failed)} of {len(self.rows)} rows of batch {self.batch_id} failed; the "
            f"first, row {first.row} ({first.name}): {error.get('code', 'RENDER_FAILED')}: "
            f"{error.get('message', '')}",
            hint="each row's status and error are in the table above (--json: the list)")


class RecordCache:
    """Invocation records already read: a record never changes once written, so following
    a batch reads each one once."""

    def __init__(self) -> None:
        self.records: dict[str, Any] = {}

    def read(self, facade: AwsFacade, bucket: str,
             batch_id: str) -> dict[str, list[dict[str, Any]]]:
        """Every record under ``work/<batch id>*/invocations/``, by render id (the batch's
        own, and each row's ``<batch id>-NNNN``)."""
        found: dict[str, list[dict[str, Any]]] = {}
        for key in facade.list_keys(bucket, f"{s3uri.WORK_PREFIX}{batch_id}"):
            parts = key.split("/")
            if len(parts) < 4 or parts[2] != "invocations":
                continue
            if key not in self.records:
                self.records[key] = facade.get_json(bucket, key)
            record = self.records[key]
            if isinstance(record, dict):
                found.setdefault(parts[1], []).append(record)
        return found


def _row_names(execution: dict[str, Any]) -> list[str]:
    try:
        given = json.loads(execution.get("input") or "{}")
    except json.JSONDecodeError:
        return []
    rows = given.get("rows") if isinstance(given, dict) else None
    return [str(row.get("name", "")) if isinstance(row, dict) else "" for row in rows or []]


def _row_outputs(history: list[dict[str, Any]], execution: dict[str, Any],
                 ids: set[str]) -> dict[str, dict[str, Any]]:
    """Each ended row's result, by render id: from the execution's output once it ended,
    else from the row tasks that have returned so far. What the state (hence the output)
    leaves out is merged back from the task results the history holds, by render id: a
    row's signed ``links`` (assemble_row's result beside its ``row_result``) and a failed
    row's whole ``error`` (the same, or plan_batch's ``row_errors``): see
    hfaction.aws.batchspec. An output from a stack older than that keeps its own."""
    found: dict[str, dict[str, Any]] = {}
    kept: dict[str, dict[str, Any]] = {}  # what only the task results hold, by render id
    for event in history:
        result = task_output(event)
        if not isinstance(result, dict):
            continue
        row_errors = result.get("row_errors")  # plan_batch's
        for render_id, error in (row_errors if isinstance(row_errors, dict) else {}).items():
            if render_id in ids and isinstance(error, dict):
                kept.setdefault(render_id, {})["error"] = error
        if isinstance(result.get("row_result"), dict):  # assemble_row's answer
            answer = result
            result = answer["row_result"]
            if result.get("render_id") in ids:
                kept.setdefault(str(result["render_id"]), {}).update(
                    {key: answer[key] for key in ("links", "error")
                     if isinstance(answer.get(key), dict)})
        if result.get("render_id") in ids and result.get("status") in ROW_ENDED:
            found[str(result["render_id"])] = result
    try:
        output = json.loads(execution.get("output") or "null")
    except json.JSONDecodeError:
        output = None
    listed = output.get("rows") if isinstance(output, dict) else None
    for item in listed if isinstance(listed, list) else []:
        if isinstance(item, dict) and item.get("render_id") in ids:
            found[str(item["render_id"])] = item
    merged: dict[str, dict[str, Any]] = {}
    for render_id, item in found.items():
        extra = kept.get(render_id, {})
        item = dict(item)
        if item.get("status") == "SUCCEEDED" and "links" in extra and "links" not in item:
            item["links"] = extra["links"]
        if item.get("status") == "FAILED" and "error" in extra:
            item["error"] = extra["error"]
        merged[render_id] = item
    return merged


def _chunks_total(history: list[dict[str, Any]], ids: set[str]) -> int | None:
    """Chunks of every row, once planned: the plan step's result lists them (each with
    its row's render id), or gives each row's ``chunk_count``."""
    for event in history:
        result = task_output(event)
        if not isinstance(result, dict):
            continue
        chunks = result.get("chunks")
        if isinstance(chunks, list) and chunks and all(
                isinstance(item, dict) and item.get("render_id") in ids for item in chunks):
            return len({(item["render_id"], item.get("index")) for item in chunks})
        rows = result.get("rows")
        if isinstance(rows, list) and rows and all(
                isinstance(item, dict) and isinstance(item.get("chunk_count"), int)
                for item in rows):
            return sum(int(item["chunk_count"]) for item in rows)
    return None


def _chunks_done(records: list[dict[str, Any]]) -> int:
    # A retried chunk counts once.
    return len({record.get("index") for record in records
                if record.get("action") == "render_chunk" and record.get("status") == "ok"})


def _row_error(item: dict[str, Any]) -> dict[str, str]:
    error = item.get("error")
    if isinstance(error, dict):
        return {"code": str(error.get("code") or "RENDER_FAILED"),
                "message": str(error.get("message") or "")}
    return {"code": "RENDER_FAILED", "message": str(error or "")}


def _succeeded_row(facade: AwsFacade, stack: StackInfo, row: RowResult, item: dict[str, Any],
                   presign_expiry_s: int) -> None:
    key = s3uri.check_key(str(item.get("output_key") or ""))
    row.output_uri = f"s3://{stack.bucket}/{key}"
    row.output_bytes = int(item["bytes"]) if isinstance(item.get("bytes"), int) else None
    row.frames = int(item["frames"]) if isinstance(item.get("frames"), int) else None
    duration = item.get("duration")
    row.duration_s = float(duration) if isinstance(duration, int | float) and duration \
        else None
    poster_key = item.get("poster_key") or s3uri.poster_key(key)
    poster_key = s3uri.check_key(str(poster_key))
    row.poster_uri = f"s3://{stack.bucket}/{poster_key}"
    if not take_signed_links(row, item.get("links")):
        # Signed here, with this client's credentials (masked under GitHub Actions: the
        # job summary withholds such links, see hfaction.github.summary).
        row.output_url = facade.presign_get(stack.bucket, key, presign_expiry_s)
        row.poster_url = facade.presign_get(stack.bucket, poster_key, presign_expiry_s)
        row.url_expires_at = link_expiry(datetime.now(UTC), presign_expiry_s,
                                         facade.credentials_lifetime())
        row.links_signed_by = None


def _share(cost: Cost, rows: int) -> tuple[float, float]:
    return (cost.lambda_total / rows, cost.step_functions / rows) if rows else (0.0, 0.0)


def _timestamp(value: Any) -> float:
    if isinstance(value, datetime):
        return value.timestamp()
    return float(value or time.time())


def batch_progress(facade: AwsFacade, stack: StackInfo, batch_id: str, *,
                   presign_expiry_s: int = 3600,
                   cache: RecordCache | None = None) -> BatchState:
    """Where a batch stands: each row's status (with links, duration and cost once it
    succeeded, its error once it failed), the chunks done of all rows, and the cost."""
    arn = execution_arn(batch_state_machine(stack), s3uri.check_id(batch_id, "batch id"))
    execution = facade.describe_execution(arn)
    history = facade.execution_history(arn)
    by_id = (cache or RecordCache()).read(facade, stack.bucket, batch_id)
    names = _row_names(execution)
    ids = [row_render_id(batch_id, index) for index in range(len(names))]
    every = [record for records in by_id.values() for record in records]
    children = read_map_runs(facade, history, every)  # a Distributed Map's chunks
    ephemeral_mb = int(stack.parameters.get("EphemeralStorage", 10240))
    transitions = state_transitions(history) + children.transitions
    total = render_cost(every, transitions, ephemeral_mb=ephemeral_mb)
    shared_records = [record for render_id, records in by_id.items()
                      if render_id not in ids for record in records]
    lambda_share, sfn_share = _share(
        render_cost(shared_records, transitions, ephemeral_mb=ephemeral_mb), len(names))
    status = str(execution.get("status", "RUNNING"))
    ended = _row_outputs(history, execution, set(ids))
    errors = []
    if status in ("FAILED", "TIMED_OUT", "ABORTED"):
        errors = history_errors(history) or [decode_cause(
            str(execution.get("error", status)), str(execution.get("cause", "")))]
    rows = []
    for index, (name, render_id) in enumerate(zip(names, ids, strict=True)):
        own = by_id.get(render_id, [])
        row = RowResult(row=index + 1, name=name, render_id=render_id, status="PENDING",
                        cost=RowCost(render_cost(own, 0, ephemeral_mb=ephemeral_mb),
                                     lambda_share, sfn_share),
                        chunks_done=_chunks_done(own))
        item = ended.get(render_id)
        if item is not None and item.get("status") == "SUCCEEDED":
            row.status = "SUCCEEDED"
            _succeeded_row(facade, stack, row, item, presign_expiry_s)
        elif item is not None:
            row.status = "FAILED"
            row.error = _row_error(item)
        elif status != "RUNNING":  # the execution ended before this row did
            row.status = "FAILED"
            first = errors[0] if errors else ChunkError(None, status, "")
            row.error = {"code": first.code or status,
                         "message": f"not rendered: the batch {status.lower()}"
                                    + (f" ({first.message})" if first.message else "")}
        rows.append(row)
    start = _timestamp(execution.get("startDate"))
    stop = _timestamp(execution.get("stopDate")) if execution.get("stopDate") else time.time()
    in_flight = children.in_flight + sum(
        running_invocations(_history_of(history, render_id), records)
        for render_id, records in [(batch_id, by_id.get(batch_id, []))]
        + [(render_id, by_id.get(render_id, [])) for render_id in ids])
    return BatchState(batch_id=batch_id, status=status, rows=rows,
                      chunks_total=_chunks_total(history, set(ids)),
                      chunks_done=sum(row.chunks_done for row in rows),
                      elapsed_s=max(0.0, stop - start), cost=total, errors=errors,
                      warnings=children.warnings, in_flight=in_flight)


_SCHEDULED = ("TaskScheduled", "LambdaFunctionScheduled")


def _scheduled_for(event: dict[str, Any]) -> str:
    """The render id (a row's, or the batch's for plan_batch) a scheduled task is for."""
    details = event.get("taskScheduledEventDetails") or event.get(
        "lambdaFunctionScheduledEventDetails") or {}
    try:
        parameters = json.loads(details.get("parameters") or details.get("input") or "{}")
    except json.JSONDecodeError:
        return ""
    payload = parameters.get("Payload", parameters) if isinstance(parameters, dict) else {}
    if not isinstance(payload, dict):
        return ""
    return str(payload.get("render_id") or payload.get("batch_id") or "")


def _history_of(history: list[dict[str, Any]], render_id: str) -> list[dict[str, Any]]:
    """The history with only ``render_id``'s scheduled tasks: the rows' chunks share their
    (action, index) keys, which running_invocations counts by, so it runs per row (the end
    events of other rows' tasks are then ignored, having no scheduled task)."""
    return [event for event in history if event.get("type") not in _SCHEDULED
            or _scheduled_for(event) == render_id]


def is_batch(facade: AwsFacade, stack: StackInfo, some_id: str) -> bool:
    """Whether ``some_id`` names an execution of the stack's batch state machine (a batch
    id, not a render's); False for a stack without one. Credentials that may not read
    the batch state machine's executions (a policy older than batches) cannot have
    started the batch either: for them the id is a render's, as before batches."""
    if not stack.batch_state_machine_arn:
        return False
    arn = execution_arn(stack.batch_state_machine_arn, s3uri.check_id(some_id, "render id"))
    try:
        facade.describe_execution(arn)
    except AwsCallFailed as error:
        if error.aws_code in ("ExecutionDoesNotExist", "AccessDeniedException",
                              "AccessDenied"):
            return False
        raise
    return True


def cancel_batch(facade: AwsFacade, stack: StackInfo, batch_id: str, *,
                 settle_s: float = 120.0, poll_s: float = 1.0,
                 sleep: Callable[[float], None] = time.sleep) -> BatchState:
    """Stop a running batch (no new invocation starts; every row not ended is FAILED) and
    report its rows and cost once the invocations already running have ended, waiting up
    to ``settle_s`` for them (``in_flight`` says how many still run then). A batch that
    has already ended is RENDER_NOT_RUNNING: nothing was cancelled."""
    arn = execution_arn(batch_state_machine(stack), s3uri.check_id(batch_id, "batch id"))
    cache = RecordCache()
    before = batch_progress(facade, stack, batch_id, cache=cache)
    if before.done:
        raise _batch_not_running(before)
    facade.stop_execution(arn, "cancelled with 'hfaction lambda cancel'")
    deadline = time.monotonic() + settle_s
    current = batch_progress(facade, stack, batch_id, cache=cache)
    while (current.status == "RUNNING" or current.in_flight) and time.monotonic() < deadline:
        sleep(poll_s)
        current = batch_progress(facade, stack, batch_id, cache=cache)
    if current.status == "SUCCEEDED":
        raise _batch_not_running(current, "before it could be stopped")
    return current


def _batch_not_running(state: BatchState, when: str = "") -> RenderNotRunning:
    return RenderNotRunning(
        f"batch {state.batch_id} already {state.status.lower().replace('_', ' ')}"
        f"{' ' + when if when else ''}: nothing to cancel (it cost ${state.cost.total:.4f})",
        hint=f"see it with 'hfaction lambda progress {state.batch_id}'")


def wait_batch(facade: AwsFacade, stack: StackInfo, batch_id: str, *,
               on_progress: Callable[[BatchState], None] | None = None, poll_s: float = 2.0,
               timeout_s: float = EXECUTION_TIMEOUT_S + 300.0,
               sleep: Callable[[float], None] = time.sleep,
               presign_expiry_s: int = 3600) -> BatchState:
    """Poll until the batch's execution ends; its state, failed rows or not."""
    deadline = time.monotonic() + timeout_s
    cache = RecordCache()
    while True:
        current = batch_progress(facade, stack, batch_id, presign_expiry_s=presign_expiry_s,
                                 cache=cache)
        if on_progress is not None:
            on_progress(current)
        if current.done:
            return current
        if time.monotonic() > deadline:
            raise RenderFailed(f"batch {batch_id} still running after {timeout_s:.0f}s",
                               hint="its execution goes on; see it in the Step Functions "
                                    "console")
        sleep(poll_s)


# --- a whole batch ----------------------------------------------------------------------------


@dataclass
class BatchRun:
    batch_id: str
    stack: StackInfo
    site_id: str
    uploaded: bool
    rows: list[BatchRow]
    result: BatchState | None = None  # once waited for


def render_batch(target: StackTarget, request: BatchRequest, *,
                 on_warning: Notify | None = None, on_started: Notify | None = None,
                 on_progress: Callable[[BatchState], None] | None = None,
                 poll_s: float = 2.0, timeout_s: float = EXECUTION_TIMEOUT_S + 300.0,
                 sleep: Callable[[float], None] = time.sleep) -> BatchRun:
    """Render every row of ``request.batch_file`` on the stack: check the request and every
    row (INVALID_BATCH, before any AWS call or upload), find the stack's batch state machine
    (STACK_NOT_FOUND for a stack deployed before it, before uploading), upload the project
    once, start one execution and, with ``wait``, follow it to its end (SIGINT or SIGTERM
    then stop the execution, as for a single render). The result's failed rows are not
    raised here: :meth:`BatchState.check` does."""
    rows = check_request(request)
    connection = target.connect(on_warning)
    facade, stack = connection.facade, connection.stack
    machine = batch_state_machine(stack)
    site = create_site(facade, stack.bucket, request.project, entry=request.options.entry,
                       refresh_after_days=site_refresh_days(stack))
    options = replace(request.options, parallelism=stack_parallelism(stack))
    run = BatchRun(new_render_id(), stack, site.site_id, site.uploaded, rows)
    # stop_on_signals stops the execution of this id on the state machine it is given.
    with stop_on_signals(facade, replace(stack, state_machine_arn=machine), run.batch_id,
                         enabled=request.wait):
        start_batch(facade, stack, site.site_id, options_to_event(options), rows,
                    batch_id=run.batch_id, fail_fast=request.fail_fast,
                    presign_expiry_s=request.presign_expiry_s, limits=request.limits)
        if not request.wait:
            return run
        if on_started is not None:
            on_started(run.batch_id)
        run.result = wait_batch(facade, stack, run.batch_id, on_progress=on_progress,
                                poll_s=poll_s, timeout_s=timeout_s, sleep=sleep,
                                presign_expiry_s=request.presign_expiry_s)
    return run
