"""``hfaction github ...``: the pieces the GitHub Action is made of, each a plain command.

Each command parses, calls one function of :mod:`hfaction.github`, and prints; they load
no AWS or render code until they run.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from hfaction.cli.options import RegionOpt

github_app = typer.Typer(help="GitHub Actions steps: OIDC credentials, job summary, PR "
                         "comment.\n\nExample: hfaction github oidc --role-to-assume "
                         "arn:aws:iam::123456789012:role/hfaction-render",
                         no_args_is_help=True)

ResultArg = Annotated[Path, typer.Argument(
    help="Result JSON written by 'hfaction lambda render --wait --json'.", show_default=False)]
PresignOpt = Annotated[int | None, typer.Option(
    "--presign-expiry", help="Seconds the link was presigned for (shown when the result has "
                             "no url_expires_at).")]


@github_app.command()
def oidc(
    role_to_assume: Annotated[str, typer.Option(
        "--role-to-assume", help="ARN of the IAM role whose trust policy admits this "
                                 "repository.", show_default=False)],
    region: RegionOpt = None,
    audience: Annotated[str, typer.Option("--audience", help="Audience of the OIDC token.")
                        ] = "sts.amazonaws.com",
    session_name: Annotated[str | None, typer.Option(
        "--session-name", help="Role session name. Default: hfaction-<run id>.")] = None,
    duration_seconds: Annotated[int, typer.Option(
        "--duration-seconds", help="Session length, 900 to 43200 (the role's maximum "
                                   "applies).")] = 3600,
) -> None:
    """Assume an AWS role with the job's OIDC token; export the credentials to later steps.

    Every secret is masked (::add-mask::) before anything else is printed; the credentials
    go to $GITHUB_ENV only. The job needs 'permissions: id-token: write'.

    Example: hfaction github oidc --role-to-assume arn:aws:iam::123456789012:role/hfaction
    --region eu-west-1
    """
    from hfaction.github import oidc as oidc_
    from hfaction.github import workflow
    from hfaction.github.summary import one_line

    credentials = oidc_.export_credentials(role_to_assume, region=region, audience=audience,
                                           session_name=session_name,
                                           duration_s=duration_seconds)
    workflow.emit(f"assumed {one_line(credentials.assumed_role_arn)} until "
                  f"{oidc_.iso_utc(credentials.expiration)}")


@github_app.command()
def report(
    result: ResultArg,
    project: Annotated[str | None, typer.Option(
        "--project", envvar="HFACTION_PROJECT_DIR",
        help="Project folder (relative to the checkout) for annotations.")] = None,
    presign_expiry: PresignOpt = None,
) -> None:
    """Write a render's job summary, step outputs and error annotations.

    Appends Markdown to $GITHUB_STEP_SUMMARY (printed when unset) and writes render-id,
    video-url, s3-uri, cost-usd, frames, duration-seconds and poster-url to $GITHUB_OUTPUT.
    Exits 0 once reported, also for a failed render (the render step carries the failure).

    Example: hfaction github report result.json --project examples/gsap-intro
    """
    from hfaction.github import summary

    parsed = summary.report(result, project=project, presign_expiry_s=presign_expiry)
    state = "succeeded" if parsed.succeeded else parsed.status.lower()
    sys.stderr.write(f"reported render {summary.one_line(parsed.render_id)} "
                     f"({summary.one_line(state)})\n")


@github_app.command()
def comment(
    result: ResultArg,
    repository: Annotated[str, typer.Option("--repository", help="OWNER/REPO.",
                                            show_default=False)],
    pull_request: Annotated[int, typer.Option("--pull-request", help="Pull request number.",
                                              show_default=False)],
    token: Annotated[str | None, typer.Option(
        "--token", envvar="GITHUB_TOKEN", show_envvar=True, show_default=False,
        help="Token with pull-requests: write (prefer the environment variable).")] = None,
    api_url: Annotated[str, typer.Option("--api-url", envvar="GITHUB_API_URL",
                                         help="GitHub REST API URL.")
                       ] = "https://api.github.com",
    title: Annotated[str | None, typer.Option(
        "--title", help="Heading text, e.g. the pull request's title (escaped).")] = None,
    key: Annotated[str, typer.Option(
        "--key", envvar="HFACTION_STACK",
        help="Marker key: one sticky comment per key (default: the stack name).")
                   ] = "hfaction",
    author: Annotated[str | None, typer.Option(
        "--author", help="Login whose comment is updated. Default: the token's user, else "
                         "the github-actions bot.")] = None,
    presign_expiry: PresignOpt = None,
    head_sha: Annotated[str | None, typer.Option(
        "--head-sha", help="The commit the preview rendered: no comment when the pull "
                           "request has moved on to another commit or closed (the step "
                           "output pull-request-state says which).")] = None,
    run_id: Annotated[int | None, typer.Option(
        "--run-id", envvar="GITHUB_RUN_ID", help="This workflow run's id: a comment written "
                                                  "by a later run is kept.")] = None,
) -> None:
    """Create or update the pull request's sticky preview comment (link, poster, cost).

    Example: hfaction github comment result.json --repository acme/videos --pull-request 7
    """
    from hfaction.github import comment as comment_
    from hfaction.github import summary

    message = comment_.post_preview(
        result, comment_.PreviewTarget(repository, pull_request, api_url, key, author),
        token=token, title=title, presign_expiry_s=presign_expiry, head_sha=head_sha,
        run_id=run_id, credentials_expire=summary.credentials_expiry())
    sys.stdout.write(message + "\n")


@github_app.command("deploy-image")
def deploy_image(
    stack_name: Annotated[str, typer.Option("--stack-name", help="The render stack.")
                          ] = "hfaction",
    region: RegionOpt = None,
    image_uri: Annotated[str, typer.Option(
        "--image-uri", help="The action's image-uri input: an image, 'build' for hfaction's "
                            "own, or empty.")] = "",
) -> None:
    """Print the --image-uri a deploy of the stack should use (empty: hfaction's own image):
    the one asked for, else the custom image the stack already runs.

    Example: hfaction github deploy-image --stack-name video --region eu-west-1
    """
    from hfaction.aws.renders import StackRef
    from hfaction.github.stackimage import check_image_uri, image_to_deploy

    if image_uri:
        check_image_uri(image_uri)  # before any AWS call
    image = image_to_deploy(StackRef(stack_name, region).facade(), stack_name, image_uri)
    if image and not image_uri:
        sys.stderr.write(f"keeping the stack's custom image {image} (image-uri: build "
                         "deploys hfaction's own)\n")
    sys.stdout.write(f"{image or ''}\n")
