"""The Lambda handler's real code path against S3 in moto: plan -> render_chunk ->
assemble with the real browser and ffmpeg, called in-process (the image itself is
exercised under the Lambda runtime emulator in tests/integration/image)."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from moto import mock_aws

from hfaction.aws.facade import AwsClients, AwsFacade
from hfaction.aws.handler import Deps, handle
from hfaction.aws.renders import create_site
from hfaction.render.local import render_local
from hfaction.render.options import RenderOptions
from tests.conftest import FIXTURES
from tests.integration.conftest import psnr_per_frame

BUCKET = "hfaction-test-renders"
CONTEXT = SimpleNamespace(memory_limit_in_mb=10240, aws_request_id="req-1")


@pytest.fixture
def s3() -> Any:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        yield client


@pytest.fixture
def deps(s3: Any, tmp_path: Path) -> Any:
    dependencies = Deps(s3=s3, bucket=BUCKET, work_root=tmp_path / "lambda-tmp")
    yield dependencies
    if dependencies.session is not None:
        dependencies.session.__exit__(None, None, None)


def facade_for(s3: Any) -> AwsFacade:
    return AwsFacade(AwsClients(s3=s3, sfn=None, lambda_=None, cloudformation=None))


def count_puts(s3: Any) -> list[str]:
    keys: list[str] = []
    s3.meta.events.register("provide-client-params.s3.PutObject",
                            lambda params, **_: keys.append(params["Key"]))
    return keys


def test_plan_chunks_assemble_through_the_handler_match_a_local_render(
        s3: Any, deps: Deps, tmp_path: Path) -> None:
    site = create_site(facade_for(s3), BUCKET, FIXTURES / "motion")
    planned = handle({"action": "plan", "render_id": "r1", "bucket": BUCKET,
                      "site_id": site.site_id, "options": {"chunk_size": 20}}, CONTEXT, deps)
    assert planned["frames"] == 60 and planned["chunk_count"] == 3
    assert planned["invocation"]["action"] == "plan"
    results = [handle({"action": "render_chunk", "render_id": "r1", "bucket": BUCKET,
                       "plan_key": planned["plan_key"], "plan_hash": planned["plan_hash"],
                       "index": chunk["index"]}, CONTEXT, deps)
               for chunk in planned["chunks"]]
    assert [r["key"] for r in results] == [f"work/r1/chunks/chunk-{i:05d}.mp4" for i in range(3)]
    timings = results[1]["invocation"]["timings"]
    assert {"download", "launch", "capture", "encode", "upload"} <= set(timings)
    # The browser launched once serves every warm invocation.
    assert results[2]["invocation"]["timings"]["launch"] < 0.05
    deps.session.__exit__(None, None, None)  # one sync Playwright per thread: the local
    deps.session = None                      # render below plans with its own browser
    final = handle({"action": "assemble", "render_id": "r1", "bucket": BUCKET,
                    "plan_key": planned["plan_key"], "chunks": results[::-1],
                    "output_key": "renders/r1/out.mp4"}, CONTEXT, deps)
    assert final["frames"] == 60
    remote = tmp_path / "remote.mp4"
    s3.download_file(BUCKET, "renders/r1/out.mp4", str(remote))
    local = tmp_path / "local.mp4"
    render_local(FIXTURES / "motion", local, RenderOptions(chunk_size=20), workers=1)
    psnr = psnr_per_frame(local, remote)
    assert len(psnr) == 60 and min(psnr) >= 50.0
    # /tmp is cleaned after every invocation; records for cost accounting are kept.
    assert list((tmp_path / "lambda-tmp").iterdir()) == []
    records = [key for key in (o["Key"] for o in s3.list_objects_v2(
        Bucket=BUCKET, Prefix="work/r1/invocations/")["Contents"])]
    assert len(records) == 5


def test_a_second_site_upload_of_an_unchanged_tree_puts_nothing(s3: Any) -> None:
    facade = facade_for(s3)
    first = create_site(facade, BUCKET, FIXTURES / "motion")
    puts = count_puts(s3)
    second = create_site(facade, BUCKET, FIXTURES / "motion")
    assert first.uploaded and not second.uploaded
    assert first.site_id == second.site_id
    assert puts == []
    other = create_site(facade, BUCKET, FIXTURES / "frame-index")
    assert other.site_id != first.site_id and puts  # a changed tree does upload


@pytest.mark.parametrize("event", [
    {"action": "plan", "render_id": "r2", "bucket": "someone-elses-bucket", "site_id": "x"},
    {"action": "render_chunk", "render_id": "r2", "bucket": BUCKET,
     "plan_key": "work/other-render/plan.tar", "index": 0},
    {"action": "render_chunk", "render_id": "../r2", "bucket": BUCKET,
     "plan_key": "work/r2/plan.tar", "index": 0},
    # Issue 13: where the state machine's renders may write (the preview one: previews/).
    {"action": "plan", "render_id": "r2", "bucket": BUCKET, "site_id": "x",
     "output_key": "renders/r2/out.mp4", "output_prefixes": "previews/"},
    {"action": "plan", "render_id": "r2", "bucket": BUCKET, "site_id": "x",
     "output_prefixes": "previews/,sites/"},
    {"action": "plan", "render_id": "r2", "bucket": BUCKET, "site_id": "x",
     "output_prefixes": ""},
    {"action": "plan", "render_id": "r2", "bucket": BUCKET, "site_id": "x",
     "output_prefixes": ["renders/"]},
    {"action": "assemble", "render_id": "r2", "bucket": BUCKET,
     "plan_key": "work/r2/plan.tar", "chunks": [], "output_key": "renders/r2/out.mp4",
     "output_prefixes": "previews/"},
    {"action": "assemble", "render_id": "r2", "bucket": BUCKET,
     "plan_key": "work/r2/plan.tar", "chunks": [], "output_prefixes": "previews/",
     "output_key": "previews/../renders/r2/out.mp4"},
], ids=["foreign-bucket", "other-plan", "climbing-id", "preview-plan-to-renders",
        "prefixes-beyond-outputs", "no-prefixes", "prefixes-not-text",
        "preview-assemble-to-renders", "preview-assemble-climbing"])
def test_locations_outside_the_render_are_refused(deps: Deps, event: dict[str, Any]) -> None:
    puts = count_puts(deps.s3)
    with pytest.raises(Exception) as caught:
        handle(event, CONTEXT, deps)
    assert type(caught.value).__name__ == "S3_URI_NOT_ALLOWED"
    assert json.loads(str(caught.value))["code"] == "S3_URI_NOT_ALLOWED"
    # Refused before any work: only the invocation record is written.
    assert [key for key in puts if not key.startswith("work/r2/invocations/")] == []


def test_the_default_output_key_is_under_the_state_machines_first_prefix(
        s3: Any, deps: Deps) -> None:
    """No output key: renders/ID/out.mp4 on the main state machine (and for an event
    without output_prefixes, from a definition older than them), previews/ID/out.mp4 on the
    preview one. The plan step checks the key before it reads the site."""
    from hfaction.aws.handler import _output_key

    assert _output_key({}, "r3") == "renders/r3/out.mp4"
    assert _output_key({"output_prefixes": "renders/,previews/"}, "r3") == \
        "renders/r3/out.mp4"
    assert _output_key({"output_prefixes": "previews/"}, "r3") == "previews/r3/out.mp4"
    assert _output_key({"output_prefixes": "renders/,previews/",
                        "output_key": "previews/pr-1/a.mp4"}, "r3") == "previews/pr-1/a.mp4"
    with pytest.raises(Exception) as caught:  # no site r3-site: the key was fine
        handle({"action": "plan", "render_id": "r3", "bucket": BUCKET, "site_id": "r3-site",
                "output_prefixes": "previews/"}, CONTEXT, deps)
    assert type(caught.value).__name__ == "INVALID_OPTION"


def test_hostile_plan_tarball_is_refused(s3: Any, deps: Deps, tmp_path: Path) -> None:
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        data = b"owned"
        info = tarfile.TarInfo("../../escape.txt")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    s3.put_object(Bucket=BUCKET, Key="work/r3/plan.tar", Body=buffer.getvalue())
    with pytest.raises(Exception) as caught:
        handle({"action": "render_chunk", "render_id": "r3", "bucket": BUCKET,
                "plan_key": "work/r3/plan.tar", "index": 0}, CONTEXT, deps)
    assert type(caught.value).__name__ == "UNSAFE_ARCHIVE"
    assert not list(tmp_path.rglob("escape.txt"))


def test_distributed_renders_refuse_other_frame_rates(s3: Any, deps: Deps) -> None:
    site = create_site(facade_for(s3), BUCKET, FIXTURES / "ntsc-odd")  # 30000/1001 fps
    with pytest.raises(Exception) as caught:
        handle({"action": "plan", "render_id": "r4", "bucket": BUCKET,
                "site_id": site.site_id}, CONTEXT, deps)
    assert type(caught.value).__name__ == "INVALID_FPS"
    assert "24, 30, 60" in str(caught.value)


def test_plan_tarballs_are_checked_without_tarfile_filters_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Debian bookworm's Python 3.11.2 (the image's) has no extraction filters.
    import io
    import tarfile

    from hfaction.aws import transport
    from hfaction.errors import UnsafeArchive

    monkeypatch.setattr(transport, "_HAS_FILTERS", False)
    for name, kind in (("../up.txt", tarfile.REGTYPE), ("/abs.txt", tarfile.REGTYPE),
                       ("link", tarfile.SYMTYPE)):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w") as archive:
            info = tarfile.TarInfo(name)
            info.type = kind
            info.linkname = "/etc/passwd" if kind == tarfile.SYMTYPE else ""
            info.size = 0
            archive.addfile(info, io.BytesIO(b""))
        path = tmp_path / "bad.tar"
        path.write_bytes(buffer.getvalue())
        with pytest.raises(UnsafeArchive):
            transport.unpack_to(path, tmp_path / "out")
    good = tmp_path / "plan"
    (good / "project").mkdir(parents=True)
    (good / "project" / "index.html").write_text("<p>hi</p>")
    packed = tmp_path / "good.tar"
    packed.write_bytes(transport.pack_dir(good))
    transport.unpack_to(packed, tmp_path / "unpacked")
    assert (tmp_path / "unpacked/project/index.html").read_text() == "<p>hi</p>"
