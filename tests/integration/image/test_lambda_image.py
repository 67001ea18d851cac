"""The Lambda container image, run the way Lambda runs it.

Builds the image with scripts/build-image.sh (podman, a debootstrapped Debian base),
then runs it with a read-only root filesystem, /tmp as the only writable path, no
capabilities and an unprivileged user id that has no /etc/passwd entry (Lambda
picks its own and ignores USER), behind the official Runtime Interface Emulator
(shipped in the aws-sam-cli wheel), against S3 emulated by a moto server. A whole
render goes through the real invoke API: plan, every chunk, assemble.

Skips, naming them, when podman, runc or debootstrap cannot be installed; CI sets
HFACTION_REQUIRE_TOOLS=1 so that this fails instead (the fixtures are in conftest.py).
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FIXTURES
from tests.integration.conftest import decode_gray, read_bits
from tests.integration.image.conftest import BUCKET, BuiltImage, build_image, rie_binary
from tests.support.lambda_image import Function, Podman, S3Server, lambda_container, upload_site

CHUNK_SIZE = 20


@pytest.fixture(scope="module")
def image(podman: Podman) -> BuiltImage:
    return build_image(podman, os.environ.get("HFACTION_BASE_IMAGE",
                                              "localhost/debian:bookworm-slim"))


@pytest.fixture(scope="module")
def rie() -> Path:
    return rie_binary()


@pytest.fixture(scope="module")
def function(podman: Podman, image: BuiltImage, rie: Path, s3: S3Server) -> Iterator[Function]:
    with lambda_container(podman, image.tag, image.config, rie, endpoint=s3.endpoint,
                          bucket=BUCKET, memory_mb=2048,
                          name_prefix="hfaction-lambda-test") as fn:
        yield fn


def _ok(result: dict[str, Any], what: str, fn: Function) -> dict[str, Any]:
    assert "errorType" not in result, f"{what} failed: {result}\n{fn.logs()}"
    return result


# ---- tests ---------------------------------------------------------------------------

def test_image_runs_as_lambda_does(image: BuiltImage) -> None:
    config = image.config
    assert config.get("User") not in (None, "", "root", "0", "0:0")
    assert config["Entrypoint"] == ["python", "-m", "awslambdaric"]
    assert config["Cmd"] == ["app.handler"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HFACTION_BROWSER"] == "/usr/lib/chromium/chromium-headless-shell"
    assert env["HOME"] == "/tmp"
    # Lambda's limit on uncompressed image size is 10 GB.
    assert image.size_bytes < 10 * 1000**3


def test_render_through_the_invoke_api(function: Function, s3: S3Server, image: BuiltImage,
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    render_id = f"render-{uuid.uuid4().hex[:8]}"
    site = (FIXTURES / "frame-index").resolve()
    site_id = upload_site(s3.client, BUCKET, site)

    report: list[str] = []
    planned, seconds = function.invoke({
        "action": "plan", "bucket": BUCKET, "render_id": render_id, "site_id": site_id,
        "options": {"chunk_size": CHUNK_SIZE}})
    _ok(planned, "plan", function)
    report.append(f"plan: {seconds:.1f} s {planned['invocation']}")
    assert planned["frames"] == 60
    assert planned["chunk_count"] == len(planned["chunks"]) == 60 // CHUNK_SIZE
    assert {"download", "plan", "upload"} <= set(planned["invocation"]["timings"])

    chunks = []
    for chunk in planned["chunks"]:
        result, seconds = function.invoke({
            "action": "render_chunk", "bucket": BUCKET, "render_id": render_id,
            "plan_key": planned["plan_key"], "plan_hash": planned["plan_hash"],
            "index": chunk["index"]})
        _ok(result, f"chunk {chunk['index']}", function)
        report.append(f"chunk {chunk['index']}: {seconds:.1f} s {result['invocation']}")
        assert result["frames"] == chunk["end"] - chunk["start"]
        assert {"download", "launch", "load", "capture", "encode", "upload"} <= set(
            result["invocation"]["timings"])
        chunks.append({key: result[key] for key in ("index", "key", "start", "end", "frames")})

    assembled, seconds = function.invoke({
        "action": "assemble", "bucket": BUCKET, "render_id": render_id,
        "plan_key": planned["plan_key"], "chunks": chunks,
        "output_key": planned["output_key"]})
    _ok(assembled, "assemble", function)
    report.append(f"assemble: {seconds:.1f} s {assembled['invocation']}")
    assert assembled["frames"] == planned["frames"]
    assert {"download", "assemble", "upload"} <= set(assembled["invocation"]["timings"])

    out = tmp_path / "out.mp4"
    s3.client.download_file(BUCKET, planned["output_key"], str(out))
    probed = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames",
         "-show_entries", "stream=nb_read_frames,width,height", "-of", "json", str(out)],
        capture_output=True, text=True, check=True).stdout
    stream = json.loads(probed)["streams"][0]
    assert int(stream["nb_read_frames"]) == planned["frames"]
    assert (stream["width"], stream["height"]) == (planned["width"], planned["height"])
    # Every frame shows its own index: the image's Chromium captured deterministically.
    assert [read_bits(frame) for frame in decode_gray(out)] == list(range(planned["frames"]))

    # Every invocation left its record for cost accounting.
    listed = s3.client.list_objects_v2(Bucket=BUCKET, Prefix=f"work/{render_id}/invocations/")
    assert len(listed.get("Contents", [])) == 2 + len(chunks)

    # /tmp after a render, while warm: invocation folders removed, and no fontconfig
    # cache written (the image's must stay valid, or every cold start rescans fonts).
    left = function.podman("exec", function.name, "find", "/tmp", "-mindepth", "1",
                           "-maxdepth", "2").stdout.split()
    assert not [path for path in left if path.startswith("/tmp/hfaction/invocation-")], left
    assert "/tmp/.cache/fontconfig" not in left, left

    with capsys.disabled():
        print(f"\nLambda image {image.tag}: {image.size_bytes / 1e6:.0f} MB; base image "
              f"{image.base_seconds:.0f} s, image build {image.build_seconds:.0f} s")
        for line in report:
            print(f"  {line}")
        print(f"  /tmp while warm: {' '.join(left)}")


def test_a_foreign_bucket_is_refused(function: Function) -> None:
    result, _ = function.invoke({
        "action": "plan", "bucket": "other-bucket", "render_id": "refused",
        "site_id": "anything"})
    assert result.get("errorType") == "S3_URI_NOT_ALLOWED", result
    assert json.loads(result["errorMessage"])["code"] == "S3_URI_NOT_ALLOWED"
