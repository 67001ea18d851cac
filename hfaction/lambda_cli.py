"""``hfaction lambda ...``: render on AWS. Each command parses, calls one library
function in :mod:`hfaction.aws`, and reports."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from hfaction import __version__

lambda_app = typer.Typer(help="Render on AWS Lambda behind Step Functions.\n\n"
                         "Example: hfaction lambda render examples/gsap-intro --wait",
                         no_args_is_help=True)
stdout = Console(highlight=False, soft_wrap=True)
stderr = Console(stderr=True, highlight=False, soft_wrap=True)

StackOpt = Annotated[str, typer.Option("--stack-name", envvar="HFACTION_STACK",
                                       help="CloudFormation stack of the render stack.")]
RegionOpt = Annotated[str | None, typer.Option("--region", envvar="AWS_REGION",
                                               help="AWS region.")]
BucketOpt = Annotated[str | None, typer.Option(
    "--bucket", help="Render bucket (with --state-machine-arn: skip the stack lookup).")]
MachineOpt = Annotated[str | None, typer.Option(
    "--state-machine-arn", help="Render state machine (e.g. from a CDK stack).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON.")]
PresignOpt = Annotated[int, typer.Option(
    "--presign-expiry", help="Seconds the MP4 and poster links stay valid (at most 7 days; "
    "never longer than the credentials that sign them).")]


def _facade(region: str | None) -> Any:
    from hfaction.aws.facade import AwsClients, AwsFacade

    return AwsFacade(AwsClients.create(region))


def _stack(facade: Any, stack_name: str, bucket: str | None, machine: str | None) -> Any:
    from hfaction.aws.facade import StackInfo

    if bucket and machine:
        return StackInfo(name=stack_name, bucket=bucket, state_machine_arn=machine,
                         function_arn="")
    stack = facade.stack(stack_name)
    if stack.version and stack.version != __version__:
        stderr.print(f"warning: stack {stack_name} was deployed by hfaction {stack.version}, "
                     f"this is {__version__}; update it with 'hfaction lambda deploy "
                     f"--stack-name {stack_name}'")
    return stack


@lambda_app.command()
def deploy(
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    concurrency: Annotated[int, typer.Option("--concurrency", help="Chunks rendered at once.")
                           ] = 8,
    memory: Annotated[int, typer.Option("--memory", help="Function memory in MB.")] = 10240,
    architecture: Annotated[str, typer.Option("--architecture", help="x86_64 or arm64.")
                            ] = "x86_64",
    image_uri: Annotated[str | None, typer.Option(
        "--image-uri", help="An already pushed image; skips building.")] = None,
    only_if_outdated: Annotated[bool, typer.Option(
        "--only-if-outdated", help="Do nothing when the stack already runs this hfaction "
        "version with these settings.")] = False,
    json_output: JsonOpt = False,
) -> None:
    """Deploy or update the render stack (idempotent) with SAM.

    Example: hfaction lambda deploy --stack-name video --region eu-west-1 --concurrency 16
    """
    from hfaction.aws.deploy import DeployOptions, current_stack, execute_deploy, plan_deploy

    facade = _facade(region)
    plan_ = plan_deploy(DeployOptions(stack_name=stack_name, region=region,
                                      concurrency=concurrency, memory=memory,
                                      architecture=architecture, image_uri=image_uri), facade)
    for note in plan_.notes:
        stderr.print(f"note: {note}")
    stack = current_stack(plan_, facade) if only_if_outdated else None
    if stack is not None:
        stderr.print(f"stack {stack_name} is up to date (hfaction {stack.version}); not "
                     "deploying")
    else:
        stack = execute_deploy(plan_, facade,
                               on_note=lambda note: stderr.print(f"note: {note}"))
    if json_output:
        stdout.print_json(json.dumps(stack.to_dict()))
        return
    stdout.print(f"stack {stack.name} ready: bucket {stack.bucket}, state machine "
                 f"{stack.state_machine_arn}")


@lambda_app.command()
def destroy(stack_name: StackOpt = "hfaction", region: RegionOpt = None) -> None:
    """Remove the function, state machine and image repository (the bucket is kept).

    Example: hfaction lambda destroy --stack-name video
    """
    from hfaction.aws.deploy import destroy as destroy_stack

    stack = destroy_stack(_facade(region), stack_name)
    stdout.print(f"removed stack {stack_name}; bucket {stack.bucket} and its renders are kept "
                 f"(remove it with 'aws s3 rb s3://{stack.bucket} --force')")


sites_app = typer.Typer(help="Projects uploaded once, by content.\n\n"
                        "Example: hfaction lambda sites create examples/gsap-intro",
                        no_args_is_help=True)
lambda_app.add_typer(sites_app, name="sites")


@sites_app.command("create")
def sites_create(
    project: Annotated[Path, typer.Argument(help="Project folder holding index.html.")],
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
) -> None:
    """Upload a project under its content address and print the site id.

    Example: hfaction lambda sites create examples/gsap-intro
    """
    from hfaction.aws.renders import create_site

    facade = _facade(region)
    stack = _stack(facade, stack_name, bucket, state_machine_arn)
    site = create_site(facade, stack.bucket, project)
    stderr.print(f"{'uploaded' if site.uploaded else 'unchanged, not uploaded'}: "
                 f"{site.files} files")
    stdout.print(site.site_id)


def _print_progress(current: Any) -> None:
    total = current.chunks_total if current.chunks_total is not None else "?"
    frames = current.frames_total if current.frames_total is not None else "?"
    stderr.print(f"{current.status.lower()}: chunks {current.chunks_done}/{total} done, "
                 f"{current.chunks_in_flight} in flight, frames {current.frames_done}/{frames}, "
                 f"{current.elapsed_s:.0f}s, cost ${current.cost.total:.4f}")


@lambda_app.command()
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
    fps: Annotated[str | None, typer.Option("--fps", help="Frame rate override.")] = None,
    quality: Annotated[str, typer.Option("--quality", help="draft, standard or high.")
                       ] = "standard",
    crf: Annotated[int | None, typer.Option("--crf", help="x264 CRF override.")] = None,
    chunk_size: Annotated[int | None, typer.Option("--chunk-size", help="Frames per chunk.")
                          ] = None,
    var: Annotated[list[str] | None, typer.Option("--var", help="ID=VALUE; repeatable.")
                   ] = None,
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
    json_output: JsonOpt = False,
    presign_expiry: PresignOpt = 3600,
    strict_fonts: Annotated[bool, typer.Option(
        "--strict-fonts", envvar="HFACTION_STRICT_FONTS",
        help="Fail when a machine font (sans-serif, Arial, ...) is named first.")] = False,
) -> None:
    """Render a project on Lambda; prints the render id, or waits with --wait.

    Example: hfaction lambda render examples/gsap-intro --wait -o intro.mp4
    """
    from hfaction.aws import renders
    from hfaction.cli import _variables
    from hfaction.errors import InvalidOption

    if (project is None) == (site_id is None):
        raise InvalidOption("give either a project folder or --site-id")
    renders.check_presign_expiry(presign_expiry)
    facade = _facade(region)
    stack = _stack(facade, stack_name, bucket, state_machine_arn)
    if project is not None:
        site_id = renders.create_site(facade, stack.bucket, project).site_id
    assert site_id is not None
    options = {"fps": fps, "quality": quality, "crf": crf, "chunk_size": chunk_size,
               "variables": _variables(var, None) or None,
               "parallelism": int(stack.parameters.get("Concurrency", "8") or 8),
               "strict_fonts": strict_fonts or None}
    render_id = renders.start_render(facade, stack, site_id,
                                     {k: v for k, v in options.items() if v is not None},
                                     output_key=output_key)
    if not (wait or output):
        stdout.print(render_id)
        return
    stderr.print(f"render {render_id} started")
    # With --json, progress lines still go to stderr (CI logs) and the result, failed or
    # not, to stdout, so a job summary can report a failure too.
    done = renders.wait(facade, stack, render_id, on_progress=_print_progress,
                        presign_expiry_s=presign_expiry, raise_on_failure=False)
    for warning in done.warnings:
        stderr.print(f"warning: {warning}", markup=False)
    if json_output:
        stdout.print_json(json.dumps(done.to_dict()))
    renders.raise_if_failed(done)
    if output is not None and done.output_uri:
        key = done.output_uri.split("/", 3)[3]
        facade.download_file(stack.bucket, key, output)
    if json_output:
        if output is not None:
            stderr.print(f"downloaded {output}")
        return
    stdout.print(f"done: {done.output_uri} ({done.frames_total} frames, "
                 f"{done.elapsed_s:.0f}s, ${done.cost.total:.4f}: Lambda "
                 f"${done.cost.lambda_total:.4f} + Step Functions "
                 f"${done.cost.step_functions:.4f})")
    if output is not None:
        stdout.print(f"downloaded {output}")


@lambda_app.command()
def progress(
    render_id: Annotated[str, typer.Argument(help="Render id from 'lambda render'.")],
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
    json_output: JsonOpt = False,
    presign_expiry: PresignOpt = 3600,
) -> None:
    """Show a render's status, chunks, frames, cost and output link.

    Example: hfaction lambda progress hf-20261127-101500-1a2b3c4d --json
    """
    from hfaction.aws import renders

    facade = _facade(region)
    current = renders.progress(facade, _stack(facade, stack_name, bucket, state_machine_arn),
                               render_id,
                               presign_expiry_s=renders.check_presign_expiry(presign_expiry))
    if json_output:
        stdout.print_json(json.dumps(current.to_dict()))
        return
    _print_progress(current)
    cost = current.cost
    stdout.print(f"cost: Lambda ${cost.lambda_total:.4f}, Step Functions "
                 f"${cost.step_functions:.4f}, total ${cost.total:.4f} "
                 f"(not included: {cost.to_dict()['not_included']})")
    for error in current.errors:
        where = f"chunk {error.index}: " if error.index is not None else ""
        stdout.print(f"error: {where}{error.code}: {error.message}")
    if current.output_uri:
        stdout.print(f"output: {current.output_uri}\nlink: {current.output_url}")


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
    from hfaction.aws.s3uri import check_cleanup_prefix

    checked = check_cleanup_prefix(prefix)
    facade = _facade(region)
    stack = _stack(facade, stack_name, bucket, state_machine_arn)
    deleted = facade.delete_prefix(stack.bucket, checked)
    stdout.print(f"deleted {deleted} objects under s3://{stack.bucket}/{checked}")


@lambda_app.command()
def cancel(
    render_id: Annotated[str, typer.Argument(help="Render id to stop.")],
    stack_name: StackOpt = "hfaction",
    region: RegionOpt = None,
    bucket: BucketOpt = None,
    state_machine_arn: MachineOpt = None,
) -> None:
    """Stop a running render and say what it cost so far.

    Example: hfaction lambda cancel hf-20261127-101500-1a2b3c4d
    """
    from hfaction.aws import renders

    facade = _facade(region)
    current = renders.cancel(facade, _stack(facade, stack_name, bucket, state_machine_arn),
                             render_id)
    stdout.print(f"cancelled {render_id}; cost so far ${current.cost.total:.4f}")
