"""Media through the Lambda handler (S3 in moto, real browser and ffmpeg, in-process):
the frozen frames and the mix travel in the plan folder, chunks show the frames and
assemble on Lambda muxes the audio."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import boto3
from moto import mock_aws

from tests.integration.conftest import decode_gray, read_bits
from tests.integration.media_support import (
    RATE,
    bit_frames,
    decode_audio,
    events,
    stream_types,
    tone,
    write_video,
    write_wav,
)

BUCKET = "hfaction-test-media"
CONTEXT = SimpleNamespace(memory_limit_in_mb=10240, aws_request_id="req-media")
PAGE = """<!doctype html>
<html><head><style>html, body { margin: 0; background: #808080; }
video { position: absolute; left: 0; top: 0; width: 64px; height: 64px; }</style></head>
<body>
<div data-composition-id="main" data-width="64" data-height="64" data-duration="1"
     data-fps="30" data-no-timeline>
  <video id="clip" src="media/index.mp4" data-start="0" data-media-start="0.2"></video>
  <audio id="beep" src="media/beep.wav" data-start="0.5"></audio>
</div>
</body></html>
"""


def test_media_render_through_the_handler(tmp_path: Path) -> None:
    from hfaction.aws.facade import AwsClients, AwsFacade
    from hfaction.aws.handler import Deps, handle
    from hfaction.aws.renders import create_site

    project = tmp_path / "project"
    (project / "media").mkdir(parents=True)
    (project / "index.html").write_text(PAGE)
    write_video(project / "media" / "index.mp4", bit_frames(40, 64, 64))
    write_wav(project / "media" / "beep.wav", tone(0.3))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket=BUCKET)
        deps = Deps(s3=s3, bucket=BUCKET, work_root=tmp_path / "lambda-tmp")
        try:
            facade = AwsFacade(AwsClients(s3=s3, sfn=None, lambda_=None, cloudformation=None))
            site = create_site(facade, BUCKET, project)
            planned = handle({"action": "plan", "render_id": "m1", "bucket": BUCKET,
                              "site_id": site.site_id, "options": {"chunk_size": 15}},
                             CONTEXT, deps)
            assert planned["chunk_count"] == 2
            results = [handle({"action": "render_chunk", "render_id": "m1", "bucket": BUCKET,
                               "plan_key": planned["plan_key"],
                               "plan_hash": planned["plan_hash"], "index": chunk["index"]},
                              CONTEXT, deps)
                       for chunk in planned["chunks"]]
            handle({"action": "assemble", "render_id": "m1", "bucket": BUCKET,
                    "plan_key": planned["plan_key"], "chunks": results,
                    "output_key": "renders/m1/out.mp4"}, CONTEXT, deps)
            out = tmp_path / "out.mp4"
            s3.download_file(BUCKET, "renders/m1/out.mp4", str(out))
        finally:
            if deps.session is not None:
                deps.session.__exit__(None, None, None)
    assert stream_types(out) == ["video", "audio"]
    assert [read_bits(frame) for frame in decode_gray(out)] == [6 + k for k in range(30)]
    found = events(decode_audio(out)[:, 0], threshold=0.1)
    assert len(found) == 1 and abs(found[0][0] - 0.5) <= 0.005, found
    assert abs(found[0][1] - 0.8) <= 0.005, found
    assert abs(len(decode_audio(out)) / RATE - 1.0) <= 1024 / RATE
