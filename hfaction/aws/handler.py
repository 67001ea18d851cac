"""The Lambda handler: event -> download from S3 to /tmp -> core primitive -> upload -> result.

Thin glue over the render core (:mod:`hfaction.render`: plan, render_chunk, assemble;
a batch's ``plan_batch`` and ``assemble_row`` run the same code per row);
the S3 client and the browser are created once per container and reused while warm.
Typed errors are re-raised as exceptions whose class name is the error code, which is
the name Step Functions sees (so Retry/Catch can match ``PLAN_HASH_MISMATCH``).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import traceback
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from hfaction.aws import batchspec, s3uri
from hfaction.aws.limits import RenderLimits, check_project
from hfaction.aws.sizing import pipelines_here
from hfaction.aws.transport import download_prefix, pack_dir, unpack_to
from hfaction.errors import (
    HfactionError,
    InvalidBatch,
    InvalidOption,
    PlanHashMismatch,
    S3UriNotAllowed,
    SiteHashMismatch,
)
from hfaction.render.options import (
    RenderOptions,
    check_distributed,
    check_distributed_fps,
    options_from_event,
)

_MODULE_LOADED = time.monotonic()
_FIRST_INVOCATION = True
_ERROR_TYPES: dict[str, type[Exception]] = {}


def lambda_error(error: HfactionError) -> Exception:
    """An exception whose class name is the error's code, carrying its one-line message."""
    cls = _ERROR_TYPES.get(error.code)
    if cls is None:
        cls = type(error.code, (Exception,), {"__module__": "hfaction.aws.errors"})
        _ERROR_TYPES[error.code] = cls
    return cls(json.dumps(error.to_dict()))


@dataclass
class Deps:
    """What a container creates once: clients, the bucket it may touch, the browser."""

    s3: Any
    bucket: str
    work_root: Path = field(default_factory=lambda: Path(tempfile.gettempdir()) / "hfaction")
    session: Any = None  # hfaction.render.capture.BrowserSession, launched on first chunk

    def browser(self) -> Any:
        if self.session is None:
            from hfaction.render.browser import resolve_browser
            from hfaction.render.capture import BrowserSession

            self.session = BrowserSession(resolve_browser()).__enter__()
        return self.session


_DEPS: Deps | None = None


def default_deps() -> Deps:
    global _DEPS
    if _DEPS is None:
        import boto3

        _DEPS = Deps(s3=boto3.client("s3"), bucket=os.environ["RENDER_BUCKET"])
    return _DEPS


def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point."""
    return handle(event, context, default_deps())


def handle(event: dict[str, Any], context: Any, deps: Deps) -> dict[str, Any]:
    global _FIRST_INVOCATION
    started = time.monotonic()
    init_ms = round((started - _MODULE_LOADED) * 1000) if _FIRST_INVOCATION else 0
    _FIRST_INVOCATION = False
    timings: dict[str, float] = {}
    action = str(event.get("action", "")) if isinstance(event, dict) else ""
    record: dict[str, Any] = {"action": action, "render_id": _record_id(action, event),
                              "index": event.get("index"), "cold": init_ms > 0,
                              "init_ms": init_ms}
    work = deps.work_root / f"invocation-{os.getpid()}-{time.monotonic_ns()}"
    try:
        work.mkdir(parents=True)
        result = _dispatch(action, event, deps, work, timings)
        record.update(status="ok", frames=result.get("frames"))
        return {**result, "invocation": _invocation(record, started, context, timings)}
    except HfactionError as error:
        record.update(status="error", error=error.code, message=error.message)
        raise lambda_error(error) from None
    except Exception as error:
        last = traceback.format_exception_only(type(error), error)[-1].strip()
        record.update(status="error", error=type(error).__name__, message=last)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
        summary = _invocation(record, started, context, timings)
        print(json.dumps({"hfaction": summary}, sort_keys=True), file=sys.stdout, flush=True)
        _save_invocation(deps, event, summary, context)


def _invocation(record: dict[str, Any], started: float, context: Any,
                timings: dict[str, float]) -> dict[str, Any]:
    return {
        **record,
        "duration_ms": round((time.monotonic() - started) * 1000),
        "memory_mb": int(getattr(context, "memory_limit_in_mb", 0) or 0),
        "request_id": str(getattr(context, "aws_request_id", "") or ""),
        "architecture": os.environ.get("HFACTION_ARCHITECTURE", "x86_64"),
        "timings": {key: round(value, 3) for key, value in timings.items()},
    }


def _record_id(action: str, event: dict[str, Any]) -> Any:
    """The render an invocation's record belongs to: its render id; a batch's plan_batch
    (which plans every row) is the batch's own, under work/<batch id>/."""
    return event.get("batch_id") if action == "plan_batch" else event.get("render_id")


def _save_invocation(deps: Deps, event: dict[str, Any], summary: dict[str, Any],
                     context: Any) -> None:
    # Cost accounting reads these records, failed invocations included.
    try:
        render_id = s3uri.check_id(str(summary.get("render_id") or ""), "render id")
    except HfactionError:
        return
    name = f"{summary['action'] or 'unknown'}-{summary.get('index')}-" \
           f"{summary['request_id'] or time.monotonic_ns()}"
    try:
        deps.s3.put_object(Bucket=deps.bucket, Key=s3uri.invocation_key(render_id, name),
                           Body=json.dumps(summary).encode(), ContentType="application/json")
    except Exception as error:  # accounting must never fail a render
        print(json.dumps({"hfaction_warning": f"invocation record not saved: {error}"}))


class _Timer:
    def __init__(self, timings: dict[str, float], name: str) -> None:
        self.timings, self.name = timings, name

    def __enter__(self) -> None:
        self.started = time.perf_counter()

    def __exit__(self, *exc: object) -> None:
        self.timings[self.name] = self.timings.get(self.name, 0.0) + (
            time.perf_counter() - self.started)


def _dispatch(action: str, event: dict[str, Any], deps: Deps, work: Path,
              timings: dict[str, float]) -> dict[str, Any]:
    s3uri.require_bucket(str(event.get("bucket", "")), deps.bucket)
    if action == "plan_batch":  # a batch has an id of its own; its rows have render ids
        return _plan_batch(event, deps, work, timings)
    render_id = s3uri.check_id(str(event.get("render_id", "")), "render id")
    if action == "plan":
        return _plan(event, deps, work, timings, render_id)
    if action == "render_chunk":
        return _render_chunk(event, deps, work, timings, render_id)
    if action == "assemble":
        return _assemble(event, deps, work, timings, render_id)
    if action == "assemble_row":
        return _assemble_row(event, deps, work, timings, render_id)
    raise InvalidOption(f"unknown action {action!r}; expected plan, render_chunk, assemble, "
                        "plan_batch or assemble_row")


def render_options(raw: Any) -> RenderOptions:
    """The render options of an execution's input: only those RenderOptions marks remote,
    each of its type (see :func:`hfaction.render.options.options_from_event`)."""
    return check_distributed(options_from_event(raw))


def _plan(event: dict[str, Any], deps: Deps, work: Path, timings: dict[str, float],
          render_id: str) -> dict[str, Any]:
    site_id = s3uri.check_id(str(event.get("site_id", "")), "site id")
    options = render_options(event.get("options") or {})
    limits = RenderLimits.from_event(event.get("limits"))
    output_key = _output_key(event, render_id)
    site_dir = _fetch_site(deps, work, timings, site_id, options, limits)
    with _Timer(timings, "launch"):
        session = deps.browser()
    return _plan_render(deps, work / "plan", timings, render_id, site_dir, options, limits,
                        output_key, session)


def _fetch_site(deps: Deps, work: Path, timings: dict[str, float], site_id: str,
                options: RenderOptions, limits: RenderLimits) -> Path:
    """The uploaded site in ``work/site``, verified against its id and checked against the
    limits (before anything is planned)."""
    site_dir = work / "site"
    with _Timer(timings, "download"):
        keys = download_prefix(deps.s3, deps.bucket, s3uri.site_prefix(site_id), site_dir)
    if not keys:
        raise InvalidOption(f"site {site_id} has no files in s3://{deps.bucket}/"
                            f"{s3uri.site_prefix(site_id)}",
                            hint="upload it with 'hfaction lambda sites create DIR'")
    with _Timer(timings, "verify"):
        verify_site(site_dir, site_id)
        check_project(site_dir, options.entry, options.fps, limits)  # before planning
    return site_dir


def _plan_render(deps: Deps, plan_dir: Path, timings: dict[str, float], render_id: str,
                 site_dir: Path, options: RenderOptions, limits: RenderLimits,
                 output_key: str, session: Any) -> dict[str, Any]:
    """Plan one render of the downloaded site into ``plan_dir`` and store the plan under
    work/<render id>/: a single render's plan step, and each row of a batch's."""
    from hfaction.render.framemath import format_fps
    from hfaction.render.planner import PLAN_FILE, plan

    with _Timer(timings, "plan"):
        planned = plan(site_dir, options, plan_dir, session=session)
    check_distributed_fps(planned.fps)
    limits.check_frames(planned.frames, planned.fps, what=f"render {render_id}")
    with _Timer(timings, "upload"):
        deps.s3.put_object(Bucket=deps.bucket, Key=s3uri.plan_key(render_id),
                           Body=pack_dir(plan_dir))
        deps.s3.put_object(Bucket=deps.bucket, Key=s3uri.plan_json_key(render_id),
                           Body=(plan_dir / PLAN_FILE).read_bytes(),
                           ContentType="application/json")
    return {
        "render_id": render_id,
        "bucket": deps.bucket,
        "plan_key": s3uri.plan_key(render_id),
        "plan_hash": planned.hash,
        "frames": planned.frames,
        "fps": format_fps(planned.fps),
        "duration": planned.duration,
        "width": planned.output_size[0],
        "height": planned.output_size[1],
        "chunk_count": len(planned.chunks),
        "chunks": [{"index": i, "start": s, "end": e} for i, (s, e) in enumerate(planned.chunks)],
        "output_key": output_key,
        "warnings": list(planned.warnings),
    }


def output_prefixes(event: dict[str, Any]) -> tuple[str, ...]:
    """Where this invocation's render may write its MP4 and poster: the ``output_prefixes``
    its state machine passes the plan and assemble steps, a constant of the definition
    that the execution's input cannot override (statemachine/render.asl.json: the main state
    machine's "renders/,previews/", the preview one's "previews/"). Absent (a definition
    older than the preview state machine): renders/ and previews/, as before."""
    if "output_prefixes" not in event:
        return s3uri.OUTPUT_PREFIXES
    return s3uri.check_output_prefixes(event["output_prefixes"])


def _output_key(event: dict[str, Any], render_id: str) -> str:
    """The render's output key, under its state machine's output prefixes (by default
    ``PREFIX/RENDER_ID/out.mp4`` under the first); S3_URI_NOT_ALLOWED outside them."""
    prefixes = output_prefixes(event)
    return s3uri.check_output_key(str(event.get("output_key") or
                                      s3uri.default_output_key(render_id, prefixes)),
                                  prefixes)


def verify_site(site_dir: Path, site_id: str) -> None:
    """The downloaded site is what its id says: its files (the manifest left out) hash to
    the site id they are stored under, as ``sites create`` computed it (SITE_HASH_MISMATCH:
    a file was changed, added or removed in the bucket since)."""
    from hfaction.render.project import ProjectFile, iter_project_files, sha256_file, tree_hash

    root = site_dir.resolve()
    files = [ProjectFile(path.relative_to(root).as_posix(), path.stat().st_size,
                         sha256_file(path)) for path in iter_project_files(root)]
    found = tree_hash([item for item in files if item.path != s3uri.SITE_MANIFEST])
    if found != site_id:
        raise SiteHashMismatch(
            f"the files of site {site_id[:12]} hash to {found[:12]}: they were changed in "
            "the bucket after the upload; nothing was rendered",
            hint="upload the project again with 'hfaction lambda sites create DIR' (or "
            "'lambda render DIR'), and check who may write to sites/")


def _fetch_plan(event: dict[str, Any], deps: Deps, work: Path, timings: dict[str, float],
                render_id: str) -> Path:
    key = s3uri.check_key(str(event.get("plan_key", "")))
    if key != s3uri.plan_key(render_id):
        raise S3UriNotAllowed(f"plan key {key!r} does not belong to render {render_id}")
    with _Timer(timings, "download"):
        deps.s3.download_file(deps.bucket, key, str(work / "plan.tar"))
        unpack_to(work / "plan.tar", work / "plan")
    return work / "plan"


def _render_chunk(event: dict[str, Any], deps: Deps, work: Path, timings: dict[str, float],
                  render_id: str) -> dict[str, Any]:
    from hfaction.render.chunk import render_chunk

    index = event.get("index")
    if not isinstance(index, int) or index < 0:
        raise InvalidOption(f"chunk index {index!r} is not a non-negative integer")
    plan_dir = _fetch_plan(event, deps, work, timings, render_id)
    with _Timer(timings, "launch"):
        session = deps.browser()
    pipelines = pipelines_here()
    result = render_chunk(plan_dir, index, work / "chunk.mp4", session=session,
                          pipelines=pipelines)
    if event.get("plan_hash") and event["plan_hash"] != result.plan_hash:
        raise PlanHashMismatch(
            f"chunk {index} of render {render_id} rendered plan {result.plan_hash[:12]}, "
            f"the execution planned {str(event['plan_hash'])[:12]}",
            hint="start the render again",
        )
    timings.update(load=result.timings.load, capture=result.timings.capture,
                   encode=result.timings.encode)
    key = s3uri.chunk_key(render_id, index)
    with _Timer(timings, "upload"):
        deps.s3.upload_file(str(result.path), deps.bucket, key)
    return {"index": index, "key": key, "start": result.start, "end": result.end,
            "frames": result.frames, "bytes": result.bytes, "pipelines": pipelines}


def _assemble(event: dict[str, Any], deps: Deps, work: Path, timings: dict[str, float],
              render_id: str) -> dict[str, Any]:
    expiry_s = link_expiry(event)  # checked before any work
    output_key = _output_key(event, render_id)
    plan_dir = _fetch_plan(event, deps, work, timings, render_id)
    chunks = event.get("chunks")
    if not isinstance(chunks, list):
        raise InvalidOption("assemble needs the list of chunk results")
    return _assemble_render(deps, work, timings, render_id, plan_dir, chunks, output_key,
                            expiry_s)


def _assemble_render(deps: Deps, work: Path, timings: dict[str, float], render_id: str,
                     plan_dir: Path, chunks: list[Any], output_key: str,
                     expiry_s: int) -> dict[str, Any]:
    """Join a render's chunks (``{index, key}`` each, keys under work/<render id>/), upload
    the MP4 and its poster to ``output_key`` and sign their links: a single render's
    assemble step, and each row's of a batch."""
    from hfaction.render.assembler import assemble
    from hfaction.render.poster import make_poster

    ordered = sorted(chunks, key=lambda item: int(item["index"]))
    paths = []
    with _Timer(timings, "download"):
        for item in ordered:
            key = s3uri.check_key(str(item["key"]))
            if key != s3uri.chunk_key(render_id, int(item["index"])):
                raise S3UriNotAllowed(f"chunk key {key!r} does not belong to render "
                                            f"{render_id}")
            path = work / "chunks" / Path(key).name
            path.parent.mkdir(parents=True, exist_ok=True)
            deps.s3.download_file(deps.bucket, key, str(path))
            paths.append(path)
    with _Timer(timings, "assemble"):
        result = assemble(plan_dir, paths, work / "out.mp4")
    with _Timer(timings, "poster"):
        poster = make_poster(result.path, work / "poster.jpg", frames=result.frames,
                             fps=result.fps)
    poster_key = s3uri.poster_key(output_key)
    with _Timer(timings, "upload"):
        deps.s3.upload_file(str(result.path), deps.bucket, output_key,
                            ExtraArgs={"ContentType": "video/mp4"})
        deps.s3.upload_file(str(poster), deps.bucket, poster_key,
                            ExtraArgs={"ContentType": "image/jpeg"})
    with _Timer(timings, "links"):
        links = sign_links(deps, output_key, poster_key, expiry_s)
    return {"render_id": render_id, "output_key": output_key,
            "output_uri": f"s3://{deps.bucket}/{output_key}", "bytes": result.bytes,
            "frames": result.frames, "duration": result.duration, "fps": str(result.fps),
            "poster_key": poster_key, "links": links}


# --- batches -----------------------------------------------------------------------------
#
# statemachine/batch.asl.json: plan_batch plans every row of one site (downloaded and
# verified once) as a render of its own, assemble_row joins each row. Rows fail alone: a
# row's typed error is recorded in its result, never raised, unless fail_fast. What the
# state machine keeps of what these return passes through the execution's state (256 KiB
# at most): ids, keys and counts only; links and whole error messages are left to the
# history (see hfaction.aws.batchspec).

# Errors the state machine retries: raised even without fail_fast, so the whole plan step
# is tried again (a browser that died would fail every following row alike).
_RETRIED = frozenset({"TRANSIENT_ERROR", "BROWSER_FAILED"})


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidOption(f"{name} must be true or false, not {value!r}")
    return value


def _plan_batch(event: dict[str, Any], deps: Deps, work: Path,
                timings: dict[str, float]) -> dict[str, Any]:
    batch_id = s3uri.check_id(str(event.get("batch_id", "")), "batch id")
    site_id = s3uri.check_id(str(event.get("site_id", "")), "site id")
    options = render_options(event.get("options") or {})
    limits = RenderLimits.from_event(event.get("limits"))
    prefixes = output_prefixes(event)
    fail_fast = _flag(event.get("fail_fast", False), "fail_fast")
    expiry_s = link_expiry({"request": event})  # every check before any work
    rows = batchspec.rows_from_event(event.get("rows"))
    keys = [s3uri.check_output_key(batchspec.row_output_key(batch_id, row.name, prefixes[0]),
                                   prefixes) for row in rows]
    site_dir = _fetch_site(deps, work, timings, site_id, options, limits)
    with _Timer(timings, "launch"):
        session = deps.browser()
    summaries: list[dict[str, Any]] = []
    row_errors: dict[str, dict[str, str]] = {}
    chunks: list[dict[str, Any]] = []
    frames = 0
    for row, output_key in zip(rows, keys, strict=True):
        render_id = batchspec.row_render_id(batch_id, row.index)
        summary: dict[str, Any] = {"row": row.index, "name": row.name, "render_id": render_id,
                                   "output_key": output_key}
        # The row's variables over the batch's, as --var over --vars-file.
        row_options = replace(options, variables={**options.variables, **row.variables})
        plan_dir = work / f"plan-{row.index:04d}"
        try:
            planned = _plan_render(deps, plan_dir, timings, render_id, site_dir, row_options,
                                   limits, output_key, session)
        except HfactionError as error:
            if fail_fast or error.code in _RETRIED:
                raise
            # The state gets the message cut; the whole error is in this task's result
            # (the execution's history), where the client reads it.
            row_errors[render_id] = batchspec.row_error(error)
            summaries.append({**summary, "status": batchspec.FAILED,
                              "error": batchspec.state_error(row_errors[render_id])})
            continue
        finally:
            shutil.rmtree(plan_dir, ignore_errors=True)  # it is in S3 now; /tmp is finite
        frames += planned["frames"]
        summaries.append({**summary, "status": batchspec.PLANNED,
                          "plan_key": planned["plan_key"], "plan_hash": planned["plan_hash"],
                          "frames": planned["frames"], "chunk_count": planned["chunk_count"]})
        # One Map item per chunk, all rows together. Only what render_chunk needs (and the
        # row, to report by): the chunk's frame range is in the plan, the variables in the
        # execution's input; the whole list must fit in a state.
        chunks.extend({"render_id": render_id, "plan_key": planned["plan_key"],
                       "plan_hash": planned["plan_hash"], "index": item["index"],
                       "row": row.index} for item in planned["chunks"])
    result = {"batch_id": batch_id, "bucket": deps.bucket, "fail_fast": fail_fast,
              "presign_expiry_s": expiry_s, "rows": summaries, "chunk_count": len(chunks),
              "chunks": chunks, "frames": frames, "row_errors": row_errors}
    size = batchspec.estimated_state_bytes(result)
    if size > batchspec.MAX_STATE_BYTES:
        raise InvalidBatch(
            f"batch {batch_id} plans {len(chunks)} chunks of {len(rows)} rows, up to {size} "
            f"bytes of Step Functions state; one execution holds at most "
            f"{batchspec.MAX_STATE_BYTES} (the state limit is 256 KiB)",
            hint="split the batch file into smaller ones and render each, or give a larger "
                 "--chunk-size (fewer chunks a row)")
    return batchspec.fit_row_errors(result)


def _chunk_error_message(deps: Deps, render_id: str, index: int, code: str) -> str:
    """A failed chunk's message, from the record its failing invocation wrote (the state
    keeps only the error name: see batchspec.first_failed_chunk)."""
    prefix = s3uri.invocation_key(render_id, f"render_chunk-{index}-").removesuffix(".json")
    fallback = f"chunk {index} failed with {code}"
    try:
        listed = deps.s3.list_objects_v2(Bucket=deps.bucket, Prefix=prefix)
        records = sorted(listed.get("Contents") or [], key=lambda item: item["LastModified"])
        for item in reversed(records):
            body = deps.s3.get_object(Bucket=deps.bucket, Key=item["Key"])["Body"].read()
            record = json.loads(body)
            if record.get("status") == "error" and record.get("message"):
                return f"chunk {index}: {record['message']}"
    except Exception:  # the row's status and code stand without its message
        return fallback
    return fallback


def _assemble_row(event: dict[str, Any], deps: Deps, work: Path, timings: dict[str, float],
                  render_id: str) -> dict[str, Any]:
    from hfaction.render.planner import load_plan

    batch_id = s3uri.check_id(str(event.get("batch_id", "")), "batch id")
    row = event.get("row")
    index = row.get("row") if isinstance(row, dict) else None
    if not isinstance(row, dict) or isinstance(index, bool) or not isinstance(index, int) \
            or index < 0 or row.get("render_id") != render_id \
            or render_id != batchspec.row_render_id(batch_id, index):
        raise S3UriNotAllowed(f"render {render_id} is not a row of batch {batch_id}")
    name = str(row.get("name", ""))
    fail_fast = _flag(event.get("fail_fast", False), "fail_fast")
    outcome: dict[str, Any] = {"row": index, "name": name, "render_id": render_id}
    try:
        expiry_s = link_expiry(event)
        prefixes = output_prefixes(event)
        # Where plan_batch put it, and nowhere else: under this state machine's prefixes,
        # in this batch's folder, named after the row.
        output_key = s3uri.check_output_key(str(row.get("output_key") or ""), prefixes)
        if output_key not in {batchspec.row_output_key(batch_id, name, prefix)
                              for prefix in prefixes}:
            raise S3UriNotAllowed(f"output key {output_key!r} is not where row {index} of "
                                  f"batch {batch_id} goes")
        if row.get("status") == batchspec.FAILED:  # its plan failed: nothing was rendered
            given = row.get("error")
            error: dict[str, Any] = given if isinstance(given, dict) else {}
            return {"row_result": {**outcome, "status": batchspec.FAILED, "error": {
                "code": str(error.get("code") or "RENDER_FAILED"),
                "message": str(error.get("message") or "")}}}
        failed = batchspec.first_failed_chunk(event.get("chunks"), render_id)
        if failed is not None:
            chunk, failure = failed
            if not failure["message"]:
                failure["message"] = _chunk_error_message(deps, render_id, chunk,
                                                          failure["code"])
            return batchspec.split_row_result({**outcome, "status": batchspec.FAILED,
                                               "error": failure})
        plan_dir = _fetch_plan(row, deps, work, timings, render_id)
        # The chunks to join are the row's plan's (their keys follow from the render id):
        # the state carries no per-row list of them.
        count = len(load_plan(plan_dir, verify_files=False).chunks)
        items = [{"index": i, "key": s3uri.chunk_key(render_id, i)} for i in range(count)]
        result = _assemble_render(deps, work, timings, render_id, plan_dir, items,
                                  output_key, expiry_s)
    except HfactionError as error:
        if fail_fast:
            raise
        return batchspec.split_row_result({**outcome, "status": batchspec.FAILED,
                                           "error": batchspec.row_error(error)})
    # The links stay out of row_result, which is all the state keeps (see batchspec): the
    # client reads them from this task's result in the execution's history.
    fields = ("output_key", "output_uri", "bytes", "frames", "duration", "fps", "poster_key",
              "links")
    return {**batchspec.split_row_result({**outcome, "status": batchspec.SUCCEEDED,
                                          **{key: result[key] for key in fields}}),
            "frames": result["frames"]}


# --- the links of a render --------------------------------------------------------------
#
# The assemble step signs the MP4 and poster links itself, with the function's role:
# credentials nobody else saw. A link signed by the caller (a GitHub job) holds the job's
# access key id and session token, which the runner masks (`::add-mask::`): the summary
# shows `***` instead of the link and the runner drops any output holding it.

DEFAULT_LINK_EXPIRY_S = 3600
MAX_LINK_EXPIRY_S = 7 * 24 * 3600  # SigV4's limit
LINK_SIGNER = "render function role"


def link_expiry(event: dict[str, Any]) -> int:
    """The links' lifetime the render asked for: ``presign_expiry_s`` of the execution's
    input, which the state machine passes to Assemble as ``request``."""
    request = event.get("request")
    asked = request.get("presign_expiry_s") if isinstance(request, dict) else None
    if asked is None:
        return DEFAULT_LINK_EXPIRY_S
    if isinstance(asked, bool) or not isinstance(asked, int) or \
            not 1 <= asked <= MAX_LINK_EXPIRY_S:
        raise InvalidOption(f"presign_expiry_s {asked!r} is not 1 to {MAX_LINK_EXPIRY_S} "
                            "seconds")
    return asked


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def session_end(client: Any) -> tuple[bool, datetime | None]:
    """(temporary, end) of the credentials ``client`` signs with: long-term keys never end;
    a session's end is known only when its provider says (Lambda's role credentials come
    from the environment without one)."""
    getter = getattr(client, "_get_credentials", None)
    credentials = getter() if callable(getter) else None
    if credentials is None:
        return False, None
    expiry = getattr(credentials, "_expiry_time", None)
    if isinstance(expiry, datetime):
        return True, expiry if expiry.tzinfo else expiry.replace(tzinfo=UTC)
    return bool(getattr(credentials, "token", None)), None


def sign_links(deps: Deps, output_key: str, poster_key: str, expiry_s: int, *,
               now: datetime | None = None) -> dict[str, Any]:
    """SigV4 presigned GET links to the MP4 and the poster, signed with the function's own
    credentials, and when they stop working: ``expires_at`` is the earlier of the asked
    lifetime and the end of the role session that signed them, or None when that session's
    end is unknown (then only ``latest_expiry`` is certain)."""
    from hfaction.aws.facade import presign_get, sigv4_s3_client

    signed_at = (now or datetime.now(UTC)).astimezone(UTC)
    latest = signed_at + timedelta(seconds=expiry_s)
    temporary, end = session_end(deps.s3)
    expires = latest if not temporary else (min(latest, end) if end is not None else None)
    signer = sigv4_s3_client(deps.s3)
    return {
        "video_url": presign_get(signer, deps.bucket, output_key, expiry_s),
        "poster_url": presign_get(signer, deps.bucket, poster_key, expiry_s),
        "signed_by": LINK_SIGNER,
        "signed_at": _iso(signed_at),
        "expires_in_s": expiry_s,
        "latest_expiry": _iso(latest),
        "expires_at": _iso(expires) if expires is not None else None,
        "session_expires_at": _iso(end) if end is not None else None,
    }
