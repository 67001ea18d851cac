"""``hfaction lambda ...``: render on AWS. Each command parses, calls one library
function in :mod:`hfaction.aws`, and prints."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from hfaction.aws.sizing import DEFAULT_ARCHITECTURE, DEFAULT_MEMORY_MB
from hfaction.cli.console import print_json, stderr, stdout, warn
from hfaction.cli.options import (
    BucketOpt,
    JsonOpt,
    MachineOpt,
    NotifyTopicOpt,
    ProjectArg,
    RegionOpt,
    StackOpt,
    WebhookOpt,
    WebhookSecretEnvOpt,
    render_options,
)
from hfaction.render.options import RenderOptions

if TYPE_CHECKING:
    from hfaction.aws.batches import BatchState
    from hfaction.aws.facade import StackInfo
    from hfaction.aws.limits import RenderLimits
    from hfaction.aws.renders import Connection, Progress, RenderRequest, RenderRun, StackRef

lambda_app = typer.Typer(help="Render on AWS Lambda behind Step Functions.\n\n"
                         "Example: hfaction lambda render examples/gsap-intro --wait",
                         no_args_is_help=True)
sites_app = typer.Typer(help="Projects uploaded once, by content.\n\n"
                        "Example: hfaction lambda sites create examples/gsap-intro",
                        no_args_is_help=True)
lambda_app.add_typer(sites_app, name="sites")

PresignOpt = Annotated[int, typer.Option(
    "--presign-expiry", help="Seconds the MP4 and poster links stay valid (at most 7 days; "
    "never longer than the credentials that sign them).")]
RenderIdArg = Annotated[str, typer.Argument(help="Render id from 'lambda render'.")]
PreviewOpt = Annotated[bool, typer.Option(
    "--preview", help="On the stack's preview state machine, whose renders can only write "
    "under previews/ (default output key previews/RENDER_ID/out.mp4): the one a "
    "pull-request role ('hfaction policies user --part pull-request') may start. With "
    "--state-machine-arn, that state machine.")]
BoundaryArnOpt = Annotated[str | None, typer.Option(
    "--permissions-boundary", envvar="HFACTION_PERMISSIONS_BOUNDARY",
    help="ARN of the managed policy every role of the stack gets as its permissions "
    "boundary ('hfaction policies boundary' prints it; the deploy policy of 'hfaction "
    "policies user' requires it). Default: the stack's current one; '' removes it.")]


def _say(text: str) -> None:
    """A result line on stdout, printed literally: render errors and keys come from pages
    and users, and Rich markup in them ('[/]') would crash the command or restyle it."""
    stdout.print(text, markup=False)


def _tell(text: str) -> None:
    """A progress or note line on stderr, printed literally."""
    stderr.print(text, markup=False)


def _stack(name: str, region: str | None, bucket: str | None = None,
           state_machine_arn: str | None = None, preview: bool = False) -> StackRef:
    from hfaction.aws.renders import StackRef

    return StackRef(name, region, bucket, state_machine_arn, preview)


def _print_stack(stack: StackInfo, json_output: bool) -> None:
    if json_output:
        print_json(stack.to_dict())
        return
    preview = f", previews on {stack.preview_state_machine_arn}" \
        if stack.preview_state_machine_arn else ""
    _say(f"stack {stack.name} ready: bucket {stack.bucket}, state machine "
         f"{stack.state_machine_arn}{preview}")


def _note(note: str) -> None:
    _tell(f"note: {note}")


@lambda_app.command()
def deploy(
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Chunks rendered at once.")
                           ] = 8,
    memory: Annotated[int, typer.Option("--memory", help="Function memory in MB: 1 vCPU per "
                                        "1769 MB; the default renders at the lowest cost.")
                      ] = DEFAULT_MEMORY_MB,
    architecture: Annotated[str, typer.Option("--architecture", help="x86_64 or arm64 (20% "
                                              "cheaper per GB-second).")
                            ] = DEFAULT_ARCHITECTURE,
    image_uri: Annotated[str | None, typer.Option(
        "--image-uri", help="An already pushed image; skips building.")] = None,
    only_if_outdated: Annotated[bool, typer.Option(
        "--only-if-outdated", help="Do nothing when the stack already runs this hfaction "
        "version with these settings.")] = False,
    permissions_boundary: BoundaryArnOpt = None,
    notify_topic: NotifyTopicOpt = None,
    webhook: WebhookOpt = None,
    webhook_secret_env: WebhookSecretEnvOpt = None,
    json_output: JsonOpt = False,
) -> None:
    """Deploy or update the render stack (idempotent): a CloudFormation change set.

    Example: hfaction lambda deploy --stack-name video --region eu-west-1 --concurrency 16

    Notifications: --notify-topic TOPIC_ARN, --webhook URL --webhook-secret-env NAME.
    """
    from hfaction.aws.deploy import DeployOptions, current_stack, execute_deploy, plan_deploy

    facade = _stack(stack_name, region).facade()
    plan_ = plan_deploy(DeployOptions(stack_name=stack_name, region=region,
                                      concurrency=concurrency, memory=memory,
                                      architecture=architecture, image_uri=image_uri,
                                      permissions_boundary=permissions_boundary,
                                      notify_topic=notify_topic, webhook_url=webhook,
                                      webhook_secret_env=webhook_secret_env), facade)
    for note in plan_.notes:
        _note(note)
    stack = current_stack(plan_, facade) if only_if_outdated else None
    if stack is not None:
        _tell(f"stack {stack_name} is up to date (hfaction {stack.version}); not "
              "deploying")
    _print_stack(stack or execute_deploy(plan_, facade, on_note=_note), json_output)


@lambda_app.command()
def destroy(stack_name: StackOpt = "hfaction", region: RegionOpt = None) -> None:
    """Remove the function, state machine and image repository (the bucket is kept).

    Example: hfaction lambda destroy --stack-name video
    """
    from hfaction.aws.deploy import destroy as destroy_stack

    gone = destroy_stack(_stack(stack_name, region).facade(), stack_name)
    if gone.bucket is None:
        _say(f"removed stack {stack_name} ({gone.status}, without outputs); a bucket it made, "
             "if any, is kept")
        return
    _say(f"removed stack {stack_name}; bucket {gone.bucket} and its renders are kept (remove "
         f"it with 'aws s3 rb s3://{gone.bucket} --force'; deploying {stack_name} again adopts "
         "it)")


@sites_app.command("create")
def sites_create(
    project: ProjectArg,
    entry: Annotated[str, typer.Option("--entry", help="Entry HTML file the renders of this "
                                       "site will use (checked before uploading).")
                     ] = "index.html",
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
) -> None:
    """Upload a project under its content address and print the site id.

    Example: hfaction lambda sites create examples/gsap-intro
    """
    from hfaction.aws.limits import check_project
    from hfaction.aws.renders import create_site, site_refresh_days

    check_project(project, entry, None)  # a folder Lambda would refuse is never uploaded
    connection = _stack(stack_name, region, bucket, state_machine_arn).connect(warn)
    site = create_site(connection.facade, connection.stack.bucket, project, entry=entry,
                       refresh_after_days=site_refresh_days(connection.stack))
    _tell(f"{'uploaded' if site.uploaded else 'unchanged, not uploaded'}: "
          f"{site.files} files")
    _say(site.site_id)


def _print_progress(current: Progress) -> None:
    total = current.chunks_total if current.chunks_total is not None else "?"
    frames = current.frames_total if current.frames_total is not None else "?"
    _tell(f"{current.status.lower()}: chunks {current.chunks_done}/{total} done, "
          f"{current.chunks_in_flight} in flight, frames {current.frames_done}/{frames}, "
          f"{current.elapsed_s:.0f}s, cost ${current.cost.total:.4f}")


def _started(render_id: str) -> None:
    _tell(f"render {render_id} started")


def _finished(json_output: bool, done: Progress) -> None:
    # With --json, progress lines still go to stderr (CI logs) and the result, failed or
    # not, to stdout, so a job summary can report a failure too.
    for warning in done.warnings:
        warn(warning)
    if json_output:
        print_json(done.to_dict())


def _print_run(run: RenderRun, json_output: bool) -> None:
    done = run.result
    if done is None:
        _say(run.render_id)
        return
    if not json_output:
        _say(f"done: {done.output_uri} ({done.frames_total} frames, "
             f"{done.elapsed_s:.0f}s, ${done.cost.total:.4f}: Lambda "
             f"${done.cost.lambda_total:.4f} + Step Functions "
             f"${done.cost.step_functions:.4f})")
    if run.downloaded is not None:
        (_tell if json_output else _say)(f"downloaded {run.downloaded}")


@lambda_app.command()
@render_options(remote=True)
def render(
    project: Annotated[Path | None, typer.Argument(help="Project folder (or --site-id).")
                       ] = None,
    site_id: Annotated[str | None, typer.Option("--site-id", help="A site from 'sites create'.")
                       ] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait, showing progress and cost.")
                    ] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="Download the MP4 here "
                                                "(implies --wait).")] = None,
    output_key: Annotated[str | None, typer.Option("--output-key", help="S3 key of the MP4.")
                          ] = None,
    *,
    options: RenderOptions,
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
    json_output: JsonOpt = False,
    presign_expiry: PresignOpt = 3600,
    max_frames: Annotated[int | None, typer.Option(
        "--max-frames", help="Refuse (RENDER_TOO_LONG) a render of more frames. Default: 10 "
        "minutes of video at its frame rate.")] = None,
    allow_long: Annotated[bool, typer.Option(
        "--allow-long", help="No frame ceiling at all.")] = False,
    preview: PreviewOpt = False,
    batch: Annotated[Path | None, typer.Option(
        "--batch", help="Render one video per row of this JSON Lines or CSV file, all in one "
        "execution: each row sets variables (as --var does), its 'output' key or column "
        "names its video (renders/BATCH_ID/NAME.mp4). Every row is checked before the "
        "project is uploaded.")] = None,
    fail_fast: Annotated[bool, typer.Option(
        "--fail-fast", help="With --batch: stop the batch at the first row that fails.")
                         ] = False,
) -> None:
    """Render a project on Lambda; prints the render id, or waits with --wait.

    With --batch, one video per row; exits 1 (BATCH_FAILED) when some rows failed.

    Example: hfaction lambda render examples/gsap-intro --wait -o intro.mp4

    Example: hfaction lambda render examples/nested --batch rows.jsonl --wait
    """
    from hfaction.aws.limits import RenderLimits

    limits = RenderLimits(max_frames, allow_long)
    target = _stack(stack_name, region, bucket, state_machine_arn, preview)
    if batch is not None or fail_fast:
        _render_batch(target, project, batch, options, wait=wait, fail_fast=fail_fast,
                      json_output=json_output, presign_expiry=presign_expiry, limits=limits,
                      refused={"--site-id": site_id, "-o/--output": output,
                               "--output-key": output_key, "--preview": preview})
        return
    from hfaction.aws.renders import RenderRequest

    _render_one(target, RenderRequest(options=options, project=project, site_id=site_id,
                                      output_key=output_key, wait=wait, download_to=output,
                                      presign_expiry_s=presign_expiry, limits=limits),
                json_output)


def _render_one(target: StackRef, request: RenderRequest, json_output: bool) -> None:
    from hfaction.aws import renders

    try:
        run = renders.render(target, request, on_warning=warn, on_started=_started,
                             on_progress=_print_progress,
                             on_finished=partial(_finished, json_output))
    except renders.RenderInterrupted as interrupted:  # SIGINT/SIGTERM: execution stopped
        _tell(interrupted.message)
        raise typer.Exit(interrupted.exit_code) from None
    _print_run(run, json_output)


def _refuse_with_batch(project: Path | None, batch: Path | None,
                       refused: dict[str, object]) -> tuple[Path, Path]:
    """The project and batch file, or what --batch cannot be combined with: a batch uploads
    its project and writes each row under renders/BATCH_ID/ (never previews/), and
    downloads nothing."""
    from hfaction.errors import InvalidOption

    if batch is None:
        raise InvalidOption("--fail-fast only applies with --batch")
    for flag, value in refused.items():
        if value:
            raise InvalidOption(f"{flag} cannot be combined with --batch",
                                hint="a batch writes each row to renders/BATCH_ID/NAME.mp4; "
                                     "links to them are in its result")
    if project is None:
        raise InvalidOption("--batch needs the project folder",
                            hint="hfaction lambda render PROJECT --batch rows.jsonl")
    return project, batch


def _print_batch_progress(last: list[str], state: BatchState) -> None:
    """One line per change (rows ended, chunks done), not per poll: CI logs stay short."""
    total = len(state.rows)
    chunks = state.chunks_total if state.chunks_total is not None else "?"
    line = (f"batch {state.batch_id} {state.status.lower()}: rows "
            f"{state.count('SUCCEEDED')}/{total} done, {state.count('FAILED')} failed, "
            f"chunks {state.chunks_done}/{chunks} done")
    if last and last[0] == line:
        return
    last[:] = [line]
    _tell(f"{line}, {state.elapsed_s:.0f}s, cost ${state.cost.total:.4f}")
    for row in state.rows:
        if row.status == "FAILED" and row.error and f"row {row.row}" not in last[1:]:
            last.append(f"row {row.row}")
            _tell(f"row {row.row} ({row.name}) failed: {row.error.get('code')}: "
                  f"{row.error.get('message')}")


def _print_batch(state: BatchState, json_output: bool) -> None:
    if json_output:
        print_json(state.rows_dicts())
        return
    for warning in state.warnings:
        warn(warning)
    _say(f"{'row':>4}  {'name':<20}  {'status':<9}  {'duration':>8}  {'cost':>9}  link")
    for row in state.rows:
        duration = f"{row.duration_s:.1f}s" if row.duration_s is not None else "-"
        link = row.output_url or (f"{row.error.get('code')}: {row.error.get('message')}"
                                  if row.error else "-")
        _say(f"{row.row:>4}  {row.name:<20}  {row.status:<9}  {duration:>8}  "
             f"${row.cost.total:>8.4f}  {link}")
    cost = state.cost
    _say(f"total: {state.count('SUCCEEDED')} of {len(state.rows)} rows succeeded, "
         f"{state.count('FAILED')} failed; {state.video_seconds:.1f}s of video in "
         f"{state.elapsed_s:.0f}s; ${cost.total:.4f} (Lambda ${cost.lambda_total:.4f} + "
         f"Step Functions ${cost.step_functions:.4f}; not included: "
         f"{cost.to_dict()['not_included']})")


def _render_batch(target: StackRef, project: Path | None, batch: Path | None,
                  options: RenderOptions, *, wait: bool, fail_fast: bool, json_output: bool,
                  presign_expiry: int, limits: RenderLimits,
                  refused: dict[str, object]) -> None:
    """Check the flags and every row (one line per problem, exit 2), then render them in
    one execution; without --wait, print the batch id. Rows that failed: exit 1 once all
    are reported."""
    from hfaction.aws import batches, renders
    from hfaction.errors import InvalidBatch
    from hfaction.render.batch import problem_lines

    project, batch = _refuse_with_batch(project, batch, refused)
    request = batches.BatchRequest(project=project, batch_file=batch, options=options,
                                   fail_fast=fail_fast, wait=wait,
                                   presign_expiry_s=presign_expiry, limits=limits)
    try:
        run = batches.render_batch(target, request, on_warning=warn,
                                   on_started=lambda batch_id: _tell(
                                       f"batch {batch_id} started"),
                                   on_progress=partial(_print_batch_progress, []))
    except InvalidBatch as error:
        if len(error.problems) > 1:
            for line in problem_lines(error):
                _tell(f"bad row: {line}")
        raise
    except renders.RenderInterrupted as interrupted:
        _tell(interrupted.message)
        raise typer.Exit(interrupted.exit_code) from None
    if run.result is None:
        _say(run.batch_id)
        return
    _print_batch(run.result, json_output)
    run.result.check()


def _print_state(current: Progress) -> None:
    _print_progress(current)
    cost = current.cost
    _say(f"cost: Lambda ${cost.lambda_total:.4f}, Step Functions "
         f"${cost.step_functions:.4f}, total ${cost.total:.4f} "
         f"(not included: {cost.to_dict()['not_included']})")
    for error in current.errors:
        where = f"chunk {error.index}: " if error.index is not None else ""
        _say(f"error: {where}{error.code}: {error.message}")
    if current.output_uri:
        _say(f"output: {current.output_uri}\nlink: {current.output_url}")


def _print_cancelled(current: Progress, timeout_s: float) -> None:
    _print_progress(current)
    running = current.chunks_in_flight
    if running:
        _say(f"stopped {current.render_id} ({current.status.lower()}); {running} "
             f"invocation{'s' if running != 1 else ''} still running on Lambda after "
             f"{timeout_s:.0f}s: they end on their own and are not in this cost: "
             f"${current.cost.total:.4f} so far (see 'hfaction lambda progress "
             f"{current.render_id}')")
    else:
        _say(f"stopped {current.render_id} ({current.status.lower()}); every invocation "
             f"has ended; final cost ${current.cost.total:.4f}")


@lambda_app.command()
def progress(
    render_id: RenderIdArg,
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
    json_output: JsonOpt = False,
    presign_expiry: PresignOpt = 3600,
    preview: PreviewOpt = False,
) -> None:
    """Show a render's status, chunks, frames, cost and output link (--preview: a render
    started with --preview). Given a batch id: its status and every row's (with links and
    cost once the row ended).

    Example: hfaction lambda progress hf-20261127-101500-1a2b3c4d --json
    """
    from hfaction.aws import renders

    expiry = renders.check_presign_expiry(presign_expiry)
    connection = _stack(stack_name, region, bucket, state_machine_arn, preview).connect(warn)
    if not preview and _show_batch_progress(connection, render_id, expiry, json_output):
        return
    current = renders.progress(connection.facade, connection.stack, render_id,
                               presign_expiry_s=expiry)
    if json_output:
        print_json(current.to_dict())
        return
    _print_state(current)


def _show_batch_progress(connection: Connection, batch_id: str, expiry: int,
                          json_output: bool) -> bool:
    """Print a batch's progress; False when ``batch_id`` names no batch (a render's id)."""
    from hfaction.aws import batches

    if not batches.is_batch(connection.facade, connection.stack, batch_id):
        return False
    state = batches.batch_progress(connection.facade, connection.stack, batch_id,
                                   presign_expiry_s=expiry)
    if json_output:
        print_json(state.to_dict())
        return True
    chunks = state.chunks_total if state.chunks_total is not None else "?"
    _say(f"batch {state.batch_id}: {state.status.lower()}, rows "
         f"{state.count('SUCCEEDED')}/{len(state.rows)} done, {state.count('FAILED')} "
         f"failed, chunks {state.chunks_done}/{chunks} done, {state.in_flight} "
         f"invocations running")
    for error in state.errors:
        _say(f"error: {error.code}: {error.message}")
    _print_batch(state, json_output=False)
    return True


@lambda_app.command()
def cleanup(
    prefix: Annotated[str, typer.Option("--prefix", help="Folder of the render bucket to "
                                        "empty, e.g. previews/pr-12/.")],
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
) -> None:
    """Delete the objects under a folder of the render bucket (e.g. a closed PR's previews).

    Example: hfaction lambda cleanup --prefix previews/pr-12/
    """
    from hfaction.aws.renders import cleanup as cleanup_prefix

    where, deleted = cleanup_prefix(_stack(stack_name, region, bucket, state_machine_arn),
                                    prefix, on_warning=warn)
    _say(f"deleted {deleted} objects under {where}")


@lambda_app.command()
def cancel(
    render_id: Annotated[str, typer.Argument(help="Render id to stop.")],
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
    timeout: Annotated[float, typer.Option(
        "--timeout", help="Seconds to wait for invocations already running to end.")
                       ] = 120.0,
    preview: PreviewOpt = False,
) -> None:
    """Stop a running render, wait for its running invocations, and say what it cost
    (--preview: a render started with --preview). Given a batch id: stops the batch (rows
    not ended yet are FAILED) and prints every row.

    Exits 2 (RENDER_NOT_RUNNING) when the render has already ended.

    Example: hfaction lambda cancel hf-20261127-101500-1a2b3c4d
    """
    from hfaction.aws import renders

    connection = _stack(stack_name, region, bucket, state_machine_arn, preview).connect(warn)
    if not preview and _cancel_batch(connection, render_id, timeout):
        return
    current = renders.cancel(connection.facade, connection.stack, render_id, settle_s=timeout)
    _print_cancelled(current, timeout)


def _cancel_batch(connection: Connection, batch_id: str, timeout: float) -> bool:
    """Stop a batch and print its rows; False when ``batch_id`` names no batch."""
    from hfaction.aws import batches

    if not batches.is_batch(connection.facade, connection.stack, batch_id):
        return False
    state = batches.cancel_batch(connection.facade, connection.stack, batch_id,
                                 settle_s=timeout)
    _print_batch(state, json_output=False)
    running = state.in_flight
    _say(f"stopped batch {state.batch_id} ({state.status.lower()}); "
         + (f"{running} invocation{'s' if running != 1 else ''} still running on Lambda "
            f"after {timeout:.0f}s: they end on their own and are not in this cost: "
            f"${state.cost.total:.4f} so far (see 'hfaction lambda progress "
            f"{state.batch_id}')" if running else
            f"every invocation has ended; final cost ${state.cost.total:.4f}"))
    return True
